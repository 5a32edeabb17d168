//! The wa-crm-bridge library: domain rules (pure), ports (narrow async traits) and adapters
//! (DynamoDB, SQS, Secrets Manager, Graph API) shared by every function.

pub mod aws;
pub mod blob;
pub mod budget;
pub mod config;
pub mod consent;
#[cfg(feature = "contract")]
pub mod contract;
pub mod conversation;
pub mod delivery;
pub mod due;
pub mod events;
pub mod identity;
pub mod inbound;
pub mod lenient;
pub mod local_clock;
pub mod media;
pub mod metrics;
pub mod outbox;
pub mod privacy;
pub mod queue;
pub mod rating;
pub mod redact;
pub mod retention;
pub mod secrets;
pub mod signature;
pub mod sqs_consumer;
pub mod store;
pub mod telemetry;
pub mod testkit;
pub mod tls;
pub mod visibility;
pub mod window;

/// Milliseconds since the Unix epoch: the system clock, plus the local stack's time travel
/// ([`local_clock`]; always zero in Lambda).
pub fn now_ms() -> i64 {
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    system.saturating_add(local_clock::offset_ms())
}
