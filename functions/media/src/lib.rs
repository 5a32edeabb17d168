//! The media function: each customer media message the processor committed is copied from the
//! Graph API into the bridge's bucket, and the CRM learns where it is from
//! `message.media_stored` (or, when Meta no longer has it, `message.media_failed`).
//!
//! Fed by `MediaQueue` (one [`MediaJob`] per record), so the processor never waits for a
//! download. A failed copy (Graph 5xx, timeout, expired URL, sha256 mismatch, S3 or DynamoDB
//! unavailable) is reported as a partial batch failure with its visibility set to a backoff that
//! grows with its receive count; after `MaxReceiveCount` receives SQS moves it to
//! `MediaDeadLetterQueue`, which has an alarm.

mod copy;
pub mod graph;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::blob::s3::{BucketConfig, S3Blobs};
use shared::blob::{BlobError, Blobs};
use shared::budget::{self, Deadline, RecordBudget};
use shared::config::{ConfigError, Env};
use shared::media::MediaJob;
use shared::outbox::{Applied, OutboxError};
use shared::queue::{MessageSink, SqsSink};
use shared::secrets::{AccessTokens, CachedSecrets, SecretsManagerSource};
use shared::sqs_consumer::{self, Classify, FailureClass};
use shared::store::dynamo::DynamoStore;
use shared::store::{ProcessorStore, StoreError};
use shared::visibility::{self, SqsVisibility, Visibility};

pub use crate::copy::copy;
use crate::graph::{FetchError, GraphMedia, MediaSource};

/// Typed configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub crm_events_queue_url: String,
    /// `MEDIA_QUEUE_URL`: the queue this function consumes (its visibility changes).
    pub media_queue_url: String,
    /// `DATA_BUCKET`.
    pub bucket: BucketConfig,
    pub graph_base_url: String,
    pub graph_version: String,
    /// `GRAPH_TIMEOUT_SECONDS` (default 20): one Graph call, the download included.
    pub graph_timeout: Duration,
    /// `SECRET_ID`: the access tokens (the sender's secret).
    pub secret_id: String,
    pub secrets_refresh: Duration,
    /// `RETENTION_DAYS`: the outbox items' lifetime (at least 8 days, as the processor's).
    pub retention_days: u32,
    /// `MEDIA_MAX_BYTES` (default 100 MiB, Meta's largest media): larger files are not kept.
    pub max_bytes: usize,
    /// `MEDIA_RETRY_BASE_SECONDS` (default 10): the first retry's backoff, doubled per receive.
    pub retry_base: Duration,
    /// `MEDIA_RETRY_MAX_SECONDS` (default 900): the longest backoff.
    pub retry_max: Duration,
    /// Records processed at once within a batch.
    pub concurrency: usize,
    pub min_record_budget: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            table_name: String::new(),
            crm_events_queue_url: String::new(),
            media_queue_url: String::new(),
            bucket: BucketConfig {
                data_bucket: String::new(),
            },
            graph_base_url: String::new(),
            graph_version: "v25.0".into(),
            graph_timeout: Duration::from_secs(20),
            secret_id: String::new(),
            secrets_refresh: Duration::from_secs(300),
            retention_days: 90,
            max_bytes: DEFAULT_MAX_BYTES,
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(900),
            concurrency: 4,
            min_record_budget: Duration::from_secs(1),
        }
    }
}

/// Meta's largest media (documents): 100 MB.
const DEFAULT_MAX_BYTES: usize = 100 * 1024 * 1024;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let retention_days: u32 = env.parsed_or("RETENTION_DAYS", 90)?;
        let max_bytes: usize = env.parsed_or("MEDIA_MAX_BYTES", DEFAULT_MAX_BYTES)?;
        for (name, value) in [
            ("RETENTION_DAYS", retention_days as usize),
            ("MEDIA_MAX_BYTES", max_bytes),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        let retry_base = env.seconds_or("MEDIA_RETRY_BASE_SECONDS", defaults.retry_base)?;
        let retry_max = env.seconds_or("MEDIA_RETRY_MAX_SECONDS", defaults.retry_max)?;
        if retry_max < retry_base {
            return Err(ConfigError::Invalid {
                name: "MEDIA_RETRY_MAX_SECONDS",
                value: retry_max.as_secs().to_string(),
                reason: "must be at least MEDIA_RETRY_BASE_SECONDS".into(),
            });
        }
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            crm_events_queue_url: env.required("CRM_EVENTS_QUEUE_URL")?,
            media_queue_url: env.required("MEDIA_QUEUE_URL")?,
            bucket: BucketConfig::from_env(env)?,
            graph_base_url: env.required("GRAPH_API_BASE_URL")?,
            graph_version: env.required("GRAPH_API_VERSION")?,
            graph_timeout: env.seconds_or("GRAPH_TIMEOUT_SECONDS", defaults.graph_timeout)?,
            secret_id: env.required("SECRET_ID")?,
            secrets_refresh: env.seconds_or("SECRETS_REFRESH_SECONDS", defaults.secrets_refresh)?,
            retention_days,
            max_bytes,
            retry_base,
            retry_max,
            concurrency: env.parsed_or("MEDIA_CONCURRENCY", defaults.concurrency)?,
            min_record_budget: budget::min_record_budget(env)?,
        })
    }

    /// Lifetime of the copy's outbox item: the retention, at least 8 days (as the processor's).
    pub fn marker_secs(&self) -> i64 {
        (i64::from(self.retention_days) * 86_400).max(8 * 86_400)
    }
}

