//! The processor function: every buffered update becomes DynamoDB state and CRM events, exactly
//! once in effect.
//!
//! Each SQS record is one [`BufferedUpdate`] (the webhook's format), or a claim check naming
//! where in the bucket one too large for the queue waits (read back, then the same). Messages, statuses and other
//! changes are planned against current state and committed with their events in one transaction
//! (see `shared::outbox`); the events are then published to `crm-events.fifo`. Records fail alone
//! and are reported as partial batch failures.

mod call;
mod change;
mod contact;
mod echo;
mod group;
mod history;
mod message;
pub mod payload;
mod rating;
mod state_sync;
mod user_id;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use serde_json::value::RawValue;
use shared::blob::claim::ClaimChecks;
use shared::blob::s3::{BucketConfig, S3Blobs};
use shared::blob::{keys, BlobError};
use shared::budget::{self, Deadline, RecordBudget};
use shared::config::{ConfigError, Env};
use shared::consent::{ConsentWords, DEFAULT_START_WORDS, DEFAULT_STOP_WORDS};
use shared::delivery::{self, StatusContext, StatusParseError, StatusUpdate};
use shared::due::DuePolicy;
use shared::events::EventType;
use shared::inbound::{BufferedUpdate, UpdateKind};
use shared::outbox::{Applied, OutboxError};
use shared::queue::coalesce::{self, Coalescing};
use shared::queue::{MessageSink, SqsSink};
use shared::retention::Retention;
use shared::sqs_consumer::{self, Classify, FailureClass};
use shared::store::dynamo::DynamoStore;
use shared::store::{ProcessorStore, StoreError};

/// Typed configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub crm_events_queue_url: String,
    /// `MEDIA_QUEUE_URL`: where a customer's media message queues its copy (`functions/media`).
    pub media_queue_url: String,
    /// `ALERT_LEAD_MINUTES` and `CONVERSATION_IDLE_MINUTES`: what a customer message makes due
    /// (the window's first alert, the conversation's idle close).
    pub due: DuePolicy,
    /// `RETENTION_DAYS`, `CONTACT_RETENTION_DAYS`, `CONSENT_RETENTION_DAYS`,
    /// `AUDIT_RETENTION_DAYS`: the TTL of every item written (`shared::retention`).
    pub retention: Retention,
    /// `STOP_WORDS` / `START_WORDS`.
    pub consent_words: ConsentWords,
    /// Records processed at once within a batch.
    pub concurrency: usize,
    /// `PUBLISH_LINGER_MS` (default 10): how long a record's events wait for other records'
    /// before they go out in one request (`shared::queue::coalesce`).
    pub publish_linger: Duration,
    /// `MIN_RECORD_BUDGET_MS`: the least time a record is expected to take (`shared::budget`).
    pub min_record_budget: Duration,
    /// `EXTERNAL_STATUS_PARK_SECONDS` (default 300): how long a status waits for the sender to
    /// store its wamid before it is forwarded as one of a message the bridge did not send.
    pub external_status_park: Duration,
    /// `RATING_WINDOW_MINUTES` (default 1440): how long after a rating request the customer's
    /// answer counts (`rating`).
    pub rating_window: Duration,
    /// `DATA_BUCKET`: where claim-checked updates wait.
    pub bucket: BucketConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            table_name: String::new(),
            crm_events_queue_url: String::new(),
            media_queue_url: String::new(),
            due: DuePolicy::default(),
            retention: Retention::default(),
            consent_words: ConsentWords::default(),
            concurrency: 10,
            publish_linger: coalesce::DEFAULT_LINGER,
            min_record_budget: Duration::from_secs(1),
            external_status_park: delivery::EXTERNAL_STATUS_PARK,
            rating_window: DEFAULT_RATING_WINDOW,
            bucket: BucketConfig {
                data_bucket: String::new(),
            },
        }
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let stop: String = env.parsed_or("STOP_WORDS", DEFAULT_STOP_WORDS.to_owned())?;
        let start: String = env.parsed_or("START_WORDS", DEFAULT_START_WORDS.to_owned())?;
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            crm_events_queue_url: env.required("CRM_EVENTS_QUEUE_URL")?,
            media_queue_url: env.required("MEDIA_QUEUE_URL")?,
            due: DuePolicy::from_env(env)?,
            retention: Retention::from_env(env)?,
            consent_words: ConsentWords::from_lists(&stop, &start),
            concurrency: env.parsed_or("PROCESSOR_CONCURRENCY", 10)?,
            publish_linger: coalesce::linger(env, coalesce::DEFAULT_LINGER)?,
            min_record_budget: budget::min_record_budget(env)?,
            external_status_park: env.seconds_or(
                "EXTERNAL_STATUS_PARK_SECONDS",
                delivery::EXTERNAL_STATUS_PARK,
            )?,
            rating_window: rating_window(env)?,
            bucket: BucketConfig::from_env(env)?,
        })
    }
}

