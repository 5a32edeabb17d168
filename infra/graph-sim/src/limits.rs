//! Meta's sending rules as plain state with time passed in: throughput per phone number
//! (130429), pair rate per recipient (131056) and the 24 h customer-service window (131047).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Past this many tracked recipients, entries that no longer matter are dropped.
const PRUNE_ABOVE: usize = 50_000;

/// The rules one phone number is held to.
#[derive(Debug)]
pub struct Limits {
    throughput_per_second: u32,
    pair_burst: u32,
    pair_refill: Duration,
    service_window: Duration,
    /// When each message of the last second was accepted (sliding window).
    recent: VecDeque<Instant>,
    /// Pair-rate token buckets by recipient key.
    pairs: HashMap<String, Bucket>,
    /// Unix seconds of the latest inbound message by recipient key (wa_id or user_id).
    last_inbound: HashMap<String, u64>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Why a send was refused; each is one Meta error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 130429: the phone number's throughput is used up for this second.
    Throughput,
    /// 131047: free-form message outside the customer-service window.
    WindowClosed,
    /// 131056: too many messages to this recipient in a short time.
    PairRate,
}

impl Refusal {
    /// The Meta error code for this refusal.
    pub fn code(self) -> u32 {
        match self {
            Refusal::Throughput => 130429,
            Refusal::WindowClosed => 131047,
            Refusal::PairRate => 131056,
        }
    }
}

impl Limits {
    pub fn new(
        throughput_per_second: u32,
        pair_burst: u32,
        pair_refill: Duration,
        service_window: Duration,
    ) -> Self {
        Self {
            throughput_per_second,
            pair_burst,
            pair_refill,
            service_window,
            recent: VecDeque::new(),
            pairs: HashMap::new(),
            last_inbound: HashMap::new(),
        }
    }

    /// Checks every rule for a message to `recipient` and, if all pass, counts it. `free_form` is
    /// false for templates, which the window does not restrict.
    pub fn admit(
        &mut self,
        recipient: &str,
        free_form: bool,
        now: Instant,
        now_unix: u64,
    ) -> Result<(), Refusal> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.throughput_per_second as usize {
            return Err(Refusal::Throughput);
        }
        if free_form && !self.window_open(recipient, now_unix) {
            return Err(Refusal::WindowClosed);
        }
        let burst = f64::from(self.pair_burst);
        let refill = self.pair_refill;
        let bucket = self.pairs.entry(recipient.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let earned = if refill.is_zero() {
            burst
        } else {
            now.saturating_duration_since(bucket.at).as_secs_f64() / refill.as_secs_f64()
        };
        bucket.tokens = (bucket.tokens + earned).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(Refusal::PairRate);
        }
        bucket.tokens -= 1.0;
        self.recent.push_back(now);
        self.prune(now, now_unix);
        Ok(())
    }

    /// Records an inbound message from `recipient` sent at `timestamp` (Unix seconds).
    pub fn open_window(&mut self, recipient: &str, timestamp: u64) {
        let last = self.last_inbound.entry(recipient.to_owned()).or_insert(0);
        *last = (*last).max(timestamp);
    }

    /// Whether free-form messages to `recipient` are allowed at `now_unix`.
    pub fn window_open(&self, recipient: &str, now_unix: u64) -> bool {
        self.last_inbound
            .get(recipient)
            .is_some_and(|last| now_unix.saturating_sub(*last) < self.service_window.as_secs())
    }

    /// Forgets all counters and windows.
    pub fn clear(&mut self) {
        self.recent.clear();
        self.pairs.clear();
        self.last_inbound.clear();
    }

    fn prune(&mut self, now: Instant, now_unix: u64) {
        if self.pairs.len() > PRUNE_ABOVE {
            let full_after = self.pair_refill.saturating_mul(self.pair_burst);
            self.pairs
                .retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        }
        if self.last_inbound.len() > PRUNE_ABOVE {
            let window = self.service_window.as_secs();
            self.last_inbound
                .retain(|_, last| now_unix.saturating_sub(*last) < window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 60 * 60;

    fn limits(throughput: u32, burst: u32) -> Limits {
        Limits::new(
            throughput,
            burst,
            Duration::from_secs(6),
            Duration::from_secs(DAY),
        )
    }

    #[test]
    fn refuses_the_message_over_the_per_second_throughput() {
        let mut l = limits(3, 45);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.admit(&format!("r{i}"), false, t0, 0), Ok(()));
        }
        assert_eq!(l.admit("r9", false, t0, 0), Err(Refusal::Throughput));
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(l.admit("r9", false, later, 0), Ok(()));
    }

    #[test]
    fn pair_rate_allows_a_burst_then_one_message_per_refill() {
        let mut l = limits(1000, 45);
        let t0 = Instant::now();
        for _ in 0..45 {
            assert_eq!(l.admit("r", false, t0, 0), Ok(()));
        }
        assert_eq!(l.admit("r", false, t0, 0), Err(Refusal::PairRate));
        assert_eq!(l.admit("other", false, t0, 0), Ok(()));
        let t6 = t0 + Duration::from_secs(6);
        assert_eq!(l.admit("r", false, t6, 0), Ok(()));
        assert_eq!(l.admit("r", false, t6, 0), Err(Refusal::PairRate));
    }

    #[test]
    fn free_form_needs_an_inbound_message_in_the_last_24_hours() {
        let mut l = limits(80, 45);
        let now = Instant::now();
        let now_unix = 10 * DAY;
        assert_eq!(
            l.admit("r", true, now, now_unix),
            Err(Refusal::WindowClosed)
        );
        assert_eq!(l.admit("r", false, now, now_unix), Ok(()));
        l.open_window("r", now_unix - DAY - 1);
        assert_eq!(
            l.admit("r", true, now, now_unix),
            Err(Refusal::WindowClosed)
        );
        l.open_window("r", now_unix - DAY + 60);
        assert_eq!(l.admit("r", true, now, now_unix), Ok(()));
    }

    #[test]
    fn an_older_inbound_does_not_shrink_the_window() {
        let mut l = limits(80, 45);
        l.open_window("r", 1_000);
        l.open_window("r", 10);
        assert!(l.window_open("r", 1_000 + DAY - 1));
    }

    #[test]
    fn a_refused_message_uses_no_throughput() {
        let mut l = limits(1, 45);
        let t0 = Instant::now();
        assert_eq!(l.admit("r", true, t0, 0), Err(Refusal::WindowClosed));
        assert_eq!(l.admit("r", false, t0, 0), Ok(()));
    }
}
