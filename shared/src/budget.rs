//! Time budgets from the invocation. Lambda gives each invocation a deadline and kills it there;
//! SQS then redelivers the whole batch, finished records included. So a consumer starts a record
//! only while the time left covers what one record takes, and reports the rest as batch item
//! failures: a slow dependency slows the function down instead of making it redo batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ConfigError, Env};

/// Time kept after the last record for the handler's own ending (the sender's visibility changes,
/// the runtime posting the response).
pub const FINISH_RESERVE: Duration = Duration::from_secs(1);

/// When this invocation must have answered, and when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    began: Instant,
    at: Instant,
}

impl Deadline {
    /// A deadline `length` from now (the local runner: now + the template's `Timeout`; tests).
    pub fn after(length: Duration) -> Self {
        let began = Instant::now();
        Self {
            began,
            at: began + length,
        }
    }

    /// From Lambda's context: `deadline_ms` is wall-clock milliseconds since the epoch, read
    /// against `now_ms` from the same clock, and kept as a monotonic instant from then on.
    pub fn from_epoch_ms(deadline_ms: u64, now_ms: i64) -> Self {
        let left = i64::try_from(deadline_ms)
            .unwrap_or(i64::MAX)
            .saturating_sub(now_ms);
        Self::after(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }

    /// The deadline of the invocation Lambda is running now.
    pub fn of(context: &lambda_runtime::Context) -> Self {
        Self::from_epoch_ms(context.deadline, crate::now_ms())
    }

    /// Time left until the deadline (zero once past it).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The whole invocation, from when the handler began to the deadline: the function's timeout
    /// as this invocation sees it, read from the context rather than copied from the template.
    pub fn length(&self) -> Duration {
        self.at.saturating_duration_since(self.began)
    }

    /// The deadline itself (the local runner stops the invocation there, as Lambda does).
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// The last moment a record may still run: [`FINISH_RESERVE`] before the deadline (never
    /// before the invocation began).
    pub fn cutoff(&self) -> Instant {
        self.at
            .checked_sub(FINISH_RESERVE)
            .unwrap_or(self.began)
            .max(self.began)
    }
}

/// How long one record is expected to take: the largest of a configured floor and a decaying
/// maximum of the records measured in this execution environment.
///
/// Measured, because a record's time is mostly the store's latency now: a fixed figure is either
/// wasteful on a fast store or too short on a slow one. A maximum, so the first slow record raises
/// the estimate at once; decaying (by an eighth per record), so it relaxes once the store recovers.
/// It lives in the function's state, so it carries across invocations of one environment.
#[derive(Debug)]
pub struct RecordBudget {
    floor: Duration,
    observed_ms: AtomicU64,
}

/// `MIN_RECORD_BUDGET_MS` (default 1000): a record's expected time before anything was measured,
/// and its lower bound. The one parser of this setting, for every consumer's `Config`.
pub fn min_record_budget(env: &Env) -> Result<Duration, ConfigError> {
    let ms: u64 = env.parsed_or("MIN_RECORD_BUDGET_MS", 1000)?;
    if ms == 0 {
        return Err(ConfigError::Invalid {
            name: "MIN_RECORD_BUDGET_MS",
            value: "0".into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

impl RecordBudget {
    pub fn new(floor: Duration) -> Self {
        Self {
            floor,
            observed_ms: AtomicU64::new(0),
        }
    }

    /// The time one more record is expected to take.
    pub fn per_record(&self) -> Duration {
        self.floor.max(Duration::from_millis(
            self.observed_ms.load(Ordering::Relaxed),
        ))
    }

    /// Whether a record started now would end before the deadline with [`FINISH_RESERVE`] to spare.
    pub fn covers_one_more(&self, deadline: &Deadline) -> bool {
        deadline.remaining() >= self.per_record() + FINISH_RESERVE
    }

    /// Takes one record's measured time into the estimate.
    pub fn observe(&self, took: Duration) {
        let took = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .observed_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(took.max(old - old / 8))
            });
    }
}

impl Default for RecordBudget {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_context_deadline_becomes_the_time_left() {
        let d = Deadline::from_epoch_ms(1_000_030_000, 1_000_000_000);
        assert!(d.remaining() <= Duration::from_secs(30));
        assert!(d.remaining() > Duration::from_secs(29));
        assert_eq!(d.length(), Duration::from_secs(30));
    }

    #[test]
    fn a_deadline_already_past_leaves_no_time() {
        let d = Deadline::from_epoch_ms(1_000, 5_000);
        assert_eq!(d.remaining(), Duration::ZERO);
        assert_eq!(d.length(), Duration::ZERO);
    }

    #[test]
    fn before_any_measure_the_floor_is_the_estimate() {
        let b = RecordBudget::new(Duration::from_millis(700));
        assert_eq!(b.per_record(), Duration::from_millis(700));
        b.observe(Duration::from_millis(100));
        assert_eq!(
            b.per_record(),
            Duration::from_millis(700),
            "never below the floor"
        );
    }

    #[test]
    fn a_slow_record_raises_the_estimate_at_once_and_it_decays_as_records_speed_up() {
        let b = RecordBudget::new(Duration::from_millis(100));
        b.observe(Duration::from_millis(8000));
        assert_eq!(b.per_record(), Duration::from_millis(8000));
        b.observe(Duration::from_millis(200));
        assert_eq!(b.per_record(), Duration::from_millis(7000));
        for _ in 0..40 {
            b.observe(Duration::from_millis(200));
        }
        assert_eq!(b.per_record(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn one_more_record_is_covered_only_with_its_budget_and_the_reserve_left() {
        let b = RecordBudget::new(Duration::from_secs(2));
        let d = Deadline::after(Duration::from_secs(10));
        assert!(b.covers_one_more(&d));
        tokio::time::sleep(Duration::from_secs(7)).await; // 3 s left = 2 s + 1 s reserve
        assert!(b.covers_one_more(&d));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!b.covers_one_more(&d));
        assert_eq!(d.length(), Duration::from_secs(10));
    }

    #[test]
    fn the_floor_is_read_from_min_record_budget_ms_and_zero_is_refused() {
        let env = |v: &str| {
            Env::from_map(BTreeMap::from([(
                "MIN_RECORD_BUDGET_MS".to_owned(),
                v.to_owned(),
            )]))
        };
        assert_eq!(
            min_record_budget(&env("2500")).expect("valid"),
            Duration::from_millis(2500)
        );
        assert!(min_record_budget(&env("0")).is_err());
        assert!(min_record_budget(&env("soon")).is_err());
        let unset = min_record_budget(&Env::from_map(BTreeMap::new())).expect("default");
        assert_eq!(unset, Duration::from_secs(1));
    }
}
