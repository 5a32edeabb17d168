//! Throughput per phone number: a send clock shared through DynamoDB, reserved in blocks.
//!
//! The item `RATE#<phone_number_id>`/`CLOCK` holds the time the next send may go. A reservation
//! moves it forward by `k × spacing` in one conditional write and owns the `k` send times it
//! passed over, so every send time ever handed out — by any instance — is at least `spacing`
//! from every other. With `spacing = (1 s + JITTER_ALLOWANCE) / rate`, a sliding second holds
//! at most `rate` sends even when each send leaves up to [`JITTER_ALLOWANCE`] after its time
//! (scheduling, the claim write, clock skew between instances): 97.5 % of the rate sustained.
//!
//! An instance sizes each block by its own demand on the number (records waiting now, or the
//! times it handed out in the last quarter second if more), hands the times out in order, and
//! drops a time it could only hand out late (never sends it late). Under saturation the clock
//! runs ahead of now and nothing is dropped; below it, what is dropped is spare capacity.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use shared::store::StoreError;

use crate::store::{ClockTake, SenderStore};

/// How late after its time a send may leave without any sliding second exceeding the rate.
pub const JITTER_ALLOWANCE_US: i64 = 25_000;
/// A send time is handed out at most this late; the rest of the allowance is for the sender's
/// own work between admission and the request (the claim write).
pub(crate) const LATE_HANDOUT_US: i64 = 10_000;
/// Writes one reservation may take when other instances move the clock in between.
const TAKE_ATTEMPTS: usize = 4;
/// The window over which an instance measures its demand on a number.
const DEMAND_WINDOW_US: i64 = 250_000;
/// The first guess of a store round trip, before one is measured.
const FIRST_LATENCY_US: i64 = 15_000;

/// Time, injectable so tests can run many instances in virtual time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix time in microseconds.
    fn now_us(&self) -> i64;
}

/// The system clock (production).
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// The spacing between two sends at `per_second`, with the jitter allowance built in.
pub fn spacing_us(per_second: u32) -> i64 {
    let rate = i64::from(per_second.max(1));
    (1_000_000 + JITTER_ALLOWANCE_US + rate - 1) / rate
}

/// One instance's view of the send clocks: per phone number, the times it reserved and not yet
/// handed out, and the last clock value it saw (a lower bound: the clock only moves forward).
#[derive(Debug)]
pub struct SendClock {
    spacing_us: i64,
    horizon_us: i64,
    max_block: usize,
    clock: Arc<dyn Clock>,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    writes: AtomicU64,
    dropped: AtomicU64,
    latency_us: AtomicI64,
}

#[derive(Debug, Default)]
struct Lane {
    /// Records of this instance waiting for a send time on this number (sizes the next block).
    waiting: AtomicUsize,
    /// One reservation at a time per number per instance; tokio's mutex is fair (FIFO).
    state: tokio::sync::Mutex<LaneState>,
}

#[derive(Debug, Default)]
struct LaneState {
    known_next_us: i64,
    times: VecDeque<i64>,
    /// When this instance handed out its recent times (within [`DEMAND_WINDOW_US`]).
    handed_out: VecDeque<i64>,
}

impl LaneState {
    fn hand_out(&mut self, now: i64) {
        while self
            .handed_out
            .front()
            .is_some_and(|t| *t < now - DEMAND_WINDOW_US)
        {
            self.handed_out.pop_front();
        }
        self.handed_out.push_back(now);
    }
}