/// `RATING_WINDOW_MINUTES`' default: a day.
const DEFAULT_RATING_WINDOW: Duration = Duration::from_secs(1440 * 60);

/// `RATING_WINDOW_MINUTES`: whole minutes, at least 1.
fn rating_window(env: &Env) -> Result<Duration, ConfigError> {
    let minutes: u32 = env.parsed_or("RATING_WINDOW_MINUTES", 1440)?;
    if minutes == 0 {
        return Err(ConfigError::Invalid {
            name: "RATING_WINDOW_MINUTES",
            value: "0".into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(Duration::from_secs(u64::from(minutes) * 60))
}

/// What the handler needs, built once at cold start.
pub struct State<S, Q> {
    pub store: S,
    pub events: Q,
    /// `MediaQueue`: one [`shared::media::MediaJob`] per customer media message.
    pub media: Q,
    pub config: Config,
    /// How long a record takes, measured across this environment's invocations.
    pub budget: RecordBudget,
    /// Where updates too large for the queue wait (claim checks).
    pub claims: Box<dyn ClaimChecks>,
}

/// The state wired to AWS: DynamoDB and the CRM events FIFO queue, the events of a batch's
/// records published together.
pub type LiveState = State<DynamoStore, Coalescing<SqsSink>>;

impl LiveState {
    pub fn live(config: Config, aws: &aws_config::SdkConfig) -> Self {
        let sqs = aws_sdk_sqs::Client::new(aws);
        State {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name),
            events: Coalescing::new(
                SqsSink::new(sqs.clone(), &config.crm_events_queue_url),
                config.publish_linger,
            ),
            media: Coalescing::new(
                SqsSink::new(sqs, &config.media_queue_url),
                config.publish_linger,
            ),
            budget: RecordBudget::new(config.min_record_budget),
            claims: Box::new(S3Blobs::new(aws, &config.bucket.data_bucket)),
            config,
        }
    }
}

/// Why one record failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("record has no body")]
    NoBody,
    #[error("record body is not a buffered update")]
    Undecodable(#[source] shared::redact::JsonError),
    #[error("could not apply the update")]
    Apply(#[from] OutboxError),
    /// The claim check's object is not (yet) in the bucket: retried, and after the inbound
    /// queue's receive count it rests in the DLQ, never dropped.
    #[error("no stored update at the claim check's key")]
    ClaimMissing,
    #[error("could not read a stored update")]
    Claim(#[source] BlobError),
    /// The object at the key is not the update the key names (its hash differs) or not JSON.
    #[error("the stored update does not match its claim check")]
    ClaimCorrupt,
}

impl From<StoreError> for ProcessError {
    fn from(e: StoreError) -> Self {
        Self::Apply(OutboxError::Store(e))
    }
}

impl From<serde_json::Error> for ProcessError {
    fn from(e: serde_json::Error) -> Self {
        Self::Apply(OutboxError::Encode(e))
    }
}

impl Classify for ProcessError {
    fn class(&self) -> FailureClass {
        match self {
            Self::NoBody
            | Self::Undecodable(_)
            | Self::ClaimCorrupt
            | Self::Apply(OutboxError::Encode(_)) => FailureClass::Poison,
            Self::Apply(_) | Self::ClaimMissing | Self::Claim(_) => FailureClass::Retryable,
        }
    }
}

/// The Lambda handler: the batch, with partial failures, within the invocation's deadline.
pub async fn handler<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(process_event(state, event.payload, &Deadline::of(&event.context)).await)
}

/// Processes a batch before `deadline` (the local runner calls this with its own); the ids of
/// failed records, and of records the time left could not cover, come back for SQS to redeliver.
pub async fn process_event<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    event: SqsEvent,
    deadline: &Deadline,
) -> SqsBatchResponse {
    let batch = sqs_consumer::process_batch(
        event,
        state.config.concurrency,
        deadline,
        &state.budget,
        |record| async move {
            process_record(state, &record, shared::now_ms())
                .await
                .map(|_| ())
        },
    );
    shared::metrics::invocation::scope("processor", batch).await
}

/// Processes one SQS record.
pub async fn process_record<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    record: &SqsMessage,
    now_ms: i64,
) -> Result<Applied, ProcessError> {
    let body = record.body.as_deref().ok_or(ProcessError::NoBody)?;
    let update: BufferedUpdate<'_> =
        serde_json::from_str(body).map_err(|e| ProcessError::Undecodable(e.into()))?;
    let Some(key) = &update.stored else {
        return process_update(state, &update, now_ms).await;
    };
    let bytes = redeem(state.claims.as_ref(), key).await?;
    let raw: &RawValue = serde_json::from_slice(&bytes).map_err(|_| ProcessError::ClaimCorrupt)?;
    process_update(state, &update.with_update(raw, None), now_ms).await
}

/// The bytes of a claim-checked update, checked against the key that names them.
async fn redeem(claims: &dyn ClaimChecks, key: &str) -> Result<Vec<u8>, ProcessError> {
    let bytes = claims
        .redeem(key)
        .await
        .map_err(ProcessError::Claim)?
        .ok_or(ProcessError::ClaimMissing)?;
    if keys::update(&bytes) != key {
        return Err(ProcessError::ClaimCorrupt);
    }
    Ok(bytes)
}

/// Processes one update as the webhook buffered it: its JSON is repaired where a strict parser
/// would refuse it (see [`Repaired`]) and read once into its typed model (see [`payload`]).
pub async fn process_update<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    update: &BufferedUpdate<'_>,
    now_ms: i64,
) -> Result<Applied, ProcessError> {
    let repaired = Repaired::of(update);
    let update = &repaired.view(update);
    let metadata =
        |raw: Option<&RawValue>| raw.map(|m| shared::lenient::parse::<payload::Metadata>(m.get()));
    let outcome = match update.kind {
        UpdateKind::Message => {
            let ctx = UpdateContext::new(update, metadata(update.metadata), now_ms, &state.config);
            message::process(state, &ctx, update).await?
        }
        UpdateKind::Status => {
            let ctx = UpdateContext::new(update, metadata(update.metadata), now_ms, &state.config);
            match StatusUpdate::parse(update.update, ctx.received_at) {
                Ok(status) => {
                    let sctx = StatusContext {
                        business: ctx.business.clone(),
                        waba_id: Some(ctx.waba_id.clone()),
                        now_ms,
                        retention: ctx.retention,
                    };
                    delivery::apply_status_parking(
                        &state.store,
                        &state.events,
                        &sctx,
                        &status,
                        state.config.external_status_park,
                    )
                    .await?
                }
                Err(
                    err @ (StatusParseError::UnknownStatus(_)
                    | StatusParseError::NoId
                    | StatusParseError::NotObject),
                ) => {
                    tracing::warn!(error = %err, "status forwarded as whatsapp.unknown");
                    change::forward(
                        state,
                        &ctx,
                        update,
                        &Default::default(),
                        EventType::WhatsappUnknown,
                    )
                    .await?
                }
            }
        }
        UpdateKind::Error => {
            let ctx = UpdateContext::new(update, metadata(update.metadata), now_ms, &state.config);
            change::forward(
                state,
                &ctx,
                update,
                &Default::default(),
                EventType::WhatsappError,
            )
            .await?
        }
        UpdateKind::HistoryMessage => {
            let ctx = UpdateContext::new(update, metadata(update.metadata), now_ms, &state.config);
            history::process_one(state, &ctx, update).await?
        }
        UpdateKind::Change => {
            let value = payload::change::ChangeValue::parse(&update.field, update.update.get());
            let ctx = UpdateContext::new(update, value.metadata.clone(), now_ms, &state.config);
            change::process(state, &ctx, update, &value).await?
        }
    };
    tracing::info!(kind = ?update.kind, field = %update.field, outcome = ?outcome, "update processed");
    Ok(outcome)
}

