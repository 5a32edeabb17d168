//! AWS's limits on the local moto, seen through the real SDK clients: each test makes the
//! request AWS refuses and checks AWS's error (moto 5.2.5 alone accepts it, or refuses it
//! differently). `infra/python/moto_local/{sqs,dynamodb}_limits.py` enforce them.

mod dynamodb;
mod sqs;

/// A unique resource-name prefix: the suite shares one moto.
fn prefix() -> String {
    format!("l{}-", &uuid::Uuid::new_v4().simple().to_string()[..10])
}