/// What the handler needs, built once at cold start.
pub struct State<S, Q, B, G, V> {
    pub store: S,
    pub events: Q,
    pub blobs: B,
    pub graph: G,
    pub visibility: V,
    pub config: Config,
    pub budget: RecordBudget,
}

/// The state wired to AWS and Meta.
pub type LiveState = State<
    DynamoStore,
    SqsSink,
    S3Blobs,
    GraphMedia<SecretsManagerSource<AccessTokens>>,
    SqsVisibility,
>;

impl LiveState {
    pub fn live(config: Config, aws: &aws_config::SdkConfig) -> Result<Self, reqwest::Error> {
        let sqs = aws_sdk_sqs::Client::new(aws);
        let secrets = CachedSecrets::new(
            SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(aws), &config.secret_id),
            config.secrets_refresh,
        );
        Ok(State {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name),
            events: SqsSink::new(sqs.clone(), &config.crm_events_queue_url),
            blobs: S3Blobs::new(aws, &config.bucket.data_bucket),
            graph: GraphMedia::new(
                &config.graph_base_url,
                &config.graph_version,
                config.graph_timeout,
                config.max_bytes,
                secrets,
            )?,
            visibility: SqsVisibility::new(sqs, &config.media_queue_url),
            budget: RecordBudget::new(config.min_record_budget),
            config,
        })
    }
}

