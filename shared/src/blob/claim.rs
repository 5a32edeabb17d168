//! Claim checks: an update too large for one queue message waits in the bucket, and the queue
//! carries its key (`shared::inbound::BufferedUpdate::stored`). The processor redeems it here.

use std::future::Future;
use std::pin::Pin;

use super::{BlobError, Blobs};

/// A boxed future, so the port stays object-safe.
pub type Redeemed<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>, BlobError>> + Send + 'a>>;

/// The one thing the processor asks of the bucket: a stored update's bytes, or `None` when no
/// object is at the key. Object-safe, so the processor's state holds it without a type
/// parameter of its own.
pub trait ClaimChecks: Send + Sync {
    fn redeem<'a>(&'a self, key: &'a str) -> Redeemed<'a>;
}

impl<B: Blobs> ClaimChecks for B {
    fn redeem<'a>(&'a self, key: &'a str) -> Redeemed<'a> {
        Box::pin(async move { Ok(self.get(key).await?.map(|blob| blob.bytes)) })
    }
}