/// Counts a record as waiting on a lane for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SendClock {
    pub fn new(per_second: u32, horizon_us: i64, clock: Arc<dyn Clock>) -> Self {
        let spacing_us = spacing_us(per_second);
        Self {
            spacing_us,
            horizon_us: horizon_us.max(spacing_us),
            // At most a quarter of a second per block, so a block an instance cannot use (its
            // records failed elsewhere) wastes little.
            max_block: (per_second / 4).max(1) as usize,
            clock,
            lanes: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            latency_us: AtomicI64::new(FIRST_LATENCY_US),
        }
    }

    /// Conditional writes made so far (successful or not), for the bench and metrics.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Reserved send times dropped because they could only be handed out late.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn now_us(&self) -> i64 {
        self.clock.now_us()
    }

    /// Whether a record that woke for its send time `at_us` may still send on it: a busy
    /// machine can wake it late, and a late send could crowd a sliding second. A late time is
    /// counted as dropped.
    pub fn on_time(&self, at_us: i64) -> bool {
        let on_time = self.clock.now_us() <= at_us + LATE_HANDOUT_US;
        if !on_time {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        on_time
    }

    /// Takes back a send time handed out by [`reserve`](Self::reserve) that its record will not
    /// use (it may not start a send that late, or its recipient has no pair token): the next
    /// record of this instance waiting on the number gets it, if still on time, instead of moving
    /// the shared clock again.
    pub async fn give_back(&self, phone_number_id: &str, at_us: i64) {
        let lane = self.lane(phone_number_id);
        let mut state = lane.state.lock().await;
        let at = state.times.partition_point(|t| *t < at_us);
        state.times.insert(at, at_us);
        // It was not a hand-out after all: it does not count as demand.
        state.handed_out.pop_back();
    }

    fn lane(&self, phone_number_id: &str) -> Arc<Lane> {
        Arc::clone(
            self.lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(phone_number_id.to_owned())
                .or_default(),
        )
    }

    /// A send time for one message (Unix µs, now or within the horizon), or `None` when the
    /// clock already stands beyond the horizon.
    pub async fn reserve<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let lane = self.lane(phone_number_id);
        lane.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&lane.waiting);
        let mut state = lane.state.lock().await;
        for _ in 0..TAKE_ATTEMPTS {
            let now = self.clock.now_us();
            while let Some(t) = state.times.pop_front() {
                if t + LATE_HANDOUT_US >= now {
                    state.hand_out(now);
                    return Ok(Some(t));
                }
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            let demand = lane
                .waiting
                .load(Ordering::SeqCst)
                .max(state.handed_out.len());
            let block = demand.clamp(1, self.max_block);
            if !self
                .take_block(store, phone_number_id, &mut state, block)
                .await?
            {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Moves the shared clock by `block` sends and keeps their times; `false` when the clock
    /// stands beyond the horizon.
    async fn take_block<S: SenderStore>(
        &self,
        store: &S,
        phone_number_id: &str,
        state: &mut LaneState,
        block: usize,
    ) -> Result<bool, StoreError> {
        let span = self.spacing_us * block as i64;
        for _ in 0..TAKE_ATTEMPTS {
            let now = self.clock.now_us();
            let until = now + self.horizon_us;
            if state.known_next_us >= until {
                return Ok(false);
            }
            let take = if state.known_next_us < now {
                // Start when the answer is surely back (twice the usual round trip), so the
                // first time is not already late.
                let start_us = now + 2 * self.latency_us.load(Ordering::Relaxed);
                ClockTake::Restart {
                    now_us: now,
                    start_us,
                }
            } else {
                ClockTake::Extend {
                    now_us: now,
                    until_us: until,
                }
            };
            let answer = store.take_send_span(phone_number_id, take, span).await;
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.observe_latency(self.clock.now_us() - now);
            match answer? {
                Ok(after) => {
                    state.known_next_us = state.known_next_us.max(after);
                    state
                        .times
                        .extend((0..block as i64).map(|i| after - span + i * self.spacing_us));
                    return Ok(true);
                }
                Err(found) => {
                    // Absent: the next try restarts it; otherwise it moved under us.
                    state.known_next_us = state.known_next_us.max(found.unwrap_or(0));
                }
            }
        }
        Ok(false)
    }

    /// A moving average of the store's round trip: quick to learn that it slowed down (1/2
    /// weight), slow to forget it (1/8).
    fn observe_latency(&self, sample_us: i64) {
        let sample = sample_us.clamp(0, 200_000);
        let old = self.latency_us.load(Ordering::Relaxed);
        let weight = if sample > old { 2 } else { 8 };
        self.latency_us
            .store(old + (sample - old) / weight, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Attempt, PairBucket};
    use shared::store::memory::MemoryStore;
    use shared::store::{Expect, Versioned};
    use std::time::Duration;

    /// Virtual time: tokio's paused clock, from a fixed Unix instant.
    #[derive(Debug)]
    struct VirtualClock(tokio::time::Instant);

    const T0_US: i64 = 1_800_000_000_000_000;

    impl Clock for VirtualClock {
        fn now_us(&self) -> i64 {
            T0_US + self.0.elapsed().as_micros() as i64
        }
    }

    fn virtual_clock() -> Arc<dyn Clock> {
        Arc::new(VirtualClock(tokio::time::Instant::now()))
    }

    /// Deterministic pseudo-random numbers (xorshift), so a failure replays.
    struct Noise(AtomicU64);

    impl Noise {
        fn below(&self, n: u64) -> u64 {
            let mut x = self.0.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.store(x, Ordering::Relaxed);
            x % n
        }
    }

    /// The in-memory store with a DynamoDB-like round trip on the clock item.
    struct SlowStore {
        inner: MemoryStore,
        min_us: u64,
        spread_us: u64,
        noise: Noise,
    }

    impl SlowStore {
        fn new(min_us: u64, spread_us: u64) -> Self {
            Self {
                inner: MemoryStore::new(),
                min_us,
                spread_us,
                noise: Noise(AtomicU64::new(0x9E37_79B9_7F4A_7C15)),
            }
        }
    }

    impl SenderStore for SlowStore {
        async fn load_attempt(&self, id: &str) -> Result<Option<Versioned<Attempt>>, StoreError> {
            self.inner.load_attempt(id).await
        }
        async fn save_attempt(&self, a: &Attempt, e: Expect) -> Result<bool, StoreError> {
            self.inner.save_attempt(a, e).await
        }
        async fn take_send_span(
            &self,
            pn: &str,
            take: ClockTake,
            span_us: i64,
        ) -> Result<Result<i64, Option<i64>>, StoreError> {
            let there = self.min_us + self.noise.below(self.spread_us.max(1)) / 2;
            let back = self.min_us + self.noise.below(self.spread_us.max(1)) / 2;
            tokio::time::sleep(Duration::from_micros(there)).await;
            let answer = self.inner.take_send_span(pn, take, span_us).await;
            tokio::time::sleep(Duration::from_micros(back)).await;
            answer
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
        ) -> Result<Option<Versioned<PairBucket>>, StoreError> {
            self.inner.load_bucket(pn, r).await
        }
        async fn save_bucket(&self, b: &PairBucket, e: Expect) -> Result<bool, StoreError> {
            self.inner.save_bucket(b, e).await
        }
        async fn template_category(&self, n: &str, l: &str) -> Result<Option<String>, StoreError> {
            self.inner.template_category(n, l).await
        }
    }

    fn busiest_second(sends: &mut [i64]) -> usize {
        sends.sort_unstable();
        (0..sends.len())
            .map(|i| {
                sends[i..]
                    .iter()
                    .take_while(|t| **t < sends[i] + 1_000_000)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// `workers` records spread over `instances` limiters, `messages` in all: each record sleeps
    /// until its time, then spends 0–15 ms more before its request leaves (the claim write).
    async fn burst(
        instances: usize,
        workers: usize,
        messages: usize,
        store: Arc<SlowStore>,
    ) -> (Vec<i64>, u64, u64) {
        let clock = virtual_clock();
        let limiters: Vec<Arc<SendClock>> = (0..instances)
            .map(|_| Arc::new(SendClock::new(80, 5_000_000, Arc::clone(&clock))))
            .collect();
        let left = Arc::new(AtomicUsize::new(messages));
        let noise = Arc::new(Noise(AtomicU64::new(0x2545_F491_4F6C_DD1D)));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let limiter = Arc::clone(&limiters[w % instances]);
            let (store, left, clock, noise) = (
                Arc::clone(&store),
                Arc::clone(&left),
                Arc::clone(&clock),
                Arc::clone(&noise),
            );
            tasks.push(tokio::spawn(async move {
                let mut sends = Vec::new();
                let mut deferred = 0u64;
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    loop {
                        match limiter.reserve(store.as_ref(), "pn").await.unwrap() {
                            Some(at) => {
                                let wait = (at - clock.now_us()).max(0) as u64;
                                let work = noise.below(15_000);
                                tokio::time::sleep(Duration::from_micros(wait + work)).await;
                                sends.push(clock.now_us());
                                break;
                            }
                            None => {
                                deferred += 1;
                                tokio::time::sleep(Duration::from_millis(500)).await;
                            }
                        }
                    }
                }
                (sends, deferred)
            }));
        }
        let mut sends = Vec::new();
        let mut deferred = 0;
        for t in tasks {
            let (s, d) = t.await.unwrap();
            sends.extend(s);
            deferred += d;
        }
        let writes = limiters.iter().map(|l| l.writes()).sum();
        (sends, writes, deferred)
    }

    #[tokio::test(start_paused = true)]
    async fn five_instances_sharing_one_clock_sustain_97_percent_and_never_exceed_the_rate() {
        let store = Arc::new(SlowStore::new(4_000, 20_000));
        let (mut sends, writes, _) = burst(5, 50, 2_000, store).await;

        assert_eq!(sends.len(), 2_000);
        let peak = busiest_second(&mut sends);
        assert!(peak <= 80, "{peak} sends in one sliding second");
        let span_s = (sends[sends.len() - 1] - sends[0]) as f64 / 1e6;
        let sustained = (sends.len() - 1) as f64 / span_s;
        assert!(sustained >= 76.0, "sustained {sustained:.1}/s");
        let per_send = writes as f64 / sends.len() as f64;
        assert!(per_send <= 0.25, "{per_send:.2} writes per send");
    }

    #[tokio::test(start_paused = true)]
    async fn one_record_at_a_time_still_writes_at_most_once_per_send() {
        let store = Arc::new(SlowStore::new(4_000, 20_000));
        let (mut sends, writes, _) = burst(3, 3, 300, store).await;

        assert_eq!(sends.len(), 300);
        assert!(busiest_second(&mut sends) <= 80);
        assert!(writes <= 300, "{writes} writes for 300 sends");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_clock_restarts_when_the_answer_is_expected_back() {
        let store = MemoryStore::new();
        let clock = virtual_clock();
        let limiter = SendClock::new(80, 5_000_000, Arc::clone(&clock));

        let at = limiter.reserve(&store, "pn").await.unwrap().unwrap();

        assert_eq!(at, clock.now_us() + 2 * FIRST_LATENCY_US);
        assert_eq!(
            store
                .get("RATE#pn", "CLOCK")
                .and_then(|c| c["next_us"].as_i64()),
            Some(at + spacing_us(80))
        );
        assert_eq!(limiter.writes(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_instance_extends_the_clock_after_the_first_ones_block() {
        let store = MemoryStore::new();
        let clock = virtual_clock();
        let a = SendClock::new(80, 5_000_000, Arc::clone(&clock));
        let b = SendClock::new(80, 5_000_000, Arc::clone(&clock));

        let first = a.reserve(&store, "pn").await.unwrap().unwrap();
        let second = b.reserve(&store, "pn").await.unwrap().unwrap();

        assert_eq!(second, first + spacing_us(80));
        assert_eq!(b.writes(), 2, "a restart refused, then an extension");
        let third = b.reserve(&store, "pn").await.unwrap().unwrap();
        assert_eq!(third, second + spacing_us(80));
        assert_eq!(b.writes(), 3, "it now knows the clock is ahead");
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_horizon_it_defers_and_stops_writing() {
        let store = MemoryStore::new();
        let clock = virtual_clock();
        let limiter = SendClock::new(10, 1_000_000, Arc::clone(&clock));

        let mut admitted = Vec::new();
        while let Some(at) = limiter.reserve(&store, "pn").await.unwrap() {
            admitted.push(at);
            assert!(admitted.len() <= 20, "the horizon bounds the bookings");
        }
        let writes = limiter.writes();
        assert_eq!(limiter.reserve(&store, "pn").await.unwrap(), None);

        // 1 s of horizon at 10/s (102.5 ms apart), starting 30 ms ahead.
        assert_eq!(admitted.len(), 10);
        assert!(admitted.windows(2).all(|w| w[1] - w[0] == spacing_us(10)));
        assert_eq!(
            limiter.writes(),
            writes,
            "a known-full clock costs no write"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_store_never_gets_a_time_handed_out_late() {
        let store = SlowStore::new(40_000, 1);
        let clock = virtual_clock();
        let limiter = SendClock::new(80, 5_000_000, Arc::clone(&clock));

        let mut got = 0;
        for _ in 0..20 {
            if let Some(at) = limiter.reserve(&store, "pn").await.unwrap() {
                assert!(at + LATE_HANDOUT_US >= clock.now_us());
                got += 1;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }

        assert!(limiter.dropped() > 0, "the first answers came back late");
        assert!(got >= 19, "it learns the round trip: {got} of 20");
    }

    #[tokio::test(start_paused = true)]
    async fn a_time_given_back_is_handed_out_next_without_moving_the_clock() {
        let store = MemoryStore::new();
        let clock = virtual_clock();
        let limiter = SendClock::new(80, 5_000_000, Arc::clone(&clock));
        let first = limiter.reserve(&store, "pn").await.unwrap().unwrap();
        let second = limiter.reserve(&store, "pn").await.unwrap().unwrap();
        let writes = limiter.writes();

        limiter.give_back("pn", second).await;
        limiter.give_back("pn", first).await;

        assert_eq!(limiter.reserve(&store, "pn").await.unwrap(), Some(first));
        assert_eq!(limiter.reserve(&store, "pn").await.unwrap(), Some(second));
        assert_eq!(
            limiter.writes(),
            writes,
            "both came from this instance's hand"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_that_wakes_late_for_its_time_may_not_send_on_it() {
        let clock = virtual_clock();
        let limiter = SendClock::new(80, 5_000_000, Arc::clone(&clock));
        let at = clock.now_us();

        tokio::time::sleep(Duration::from_micros(LATE_HANDOUT_US as u64)).await;
        assert!(limiter.on_time(at), "within the allowance");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!limiter.on_time(at), "past it");
        assert_eq!(limiter.dropped(), 1);
    }

    #[test]
    fn the_spacing_leaves_room_for_the_jitter_allowance() {
        for rate in [1, 10, 80, 250, 1000] {
            let s = spacing_us(rate);
            assert!(
                i64::from(rate) * s >= 1_000_000 + JITTER_ALLOWANCE_US,
                "{rate}"
            );
            assert!(
                i64::from(rate) * (s - 1) < 1_000_000 + JITTER_ALLOWANCE_US,
                "{rate}"
            );
        }
        assert_eq!(spacing_us(80), 12_813);
    }
}
