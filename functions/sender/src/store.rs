//! The sender's own items in the state table: a command's send attempt (the "maybe sent" guard
//! and retry counters), the rate-limiter counters and learned template categories. Port, DynamoDB
//! adapter and in-memory adapter.
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `CMD#<command_id>` | `ATTEMPT` | [`Attempt`], versioned, TTL 5 days |
//! | `RATE#<phone_number_id>#<slot>` | `RATE` | `n`: messages admitted in that 100 ms slot, TTL 2 min |
//! | `PAIR#<phone_number_id>#<recipient>` | `PAIR` | [`PairBucket`], versioned, TTL 1 day |
//! | `TEMPLATE#<name>#<language>` | `CATEGORY` | `category` learned from template updates |

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::store::dynamo::{from_attr, to_attr};
use shared::store::{Expect, StoreError, Versioned};

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

    /// Counts one message in `slot` if it holds fewer than `cap`; `false` when full.
    fn take_slot(
        &self,
        phone_number_id: &str,
        slot: i64,
        cap: u32,
        ttl: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

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

pub fn slot_key(phone_number_id: &str, slot: i64) -> (String, String) {
    (format!("RATE#{phone_number_id}#{slot}"), "RATE".into())
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

    async fn take_slot(
        &self,
        phone_number_id: &str,
        slot: i64,
        cap: u32,
        ttl: i64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = slot_key(phone_number_id, slot);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .update_expression("ADD n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :cap")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws("UpdateItem", e)),
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
}

impl MemorySenderStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Value, u64)>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Declares a template's category, as the processor would from a template update.
    pub fn set_template_category(&self, name: &str, language: &str, category: &str) {
        self.lock().insert(
            template_key(name, language),
            (serde_json::json!({ "category": category }), 1),
        );
    }

    /// The count in a rate slot, for assertions.
    pub fn slot_count(&self, phone_number_id: &str, slot: i64) -> u64 {
        self.lock()
            .get(&slot_key(phone_number_id, slot))
            .and_then(|(v, _)| v.get("n").and_then(Value::as_u64))
            .unwrap_or(0)
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
        self.put(attempt_key(&attempt.command_id), attempt, expect)
    }

    async fn take_slot(
        &self,
        phone_number_id: &str,
        slot: i64,
        cap: u32,
        _ttl: i64,
    ) -> Result<bool, StoreError> {
        let mut items = self.lock();
        let entry = items
            .entry(slot_key(phone_number_id, slot))
            .or_insert_with(|| (serde_json::json!({ "n": 0 }), 1));
        let n = entry.0.get("n").and_then(Value::as_u64).unwrap_or(0);
        if n >= u64::from(cap) {
            return Ok(false);
        }
        entry.0 = serde_json::json!({ "n": n + 1 });
        Ok(true)
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