/// The update's JSON pieces with every lone surrogate escape (`\ud800` with no partner, as a
/// client truncating mid-emoji leaves) replaced by U+FFFD: strict parsers refuse the whole
/// text otherwise, which would blank every field of the message. `original` carries the
/// repaired text too, so the CRM's parser does not meet the same wall.
struct Repaired {
    update: Option<Box<RawValue>>,
    contact: Option<Box<RawValue>>,
    metadata: Option<Box<RawValue>>,
}

impl Repaired {
    fn of(u: &BufferedUpdate<'_>) -> Self {
        let repair = shared::lenient::repair_raw;
        let repaired = Self {
            update: repair(u.update),
            contact: u.contact.and_then(repair),
            metadata: u.metadata.and_then(repair),
        };
        if repaired.update.is_some() || repaired.contact.is_some() {
            tracing::warn!(field = %u.field, "lone surrogate escape replaced by U+FFFD");
        }
        repaired
    }

    fn view<'a>(&'a self, u: &BufferedUpdate<'a>) -> BufferedUpdate<'a> {
        BufferedUpdate {
            kind: u.kind,
            field: u.field.clone(),
            waba_id: u.waba_id.clone(),
            entry_time: u.entry_time,
            metadata: self.metadata.as_deref().or(u.metadata),
            contact: self.contact.as_deref().or(u.contact),
            update: self.update.as_deref().unwrap_or(u.update),
            received_at_ms: u.received_at_ms,
            thread_id: u.thread_id.clone(),
            chunk: u.chunk,
            stored: u.stored.clone(),
        }
    }
}

