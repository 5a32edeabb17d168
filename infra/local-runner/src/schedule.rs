//! Plays the EventBridge schedule: calls the scheduled function every interval with the time.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// A scheduled function (`run_once(&state, now)` behind it).
pub trait Scheduled: Send + Sync + 'static {
    fn tick(&self, now_ms: i64) -> impl Future<Output = Result<(), lambda_runtime::Error>> + Send;
}

/// Ticks every `every` (first tick after one interval) until `shutdown` flips to true.
pub async fn run<F: Scheduled>(
    f: std::sync::Arc<F>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(err) = f.tick(shared::now_ms()).await {
                    tracing::warn!(error = %err, "scheduled run failed; the next one catches up");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
