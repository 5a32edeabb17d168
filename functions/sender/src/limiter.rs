//! Meta's send limits, held across every concurrent sender invocation because the shared state
//! lives in DynamoDB (see `docs/crm-contract.md`, "Rate limits").
//!
//! Throughput: a send clock per phone number, reserved in blocks ([`throughput`]). Pair rate: a
//! token bucket per recipient (capacity `burst`, one token per `interval`), read and written
//! back with a version condition.

pub mod throughput;

use std::sync::Arc;
use std::time::Duration;

use shared::store::{Expect, StoreError};

use crate::store::{PairBucket, SenderStore};
use throughput::{Clock, SendClock, SystemClock};

/// Send times a record may take when it keeps waking too late for them.
const WAKE_ATTEMPTS: usize = 4;
/// How often a contended pair bucket is re-read before the command is deferred.
const BUCKET_ATTEMPTS: usize = 5;

/// The configured limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Messages per second per phone number.
    pub per_second: u32,
    /// How far ahead a message may reserve its send time (then it sleeps until it).
    pub horizon: Duration,
    /// Pair-rate bucket capacity (Meta allows bursts of about 45).
    pub pair_burst: f64,
    /// Time to earn one pair-rate token back (Meta: about 6 s).
    pub pair_interval_ms: i64,
}

impl Limits {
    pub fn new(
        per_second: u32,
        pair_burst: u32,
        pair_interval: Duration,
        horizon: Duration,
    ) -> Self {
        Self {
            per_second,
            horizon,
            pair_burst: f64::from(pair_burst.max(1)),
            pair_interval_ms: i64::try_from(pair_interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
        }
    }

    /// The sustained rate the send clock allows: 1 s over the spacing of two sends.
    pub fn sustained_per_second(&self) -> f64 {
        1_000_000.0 / throughput::spacing_us(self.per_second) as f64
    }
}

/// The limiter of one function instance: the limits and this instance's side of the send clocks.
#[derive(Debug)]
pub struct Limiter {
    pub limits: Limits,
    clock: SendClock,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self::with_clock(limits, Arc::new(SystemClock))
    }

    /// A limiter on another clock (tests run many instances in virtual time).
    pub fn with_clock(limits: Limits, clock: Arc<dyn Clock>) -> Self {
        let horizon_us = i64::try_from(limits.horizon.as_micros()).unwrap_or(i64::MAX);
        Self {
            clock: SendClock::new(limits.per_second, horizon_us, clock),
            limits,
        }
    }

