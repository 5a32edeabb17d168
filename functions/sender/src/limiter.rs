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

/// What the limits say about one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send now: the recipient's pair token is taken and the number's send time has come.
    Go,
    /// The recipient earns a pair token only after this long; nothing was taken.
    PairWait(Duration),
    /// The number is booked beyond the horizon; nothing was taken.
    Booked,
    /// The number's next send time falls after the time the command may still start a send;
    /// nothing was taken (the time stays with this instance for its next record).
    TooLate,
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
    /// number is booked beyond the horizon. The throughput half of [`admit`](Self::admit), with
    /// no pair rate and no time limit (the bench).
    pub async fn admit_now<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
    ) -> Result<bool, StoreError> {
        let admission = self
            .admit(store, phone_number_id, None, 0, Duration::MAX)
            .await?;
        Ok(admission == Admission::Go)
    }

    /// Waits until one message to `recipient` (its pair-rate key; `None`: no pair rate) from
    /// `phone_number_id` may go, provided it can go `within` from now. Each limit is taken only
    /// once the other allows the send and its time falls within: the recipient's token is read
    /// first, the number's send time reserved, then the token taken and the time waited for. So
    /// a command deferred here (pair rate, throughput, too late) has spent neither; a send time
    /// it cannot use goes back to this instance's next record. A record woken too late for its
    /// time (a busy machine) does not send on it; it takes another with the token it holds (a
    /// token then spent without a send, if no other time comes).
    pub async fn admit<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
        recipient: Option<&str>,
        now_ms: i64,
        within: Duration,
    ) -> Result<Admission, StoreError> {
        // A send time is handed out up to LATE_HANDOUT_US late: it must still be in time then.
        let latest = self
            .clock
            .now_us()
            .saturating_add(i64::try_from(within.as_micros()).unwrap_or(i64::MAX))
            .saturating_sub(throughput::LATE_HANDOUT_US);
        let mut token = match recipient {
            Some(r) => match self.peek_pair(store, phone_number_id, r, now_ms).await? {
                Ok(peeked) => Some(peeked),
                Err(wait) => return Ok(Admission::PairWait(wait)),
            },
            None => None,
        };
        for _ in 0..WAKE_ATTEMPTS {
            let Some(at) = self.clock.reserve(store, phone_number_id).await? else {
                return Ok(Admission::Booked);
            };
            if at > latest {
                self.clock.give_back(phone_number_id, at).await;
                return Ok(Admission::TooLate);
            }
            if let Some(peeked) = token.take() {
                if let Err(wait) = self.take_peeked(store, peeked, now_ms).await? {
                    self.clock.give_back(phone_number_id, at).await;
                    return Ok(Admission::PairWait(wait));
                }
            }
            let wait = at - self.clock.now_us();
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
            }
            if self.clock.on_time(at) {
                return Ok(Admission::Go);
            }
        }
        Ok(Admission::Booked)
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
        for _ in 0..BUCKET_ATTEMPTS {
            match self
                .peek_pair(store, phone_number_id, recipient, now_ms)
                .await?
            {
                Err(wait) => return Ok(Err(wait)),
                Ok(take) => {
                    if store.save_bucket(&take.next, take.expect).await? {
                        return Ok(Ok(()));
                    }
                }
            }
        }
        Ok(Err(Duration::from_millis(200)))
    }

    /// Reads `recipient`'s bucket: a token is there (and what taking it writes), or how long
    /// until one is earned. Takes nothing.
    async fn peek_pair<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
        recipient: &str,
        now_ms: i64,
    ) -> Result<Result<PairTake, Duration>, StoreError> {
        let l = &self.limits;
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
        Ok(Ok(PairTake {
            next: bucket(phone_number_id, recipient, tokens - 1.0, now_ms, l),
            expect,
        }))
    }

    /// Writes a peeked token's take; if another sender moved the bucket since, takes afresh.
    async fn take_peeked<S: SenderStore>(
        &self,
        store: &S,
        peeked: PairTake,
        now_ms: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        if store.save_bucket(&peeked.next, peeked.expect).await? {
            return Ok(Ok(()));
        }
        let PairBucket {
            phone_number_id,
            recipient,
            ..
        } = peeked.next;
        self.take_pair(store, &phone_number_id, &recipient, now_ms)
            .await
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

/// A pair token seen in the bucket: the bucket with it taken, and the version it must still have.
#[derive(Debug)]
struct PairTake {
    next: PairBucket,
    expect: Expect,
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

    /// Virtual time (tokio's paused clock), so a time given back is still on time however busy
    /// the machine running the test.
    #[derive(Debug)]
    struct Paused(tokio::time::Instant);

    impl throughput::Clock for Paused {
        fn now_us(&self) -> i64 {
            1_800_000_000_000_000 + self.0.elapsed().as_micros() as i64
        }
    }

    fn paused_limiter() -> Limiter {
        Limiter::with_clock(
            limiter(80).limits,
            Arc::new(Paused(tokio::time::Instant::now())),
        )
    }

    /// The in-memory store where another sender takes `recipient`'s last token while this one
    /// reserves its send time.
    struct TakenMeanwhile {
        inner: MemoryStore,
        other: Limiter,
    }

    impl SenderStore for TakenMeanwhile {
        async fn load_attempt(
            &self,
            id: &str,
        ) -> Result<Option<shared::store::Versioned<crate::store::Attempt>>, StoreError> {
            self.inner.load_attempt(id).await
        }
        async fn save_attempt(
            &self,
            a: &crate::store::Attempt,
            e: Expect,
        ) -> Result<bool, StoreError> {
            self.inner.save_attempt(a, e).await
        }
        async fn take_send_span(
            &self,
            pn: &str,
            take: crate::store::ClockTake,
            span_us: i64,
        ) -> Result<Result<i64, Option<i64>>, StoreError> {
            let taken = self.other.take_pair(&self.inner, pn, "wa:1", 0).await?;
            assert_eq!(taken, Ok(()), "the other sender took the last token");
            self.inner.take_send_span(pn, take, span_us).await
        }
        async fn take_line_place(
            &self,
            pn: &str,
            floor_us: i64,
            spacing_us: i64,
        ) -> Result<i64, StoreError> {
            self.inner.take_line_place(pn, floor_us, spacing_us).await
        }
        async fn load_bucket(
            &self,
            pn: &str,
            r: &str,
        ) -> Result<Option<shared::store::Versioned<PairBucket>>, StoreError> {
            self.inner.load_bucket(pn, r).await
        }
        async fn save_bucket(&self, b: &PairBucket, e: Expect) -> Result<bool, StoreError> {
            self.inner.save_bucket(b, e).await
        }
        async fn template_category(&self, n: &str, l: &str) -> Result<Option<String>, StoreError> {
            self.inner.template_category(n, l).await
        }
    }

    #[tokio::test]
    async fn nothing_is_taken_from_a_recipient_without_a_token() {
        let store = MemoryStore::new();
        let l = limiter(80);
        for _ in 0..3 {
            assert_eq!(l.take_pair(&store, "pn", "wa:1", 0).await.unwrap(), Ok(()));
        }

        let admission = l
            .admit(&store, "pn", Some("wa:1"), 0, Duration::from_secs(5))
            .await
            .unwrap();

        assert_eq!(admission, Admission::PairWait(Duration::from_secs(6)));
        assert_eq!(l.throughput_writes(), 0, "no send time reserved");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_taken_by_another_sender_meanwhile_gives_the_send_time_back() {
        // Arrange: one token left, which another sender takes while this one reserves its time.
        let inner = MemoryStore::new();
        let l = paused_limiter();
        for _ in 0..2 {
            assert_eq!(l.take_pair(&inner, "pn", "wa:1", 0).await.unwrap(), Ok(()));
        }
        let store = TakenMeanwhile {
            inner,
            other: limiter(80),
        };

        // Act
        let admission = l
            .admit(&store, "pn", Some("wa:1"), 0, Duration::from_secs(5))
            .await
            .unwrap();
        let writes = l.throughput_writes();
        let next = l
            .admit(&store.inner, "pn", Some("wa:2"), 0, Duration::from_secs(5))
            .await
            .unwrap();

        // Assert
        assert_eq!(admission, Admission::PairWait(Duration::from_secs(6)));
        assert_eq!(writes, 1);
        assert_eq!(next, Admission::Go);
        assert_eq!(
            l.throughput_writes(),
            writes,
            "the next record sent on the time given back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_time_beyond_what_the_command_can_wait_takes_no_token() {
        let store = MemoryStore::new();
        let l = paused_limiter();

        // An idle clock restarts ~30 ms ahead: not within 20 ms.
        let late = l
            .admit(&store, "pn", Some("wa:1"), 0, Duration::from_millis(20))
            .await
            .unwrap();
        let in_time = l
            .admit(&store, "pn", Some("wa:1"), 0, Duration::from_secs(1))
            .await
            .unwrap();

        assert_eq!(late, Admission::TooLate);
        assert_eq!(in_time, Admission::Go);
        let bucket = store.get("PAIR#pn#wa:1", "PAIR").unwrap_or_default();
        assert_eq!(
            bucket["tokens"].as_f64(),
            Some(2.0),
            "one token taken, once"
        );
        assert_eq!(l.throughput_writes(), 1, "the time given back was used");
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