/// Why one copy failed; every case but an unreadable record is worth a retry.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("record has no body")]
    NoBody,
    #[error("record body is not a media job")]
    Undecodable(#[source] shared::redact::JsonError),
    #[error("could not commit the copy")]
    Outbox(#[from] OutboxError),
    #[error("could not fetch the media")]
    Fetch(#[from] FetchError),
    #[error("the bytes' sha256 is not Meta's")]
    Mismatch,
    #[error("could not store the media")]
    Blob(#[from] BlobError),
}

impl From<StoreError> for CopyError {
    fn from(e: StoreError) -> Self {
        Self::Outbox(OutboxError::Store(e))
    }
}

impl From<serde_json::Error> for CopyError {
    fn from(e: serde_json::Error) -> Self {
        Self::Outbox(OutboxError::Encode(e))
    }
}

impl Classify for CopyError {
    fn class(&self) -> FailureClass {
        match self {
            Self::NoBody | Self::Undecodable(_) | Self::Outbox(OutboxError::Encode(_)) => {
                FailureClass::Poison
            }
            _ => FailureClass::Retryable,
        }
    }
}

/// The Lambda handler: the batch, with partial failures, within the invocation's deadline.
pub async fn handler<S, Q, B, G, V>(
    state: &State<S, Q, B, G, V>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    S: ProcessorStore,
    Q: MessageSink,
    B: Blobs,
    G: MediaSource,
    V: Visibility,
{
    Ok(process_event(state, event.payload, &Deadline::of(&event.context)).await)
}

/// Processes a batch before `deadline`; failed records get their backoff as visibility and come
/// back as batch item failures.
pub async fn process_event<S, Q, B, G, V>(
    state: &State<S, Q, B, G, V>,
    event: SqsEvent,
    deadline: &Deadline,
) -> SqsBatchResponse
where
    S: ProcessorStore,
    Q: MessageSink,
    B: Blobs,
    G: MediaSource,
    V: Visibility,
{
    let started = std::time::Instant::now();
    let received: Vec<(String, Option<String>, u32)> = event
        .records
        .iter()
        .map(|r| {
            (
                r.message_id.clone().unwrap_or_default(),
                r.receipt_handle.clone(),
                receive_count(r),
            )
        })
        .collect();
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
    let response = shared::metrics::invocation::scope("media", batch).await;
    let since_receive = started.elapsed() + visibility::RECEIVE_ALLOWANCE;
    let entries: Vec<(String, Duration)> = response
        .batch_item_failures
        .iter()
        .filter_map(|f| received.iter().find(|(id, _, _)| *id == f.item_identifier))
        .filter_map(|(_, receipt, count)| {
            let delay = retry_delay(&state.config, *count);
            receipt
                .clone()
                .map(|r| (r, visibility::allowed(delay, since_receive)))
        })
        .collect();
    if !entries.is_empty() {
        if let Err(err) = state.visibility.defer(entries).await {
            tracing::warn!(error = %shared::telemetry::error_chain(&err), "could not set visibility; failed copies come back after the queue's timeout");
        }
    }
    response
}

/// The backoff before the next attempt of a record received `count` times: doubling from
/// `MEDIA_RETRY_BASE_SECONDS`, capped at `MEDIA_RETRY_MAX_SECONDS`, with jitter.
pub fn retry_delay(config: &Config, count: u32) -> Duration {
    visibility::backoff(count.saturating_sub(1), config.retry_base, config.retry_max)
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Processes one SQS record: one media job.
pub async fn process_record<S, Q, B, G, V>(
    state: &State<S, Q, B, G, V>,
    record: &SqsMessage,
    now_ms: i64,
) -> Result<Applied, CopyError>
where
    S: ProcessorStore,
    Q: MessageSink,
    B: Blobs,
    G: MediaSource,
{
    let body = record.body.as_deref().ok_or(CopyError::NoBody)?;
    let job: MediaJob = serde_json::from_str(body).map_err(|e| CopyError::Undecodable(e.into()))?;
    let span = tracing::info_span!("copy", message_type = %job.message_type);
    let _enter = span.enter();
    let applied = copy(state, &job, now_ms).await?;
    tracing::info!(outcome = ?applied, "media copy processed");
    Ok(applied)
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
            ("GRAPH_API_BASE_URL", "https://graph.facebook.com"),
            ("GRAPH_API_VERSION", "v25.0"),
            ("SECRET_ID", "meta-access"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        map.retain(|_, v| !v.is_empty());
        Env::from_map(map)
    }

    #[test]
    fn reads_the_media_settings_with_their_defaults() {
        let config = Config::from_env(&env(&[])).expect("valid");
        assert_eq!(config.max_bytes, 100 * 1024 * 1024);
        assert_eq!(config.retry_base, Duration::from_secs(10));
        assert_eq!(config.retry_max, Duration::from_secs(900));
        let config = Config::from_env(&env(&[
            ("MEDIA_MAX_BYTES", "1024"),
            ("MEDIA_RETRY_BASE_SECONDS", "2"),
            ("MEDIA_RETRY_MAX_SECONDS", "60"),
        ]))
        .expect("valid");
        assert_eq!(config.max_bytes, 1024);
        assert_eq!(config.retry_base, Duration::from_secs(2));
        assert_eq!(config.retry_max, Duration::from_secs(60));
    }

    #[test]
    fn refuses_a_zero_limit_a_backoff_cap_under_its_base_and_a_missing_bucket() {
        assert!(Config::from_env(&env(&[("MEDIA_MAX_BYTES", "0")])).is_err());
        assert!(Config::from_env(&env(&[
            ("MEDIA_RETRY_BASE_SECONDS", "60"),
            ("MEDIA_RETRY_MAX_SECONDS", "10")
        ]))
        .is_err());
        assert!(Config::from_env(&env(&[("DATA_BUCKET", "")])).is_err());
    }

    #[test]
    fn the_backoff_grows_with_the_receive_count_up_to_its_cap() {
        let config = Config::default();
        let first = retry_delay(&config, 1);
        assert!(
            first >= Duration::from_secs(5) && first <= Duration::from_secs(10),
            "{first:?}"
        );
        let third = retry_delay(&config, 3);
        assert!(
            third >= Duration::from_secs(20) && third <= Duration::from_secs(40),
            "{third:?}"
        );
        let late = retry_delay(&config, 30);
        assert!(
            late <= Duration::from_secs(900) && late >= Duration::from_secs(450),
            "{late:?}"
        );
    }
}
