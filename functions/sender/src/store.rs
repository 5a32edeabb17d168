//! The sender's own items in the state table: a command's send attempt (the "maybe sent" guard
//! and retry counters), the rate-limiter counters and learned template categories. Port, DynamoDB
//! adapter and in-memory adapter.
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `CMD#<command_id>` | `ATTEMPT` | [`Attempt`] (with Meta's acceptance once sent), versioned, TTL 5 days |
//! | `RATE#<phone_number_id>` | `CLOCK` | `next_us`: the phone number's send clock (Unix µs), TTL 1 day |
//! | `PAIR#<phone_number_id>#<recipient>` | `PAIR` | [`PairBucket`], versioned, TTL 1 day |
//! | `TEMPLATE#<name>#<language>` | `CATEGORY` | `category` learned from template updates |

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::store::dynamo::{from_attr, to_attr};
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

/// Where a phone number's send clock must stand for [`SenderStore::take_send_span`] to move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockTake {
    /// Absent or behind `now_us` (nobody is sending): the clock restarts at `start_us` + span.
    Restart { now_us: i64, start_us: i64 },
    /// At or past `now_us` and before `until_us`: the span is taken from where it stands.
    Extend { now_us: i64, until_us: i64 },
}

/// The clock item lives a day past the last send it covers.
const CLOCK_TTL_SECS: i64 = 86_400;

pub fn clock_key(phone_number_id: &str) -> (String, String) {
    (format!("RATE#{phone_number_id}"), "CLOCK".into())
}

pub fn bucket_key(phone_number_id: &str, recipient: &str) -> (String, String) {
    (format!("PAIR#{phone_number_id}#{recipient}"), "PAIR".into())
}

pub fn template_key(name: &str, language: &str) -> (String, String) {
    shared::store::keys::template_category(name, language)
}

const VERSION: &str = "ver";

/// Adapter: the state table.
#[derive(Clone)]
pub struct DynamoSenderStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoSenderStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        (pk, sk): (String, String),
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws("GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let version = match item.get(VERSION) {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        };
        let value = Value::Object(
            item.iter()
                .map(|(k, v)| (k.clone(), from_attr(v)))
                .collect(),
        );
        let record = serde_json::from_value(value).map_err(|source| StoreError::Corrupt {
            key: shared::redact::item_key(&pk, &sk),
            source: source.into(),
        })?;
        Ok(Some(Versioned { record, version }))
    }

    async fn put<T: Serialize>(
        &self,
        (pk, sk): (String, String),
        record: &T,
        expect: Expect,
    ) -> Result<bool, StoreError> {
        let value = serde_json::to_value(record).map_err(|source| StoreError::Corrupt {
            key: shared::redact::item_key(&pk, &sk),
            source: source.into(),
        })?;
        let Value::Object(fields) = value else {
            return Err(StoreError::Unstorable {
                key: shared::redact::item_key(&pk, &sk),
                reason: "record is not a JSON object".into(),
            });
        };
        let mut item: HashMap<String, AttributeValue> = fields
            .iter()
            .map(|(k, v)| (k.clone(), to_attr(v)))
            .collect();
        item.insert("pk".into(), AttributeValue::S(pk));
        item.insert("sk".into(), AttributeValue::S(sk));
        let next = match expect {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        };
        item.insert(VERSION.into(), AttributeValue::N(next.to_string()));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expect {
            Expect::Absent => request.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => request
                .condition_expression("#ver = :ver")
                .expression_attribute_names("#ver", VERSION)
                .expression_attribute_values(":ver", AttributeValue::N(v.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws("PutItem", e)),
        }
    }
}

