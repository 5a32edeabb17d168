//! Meta's send limits, held across every concurrent sender invocation because the counters live
//! in DynamoDB (see `docs/crm-contract.md`, "Rate limits").
//!
//! Throughput: time is cut into 100 ms slots; one item per (phone number, slot) counts the
//! messages admitted in it with a conditional `ADD` (no read, no lost update). A slot holds
//! `rate / 11` messages, so any sliding second — which touches at most 11 slots — sees at most
//! `rate` sends, even allowing for a slot's worth of network jitter (Meta and the simulator count
//! a sliding second). A message whose slot is in the future waits for it; beyond the horizon the
//! command is deferred. Pair rate: a token bucket per recipient (capacity `burst`, one token per
//! `interval`), read and written back with a version condition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::store::{Expect, StoreError};

use crate::store::{PairBucket, SenderStore};

/// Slot length of the throughput counters.
pub const SLOT_MS: i64 = 100;
const SLOTS_PER_SECOND: u32 = 10;
/// How often a contended pair bucket is re-read before the command is deferred.
const BUCKET_ATTEMPTS: usize = 5;

/// The configured limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Messages per second per phone number.
    pub per_second: u32,
    /// Messages one 100 ms slot may hold.
    pub per_slot: u32,
    /// How far ahead a message may reserve a slot (then it sleeps until the slot starts).
    pub horizon_slots: i64,
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
        let horizon_ms = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
        Self {
            per_second,
            per_slot: (per_second / (SLOTS_PER_SECOND + 1)).max(1),
            horizon_slots: (horizon_ms / SLOT_MS).max(1),
            pair_burst: f64::from(pair_burst.max(1)),
            pair_interval_ms: i64::try_from(pair_interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
        }
    }

    /// The sustained rate the slots allow (`per_slot` × 10).
    pub fn sustained_per_second(&self) -> u32 {
        self.per_slot * SLOTS_PER_SECOND
    }
}

/// The limiter of one function instance: the limits plus, per phone number, the first slot not
/// known to be full (so the records of one invocation do not each retry full slots).
#[derive(Debug)]
pub struct Limiter {
    pub limits: Limits,
    hints: Mutex<HashMap<String, i64>>,
    /// One reservation in flight per phone number per instance: concurrent records of one
    /// instance would otherwise all race for the same slot item and mostly lose.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            hints: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
        }
    }

    fn hint(&self, phone_number_id: &str) -> i64 {
        self.hints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(phone_number_id)
            .copied()
            .unwrap_or(0)
    }

    fn set_hint(&self, phone_number_id: &str, slot: i64) {
        let mut hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        let h = hints.entry(phone_number_id.to_owned()).or_insert(slot);
        *h = (*h).max(slot);
    }

    /// Reserves a throughput slot: `Some(ms)` is when the message may go (now or a slot start
    /// within the horizon), `None` when every slot in the horizon is full.
    pub async fn reserve<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let now_slot = now_ms.div_euclid(SLOT_MS);
        let mut slot = now_slot.max(self.hint(phone_number_id));
        while slot < now_slot + self.limits.horizon_slots {
            let ttl = (slot * SLOT_MS) / 1000 + 120;
            if store
                .take_slot(phone_number_id, slot, self.limits.per_slot, ttl)
                .await?
            {
                self.set_hint(phone_number_id, slot);
                return Ok(Some(now_ms.max(slot * SLOT_MS)));
            }
            slot += 1;
            self.set_hint(phone_number_id, slot);
        }
        Ok(None)
    }

    /// [`Limiter::reserve`] on the system clock, keeping only a slot that has not ended by the
    /// time DynamoDB answered (a late answer would send outside its slot and break the bound;
    /// the counted message is simply not used).
    pub async fn reserve_now<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let turn = Arc::clone(
            self.turns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(phone_number_id.to_owned())
                .or_default(),
        );
        let _turn = turn.lock().await;
        for _ in 0..4 {
            // Aim one slot ahead so DynamoDB's answer usually arrives before the slot starts.
            let aim = shared::now_ms() + SLOT_MS;
            let Some(at) = self.reserve(store, phone_number_id, aim).await? else {
                return Ok(None);
            };
            let slot_end = (at.div_euclid(SLOT_MS) + 1) * SLOT_MS;
            if shared::now_ms() < slot_end {
                return Ok(Some(at));
            }
        }
        Ok(None)
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
    use crate::store::MemorySenderStore;

    fn limiter(rate: u32) -> Limiter {
        Limiter::new(Limits::new(
            rate,
            3,
            Duration::from_secs(6),
            Duration::from_secs(2),
        ))
    }

    #[tokio::test]
    async fn never_admits_more_than_the_rate_in_any_sliding_second() {
        let store = MemorySenderStore::new();
        let l = limiter(80);
        assert_eq!(l.limits.per_slot, 7);
        let mut sends = Vec::new();
        let mut now = 1_000_000;
        for _ in 0..400 {
            if let Some(at) = l.reserve(&store, "pn", now).await.unwrap() {
                assert!(at >= now);
                sends.push(at);
            }
            now += 3; // a request every 3 ms: far more than 80/s
        }
        sends.sort_unstable();
        for (i, t) in sends.iter().enumerate() {
            let in_second = sends[i..].iter().take_while(|s| **s < t + 1000).count();
            assert!(in_second <= 80, "{in_second} sends in the second after {t}");
        }
        assert!(sends.len() > 50);
    }

    #[tokio::test]
    async fn gives_up_beyond_the_horizon() {
        let store = MemorySenderStore::new();
        let l = limiter(11); // one message per slot
        let mut admitted = 0;
        for _ in 0..30 {
            if l.reserve(&store, "pn", 0).await.unwrap().is_some() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 20, "2 s horizon of one-message slots");
    }

    #[tokio::test]
    async fn pair_rate_allows_a_burst_then_one_per_interval() {
        let store = MemorySenderStore::new();
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
        let store = MemorySenderStore::new();
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
