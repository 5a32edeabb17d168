//! Plays the EventBridge schedule: invokes the scheduled function every interval with
//! EventBridge's scheduled event (its `time` on the functions' clock).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::watch;

use crate::clock::LocalClock;
use crate::function::Function;

/// Which rule fires, for the event's `resources`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub arn: String,
    pub region: String,
}

/// Ticks every `every` (first tick after one interval) until `shutdown` flips to true.
pub async fn run(
    function: Arc<Function>,
    rule: Rule,
    clock: LocalClock,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let id = format!("{:032x}", rand::random::<u128>());
                let event = crate::handlers::scheduled_event(&rule.arn, &rule.region, &id, clock.now_ms());
                if let Err(err) = function.invoke(Bytes::from(event.to_string())).await {
                    tracing::warn!(function = %function.name(), error = %err, "scheduled run failed; the next one catches up");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