fn aws<E, R>(operation: &'static str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    aws_sdk_dynamodb::Error: From<aws_sdk_dynamodb::error::SdkError<E, R>>,
{
    StoreError::Aws {
        operation,
        source: Box::new(e.into()),
    }
}

impl SenderStore for DynamoSenderStore {
    async fn load_attempt(
        &self,
        command_id: &str,
    ) -> Result<Option<Versioned<Attempt>>, StoreError> {
        self.get(attempt_key(command_id)).await
    }

    async fn save_attempt(&self, attempt: &Attempt, expect: Expect) -> Result<bool, StoreError> {
        self.put(attempt_key(&attempt.command_id), attempt, expect)
            .await
    }

    async fn take_send_span(
        &self,
        phone_number_id: &str,
        take: ClockTake,
        span_us: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        let (pk, sk) = clock_key(phone_number_id);
        let n = |v: i64| AttributeValue::N(v.to_string());
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .expression_attribute_names("#next", "next_us")
            .expression_attribute_names("#ttl", "ttl")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        let request = match take {
            ClockTake::Restart { now_us, start_us } => {
                let end = start_us.saturating_add(span_us);
                request
                    .update_expression("SET #next = :end, #ttl = :ttl")
                    .condition_expression("attribute_not_exists(#next) OR #next < :now")
                    .expression_attribute_values(":end", n(end))
                    .expression_attribute_values(":now", n(now_us))
                    .expression_attribute_values(":ttl", n(end / 1_000_000 + CLOCK_TTL_SECS))
            }
            ClockTake::Extend { now_us, until_us } => request
                .update_expression("ADD #next :span SET #ttl = :ttl")
                .condition_expression("#next >= :now AND #next < :until")
                .expression_attribute_values(":span", n(span_us))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":until", n(until_us))
                .expression_attribute_values(
                    ":ttl",
                    n(until_us.saturating_add(span_us) / 1_000_000 + CLOCK_TTL_SECS),
                ),
        };
        let clock =
            |item: Option<&HashMap<String, AttributeValue>>| -> Result<Option<i64>, StoreError> {
                match item.and_then(|i| i.get("next_us")) {
                    Some(AttributeValue::N(v)) => {
                        serde_json::from_str::<i64>(v).map(Some).map_err(|source| {
                            StoreError::Corrupt {
                                key: shared::redact::item_key(&pk, &sk),
                                source: source.into(),
                            }
                        })
                    }
                    _ => Ok(None),
                }
            };
        match request.send().await {
            Ok(out) => match clock(out.attributes.as_ref())? {
                Some(after) => Ok(Ok(after)),
                None => Err(StoreError::Unstorable {
                    key: shared::redact::item_key(&pk, &sk),
                    reason: "UpdateItem returned no clock".into(),
                }),
            },
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Err(clock(c.item.as_ref())?))
                }
                _ => Err(aws("UpdateItem", e)),
            },
        }
    }

    async fn load_bucket(
        &self,
        phone_number_id: &str,
        recipient: &str,
    ) -> Result<Option<Versioned<PairBucket>>, StoreError> {
        self.get(bucket_key(phone_number_id, recipient)).await
    }

    async fn save_bucket(&self, bucket: &PairBucket, expect: Expect) -> Result<bool, StoreError> {
        self.put(
            bucket_key(&bucket.phone_number_id, &bucket.recipient),
            bucket,
            expect,
        )
        .await
    }

    async fn template_category(
        &self,
        name: &str,
        language: &str,
    ) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Category {
            category: String,
        }
        Ok(self
            .get::<Category>(template_key(name, language))
            .await?
            .map(|c| c.record.category.to_ascii_lowercase()))
    }
}

/// In-memory adapter with the same conditions, for handler tests.
#[derive(Debug, Default)]
pub struct MemorySenderStore {
    items: Mutex<HashMap<(String, String), (Value, u64)>>,
    /// Attempt writes to let through before `failing_saves` start (see `fail_attempt_saves`).
    passing_saves: AtomicUsize,
    failing_saves: AtomicUsize,
    save_fault: Mutex<SaveFault>,
}

/// How an injected attempt-write failure shows (see [`MemorySenderStore::fail_attempt_saves`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SaveFault {
    /// The table answers with an error (throttled, unavailable).
    #[default]
    Error,
    /// Another writer changed the item first: the condition fails.
    Conflict,
}