/// What every plan needs to know about the update it handles.
#[derive(Debug, Clone)]
pub(crate) struct UpdateContext {
    /// The business number (`phone_number_id`); `waba:<id>` when the update has no metadata.
    pub business: String,
    pub phone_number_id: Option<String>,
    pub waba_id: String,
    /// When the webhook received it (Unix seconds), the fallback for missing timestamps.
    pub received_at: i64,
    pub now_ms: i64,
    pub retention: Retention,
    pub due: DuePolicy,
    /// `RATING_WINDOW_MINUTES` in seconds.
    pub rating_window_secs: i64,
}

impl UpdateContext {
    fn new(
        update: &BufferedUpdate<'_>,
        metadata: Option<payload::Metadata>,
        now_ms: i64,
        config: &Config,
    ) -> Self {
        let phone_number_id = metadata.and_then(|m| m.phone_number_id);
        Self {
            business: phone_number_id
                .clone()
                .unwrap_or_else(|| format!("waba:{}", update.waba_id)),
            phone_number_id,
            waba_id: update.waba_id.to_string(),
            received_at: update.received_at_ms / 1000,
            now_ms,
            retention: config.retention,
            due: config.due.clone(),
            rating_window_secs: i64::try_from(config.rating_window.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// TTL of a message stored now.
    pub fn ttl(&self) -> i64 {
        self.retention.message_ttl(self.now_ms / 1000)
    }

    /// TTL of an outbox item written now.
    pub fn marker_ttl(&self) -> i64 {
        self.retention.marker_ttl(self.now_ms / 1000)
    }

    /// TTL of a conversation (or conversation alias) written now.
    pub fn conversation_ttl(&self) -> i64 {
        self.retention.conversation_ttl(self.now_ms / 1000)
    }

    pub fn source(&self, update_key: &str) -> shared::events::EventSource {
        shared::events::EventSource {
            update_key: update_key.to_owned(),
            phone_number_id: self.phone_number_id.clone(),
            waba_id: Some(self.waba_id.clone()),
        }
    }
}

/// A short stable hash for update keys of changes that carry no id of their own.
pub(crate) fn digest(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize().get(..16).unwrap_or_default())
}

#[cfg(test)]
mod config_tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut map: std::collections::BTreeMap<String, String> = [
            ("TABLE_NAME", "state"),
            ("CRM_EVENTS_QUEUE_URL", "crm-events"),
            ("MEDIA_QUEUE_URL", "media"),
            ("DATA_BUCKET", "data"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        map.retain(|_, v| !v.is_empty());
        Env::from_map(map)
    }

    #[test]
    fn the_publish_linger_is_ten_milliseconds_by_default_and_whole_milliseconds() {
        let linger =
            |v: &str| Config::from_env(&env(&[("PUBLISH_LINGER_MS", v)])).map(|c| c.publish_linger);
        assert_eq!(linger("").ok(), Some(Duration::from_millis(10)));
        assert_eq!(linger("0").ok(), Some(Duration::ZERO));
        assert_eq!(linger("25").ok(), Some(Duration::from_millis(25)));
        for bad in ["-1", "1.5", "soon"] {
            assert!(linger(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rating_window_is_a_day_by_default_and_whole_minutes_of_at_least_one() {
        let minutes = |v: &str| {
            Config::from_env(&env(&[("RATING_WINDOW_MINUTES", v)])).map(|c| c.rating_window)
        };
        assert_eq!(minutes("").ok(), Some(Duration::from_secs(86_400)));
        assert_eq!(minutes("30").ok(), Some(Duration::from_secs(1800)));
        for bad in ["0", "-5", "1.5", "soon"] {
            assert!(minutes(bad).is_err(), "{bad}");
        }
    }
}
