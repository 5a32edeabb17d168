//! The sender's own items in the state table: a command's send attempt (the "maybe sent" guard
//! and retry counters), the rate-limiter counters and learned template categories. The port
//! [`SenderStore`] reads and writes them through the state table's adapters
//! (`shared::store::items::ItemStore`, DynamoDB or in memory): this module owns the records and
//! their keys, not a second adapter.
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `CMD#<command_id>` | `ATTEMPT` | [`Attempt`] (with Meta's acceptance once sent), versioned, TTL 5 days |
//! | `RATE#<phone_number_id>` | `CLOCK` | `next_us`: the phone number's send clock (Unix µs), TTL 1 day |
//! | `RATE#<phone_number_id>` | `LINE` | `next_us`: the time promised to the last command deferred for throughput (Unix µs), TTL 1 day |
//! | `PAIR#<phone_number_id>#<recipient>` | `PAIR` | [`PairBucket`], versioned, TTL 1 day |
//! | `TEMPLATE#<name>#<language>` | `CATEGORY` | `category` learned from template updates |

use std::future::Future;

use serde::{Deserialize, Serialize};
pub use shared::store::items::ClockTake;
use shared::store::items::ItemStore;
use shared::store::{Expect, StoreError, Versioned};

use crate::accept::Acceptance;
use crate::graph::MetaApiError;

/// Where a command's send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// No request in flight: a send may start.
    Idle,
    /// A request went (or was about to go) to Meta and its answer is not recorded yet.
    Sending,
}

/// One command's send attempts. The final outcome lives in the outbox, not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub command_id: String,
    pub state: AttemptState,
    /// When the current `Sending` began (Unix ms).
    #[serde(default)]
    pub started_at_ms: i64,
    /// When the sender first saw the command (Unix ms), for the maximum age.
    pub first_seen_ms: i64,
    /// Retryable errors so far (exponent of the backoff).
    #[serde(default)]
    pub retries: u32,
    /// 131056 answers so far (backoff 4^n s).
    #[serde(default)]
    pub pair_hits: u32,
    /// 131049 answers so far (the command waits a day once).
    #[serde(default)]
    pub cap_hits: u32,
    /// Do not send before (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<MetaApiError>,
    /// Meta's answer to the send, written to the claim before anything else: a claim holding it
    /// was sent, whatever its lease, and a redelivery finishes it as `command.accepted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
    pub ttl: i64,
}

impl Attempt {
    /// Tries so far, this one included (`command.failed`'s `attempts`).
    pub fn attempts(&self) -> u32 {
        self.retries + self.pair_hits + self.cap_hits + 1
    }
}

/// A per-recipient token bucket (pair rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairBucket {
    pub phone_number_id: String,
    pub recipient: String,
    pub tokens: f64,
    pub at_ms: i64,
    pub ttl: i64,
}

/// Port: the sender's items.
pub trait SenderStore: Send + Sync {
    fn load_attempt(
        &self,
        command_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<Attempt>>, StoreError>> + Send;

    /// Writes if `expect` holds; `false` when another writer got there first.
    fn save_attempt(
        &self,
        attempt: &Attempt,
        expect: Expect,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves the phone number's send clock `span_us` forward if it stands where `take` says, in
    /// one conditional write: `Ok(clock after)`, or `Err(clock as found)` (`None`: no clock yet).
    fn take_send_span(
        &self,
        phone_number_id: &str,
        take: ClockTake,
        span_us: i64,
    ) -> impl Future<Output = Result<Result<i64, Option<i64>>, StoreError>> + Send;

    /// Takes the next place in the phone number's waiting line: the line's clock moves to
    /// `max(clock, floor_us) + spacing_us` and that time is returned (Unix µs). Usually one write.
    fn take_line_place(
        &self,
        phone_number_id: &str,
        floor_us: i64,
        spacing_us: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    fn load_bucket(
        &self,
        phone_number_id: &str,
        recipient: &str,
    ) -> impl Future<Output = Result<Option<Versioned<PairBucket>>, StoreError>> + Send;

    fn save_bucket(
        &self,
        bucket: &PairBucket,
        expect: Expect,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The category Meta reported for a template (`marketing`, `utility`, …), if known.
    fn template_category(
        &self,
        name: &str,
        language: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

pub fn attempt_key(command_id: &str) -> (String, String) {
    (format!("CMD#{command_id}"), "ATTEMPT".into())
}

pub fn clock_key(phone_number_id: &str) -> (String, String) {
    (format!("RATE#{phone_number_id}"), "CLOCK".into())
}

pub fn line_key(phone_number_id: &str) -> (String, String) {
    (format!("RATE#{phone_number_id}"), "LINE".into())
}

pub fn bucket_key(phone_number_id: &str, recipient: &str) -> (String, String) {
    (format!("PAIR#{phone_number_id}#{recipient}"), "PAIR".into())
}

pub fn template_key(name: &str, language: &str) -> (String, String) {
    shared::store::keys::template_category(name, language)
}

/// What a template category item holds (written by the processor, `shared::store`).
#[derive(Deserialize)]
struct Category {
    category: String,
}

impl<T: ItemStore> SenderStore for T {
    async fn load_attempt(
        &self,
        command_id: &str,
    ) -> Result<Option<Versioned<Attempt>>, StoreError> {
        let (pk, sk) = attempt_key(command_id);
        self.load_item(&pk, &sk).await
    }

    async fn save_attempt(&self, attempt: &Attempt, expect: Expect) -> Result<bool, StoreError> {
        let (pk, sk) = attempt_key(&attempt.command_id);
        self.save_item(&pk, &sk, attempt, expect).await
    }

    async fn take_send_span(
        &self,
        phone_number_id: &str,
        take: ClockTake,
        span_us: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        let (pk, sk) = clock_key(phone_number_id);
        self.take_clock_span(&pk, &sk, take, span_us).await
    }

    async fn take_line_place(
        &self,
        phone_number_id: &str,
        floor_us: i64,
        spacing_us: i64,
    ) -> Result<i64, StoreError> {
        let (pk, sk) = line_key(phone_number_id);
        ItemStore::take_line_place(self, &pk, &sk, floor_us, spacing_us).await
    }

    async fn load_bucket(
        &self,
        phone_number_id: &str,
        recipient: &str,
    ) -> Result<Option<Versioned<PairBucket>>, StoreError> {
        let (pk, sk) = bucket_key(phone_number_id, recipient);
        self.load_item(&pk, &sk).await
    }

    async fn save_bucket(&self, bucket: &PairBucket, expect: Expect) -> Result<bool, StoreError> {
        let (pk, sk) = bucket_key(&bucket.phone_number_id, &bucket.recipient);
        self.save_item(&pk, &sk, bucket, expect).await
    }

    async fn template_category(
        &self,
        name: &str,
        language: &str,
    ) -> Result<Option<String>, StoreError> {
        let (pk, sk) = template_key(name, language);
        Ok(self
            .load_item::<Category>(&pk, &sk)
            .await?
            .map(|c| c.record.category.to_ascii_lowercase()))
    }
}
