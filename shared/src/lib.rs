//! The wa-crm-bridge library: domain rules (pure), ports (narrow async traits) and adapters
//! (DynamoDB, SQS, Secrets Manager, Graph API) shared by every function.

pub mod aws;
pub mod budget;
pub mod config;
pub mod consent;
#[cfg(feature = "contract")]
pub mod contract;
pub mod delivery;
pub mod events;
pub mod identity;
pub mod inbound;
pub mod lenient;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod redact;
pub mod secrets;
pub mod signature;
pub mod sqs_consumer;
pub mod store;
pub mod telemetry;
pub mod testkit;
pub mod window;

/// Milliseconds since the Unix epoch: the system clock, plus the local stack's time travel
/// (always zero in Lambda).
pub fn now_ms() -> i64 {
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    system.saturating_add(TRAVELLED_MS.load(std::sync::atomic::Ordering::Relaxed))
}

static TRAVELLED_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Moves this process's [`now_ms`] forward: the local stack's time travel, so a test can see
/// what happens a day later (a command deferred by Meta's marketing cap) in seconds. Nothing in
/// the functions calls it; it affects every function of the process.
pub fn travel_in_time(by: std::time::Duration) {
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    TRAVELLED_MS.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
}