impl MemorySenderStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Value, u64)>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After `pass` more attempt writes, the next `fail` ones fail as `fault` says and change
    /// nothing.
    pub fn fail_attempt_saves(&self, pass: usize, fail: usize, fault: SaveFault) {
        *self.save_fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
        self.passing_saves.store(pass, Ordering::SeqCst);
        self.failing_saves.store(fail, Ordering::SeqCst);
    }

    /// Declares a template's category, as the processor would from a template update.
    pub fn set_template_category(&self, name: &str, language: &str, category: &str) {
        self.lock().insert(
            template_key(name, language),
            (serde_json::json!({ "category": category }), 1),
        );
    }

    /// Where a phone number's send clock stands (Unix µs), for assertions.
    pub fn send_clock(&self, phone_number_id: &str) -> Option<i64> {
        self.lock()
            .get(&clock_key(phone_number_id))
            .and_then(|(v, _)| v.get("next_us").and_then(Value::as_i64))
    }

    fn get<T: DeserializeOwned>(
        &self,
        key: (String, String),
    ) -> Result<Option<Versioned<T>>, StoreError> {
        match self.lock().get(&key) {
            None => Ok(None),
            Some((v, ver)) => serde_json::from_value(v.clone())
                .map(|record| {
                    Some(Versioned {
                        record,
                        version: *ver,
                    })
                })
                .map_err(|source| StoreError::Corrupt {
                    key: shared::redact::item_key(&key.0, &key.1),
                    source: source.into(),
                }),
        }
    }

    fn put<T: Serialize>(
        &self,
        key: (String, String),
        record: &T,
        expect: Expect,
    ) -> Result<bool, StoreError> {
        let value = serde_json::to_value(record).map_err(|source| StoreError::Corrupt {
            key: shared::redact::item_key(&key.0, &key.1),
            source: source.into(),
        })?;
        let mut items = self.lock();
        let current = items.get(&key).map(|(_, v)| *v);
        let next = match (expect, current) {
            (Expect::Absent, None) => 1,
            (Expect::Version(v), Some(c)) if v == c => v + 1,
            _ => return Ok(false),
        };
        items.insert(key, (value, next));
        Ok(true)
    }
}

impl SenderStore for MemorySenderStore {
    async fn load_attempt(
        &self,
        command_id: &str,
    ) -> Result<Option<Versioned<Attempt>>, StoreError> {
        self.get(attempt_key(command_id))
    }

    async fn save_attempt(&self, attempt: &Attempt, expect: Expect) -> Result<bool, StoreError> {
        let take = |n: &AtomicUsize| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                .is_ok()
        };
        if !take(&self.passing_saves) && take(&self.failing_saves) {
            let fault = *self.save_fault.lock().unwrap_or_else(|p| p.into_inner());
            let (pk, sk) = attempt_key(&attempt.command_id);
            return match fault {
                SaveFault::Conflict => Ok(false),
                SaveFault::Error => Err(StoreError::Unstorable {
                    key: shared::redact::item_key(&pk, &sk),
                    reason: "injected fault: the write was refused".into(),
                }),
            };
        }
        self.put(attempt_key(&attempt.command_id), attempt, expect)
    }

    async fn take_send_span(
        &self,
        phone_number_id: &str,
        take: ClockTake,
        span_us: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        let mut items = self.lock();
        let key = clock_key(phone_number_id);
        let current = items
            .get(&key)
            .and_then(|(v, _)| v.get("next_us").and_then(Value::as_i64));
        let after = match (take, current) {
            (ClockTake::Restart { start_us, .. }, None) => start_us.saturating_add(span_us),
            (ClockTake::Restart { now_us, start_us }, Some(c)) if c < now_us => {
                start_us.saturating_add(span_us)
            }
            (ClockTake::Extend { now_us, until_us }, Some(c)) if c >= now_us && c < until_us => {
                c.saturating_add(span_us)
            }
            _ => return Ok(Err(current)),
        };
        items.insert(key, (serde_json::json!({ "next_us": after }), 1));
        Ok(Ok(after))
    }

    async fn load_bucket(
        &self,
        phone_number_id: &str,
        recipient: &str,
    ) -> Result<Option<Versioned<PairBucket>>, StoreError> {
        self.get(bucket_key(phone_number_id, recipient))
    }

    async fn save_bucket(&self, bucket: &PairBucket, expect: Expect) -> Result<bool, StoreError> {
        self.put(
            bucket_key(&bucket.phone_number_id, &bucket.recipient),
            bucket,
            expect,
        )
    }

    async fn template_category(
        &self,
        name: &str,
        language: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .get(&template_key(name, language))
            .and_then(|(v, _)| v.get("category").and_then(Value::as_str))
            .map(str::to_ascii_lowercase))
    }
}