    /// Waits until one message to `phone_number_id` may go: `true` then, `false` when the
    /// number is booked beyond the horizon (defer the command). A record woken too late for its
    /// time (a busy machine) does not send on it; it takes another.
    pub async fn admit_now<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
    ) -> Result<bool, StoreError> {
        for _ in 0..WAKE_ATTEMPTS {
            let Some(at) = self.clock.reserve(store, phone_number_id).await? else {
                return Ok(false);
            };
            let wait = at - self.clock.now_us();
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
            }
            if self.clock.on_time(at) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A command the number cannot send within the horizon takes a place in the number's waiting
    /// line: how long until its turn, sized by everything deferred before it (the backlog), not a
    /// fixed spin. Commands come back spaced at the send rate, so each finds a send time.
    pub async fn line_up<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
    ) -> Result<Duration, StoreError> {
        let now = self.clock.now_us();
        let horizon = i64::try_from(self.limits.horizon.as_micros()).unwrap_or(i64::MAX);
        let spacing = throughput::spacing_us(self.limits.per_second);
        let turn = store
            .take_line_place(phone_number_id, now.saturating_add(horizon), spacing)
            .await?;
        Ok(Duration::from_micros(
            turn.saturating_sub(now).max(0).unsigned_abs(),
        ))
    }

    /// Conditional writes the throughput limiter made so far (bench, metrics).
    pub fn throughput_writes(&self) -> u64 {
        self.clock.writes()
    }

    /// Send times reserved and dropped because they could only be handed out late.
    pub fn throughput_dropped(&self) -> u64 {
        self.clock.dropped()
    }

    /// Takes a pair-rate token for `recipient`: `Ok(())`, or how long until one is earned.
    pub async fn take_pair<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
        recipient: &str,
        now_ms: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        let l = &self.limits;
        for _ in 0..BUCKET_ATTEMPTS {
            let current = store.load_bucket(phone_number_id, recipient).await?;
            let (tokens, expect) = match &current {
                None => (l.pair_burst, Expect::Absent),
                Some(v) => (
                    refill(l, v.record.tokens, v.record.at_ms, now_ms),
                    Expect::Version(v.version),
                ),
            };
            if tokens < 1.0 {
                let wait_ms = ((1.0 - tokens) * l.pair_interval_ms as f64).ceil() as u64;
                return Ok(Err(Duration::from_millis(wait_ms.max(1))));
            }
            let next = bucket(phone_number_id, recipient, tokens - 1.0, now_ms, l);
            if store.save_bucket(&next, expect).await? {
                return Ok(Ok(()));
            }
        }
        Ok(Err(Duration::from_millis(200)))
    }

    /// After Meta's 131056: no message to `recipient` for `hold`, whichever sender sends it.
    pub async fn hold_pair<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
        recipient: &str,
        now_ms: i64,
        hold: Duration,
    ) -> Result<(), StoreError> {
        let l = &self.limits;
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        // Tokens that take `hold` to climb back to 1.
        let tokens = 1.0 - hold_ms as f64 / l.pair_interval_ms as f64;
        for _ in 0..BUCKET_ATTEMPTS {
            let expect = match store.load_bucket(phone_number_id, recipient).await? {
                None => Expect::Absent,
                Some(v) => Expect::Version(v.version),
            };
            let next = bucket(phone_number_id, recipient, tokens, now_ms, l);
            if store.save_bucket(&next, expect).await? {
                return Ok(());
            }
        }
        Ok(())
    }
}

fn refill(l: &Limits, tokens: f64, at_ms: i64, now_ms: i64) -> f64 {
    let elapsed = (now_ms - at_ms).max(0) as f64;
    (tokens + elapsed / l.pair_interval_ms as f64).min(l.pair_burst)
}

fn bucket(
    phone_number_id: &str,
    recipient: &str,
    tokens: f64,
    now_ms: i64,
    l: &Limits,
) -> PairBucket {
    let full_after_s =
        ((l.pair_burst - tokens).max(0.0) * l.pair_interval_ms as f64 / 1000.0) as i64;
    PairBucket {
        phone_number_id: phone_number_id.to_owned(),
        recipient: recipient.to_owned(),
        tokens,
        at_ms: now_ms,
        ttl: now_ms / 1000 + full_after_s + 86_400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::store::memory::MemoryStore;

    fn limiter(rate: u32) -> Limiter {
        Limiter::new(Limits::new(
            rate,
            3,
            Duration::from_secs(6),
            Duration::from_secs(2),
        ))
    }

    #[tokio::test]
    async fn pair_rate_allows_a_burst_then_one_per_interval() {
        let store = MemoryStore::new();
        let l = limiter(80);
        for _ in 0..3 {
            assert_eq!(l.take_pair(&store, "pn", "wa:1", 0).await.unwrap(), Ok(()));
        }
        let wait = l
            .take_pair(&store, "pn", "wa:1", 0)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(6));
        assert_eq!(l.take_pair(&store, "pn", "wa:2", 0).await.unwrap(), Ok(()));
        assert_eq!(
            l.take_pair(&store, "pn", "wa:1", 6_000).await.unwrap(),
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_hold_keeps_the_recipient_waiting() {
        let store = MemoryStore::new();
        let l = limiter(80);
        l.hold_pair(&store, "pn", "wa:1", 0, Duration::from_secs(16))
            .await
            .unwrap();
        let wait = l
            .take_pair(&store, "pn", "wa:1", 1_000)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(15));
    }
}
