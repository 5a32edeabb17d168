//! The sender function: CRM commands from `crm-commands.fifo` go out through the Graph API once,
//! within Meta's rules, and each ends in one outcome event (`command.accepted`, `.rejected` or
//! `.failed`) on `crm-events.fifo`.
//!
//! The design (idempotency, "maybe sent", limiter, backoff) is in `docs/crm-contract.md`,
//! section "Commands"; [`flow`] is the one place that decides what happens to a command.

pub mod accept;
pub mod budget;
pub mod close;
pub mod command;
pub mod consent;
pub mod fifo;
pub mod flow;
pub mod graph;
pub mod limiter;
pub mod media_link;
pub mod metrics;
pub mod privacy;
pub mod rating;
pub mod schema;
pub mod store;
/// Backing records off (shared with the media function).
pub use shared::visibility;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::blob::s3::{BucketConfig, S3Blobs};
use shared::blob::Blobs;
use shared::budget::Deadline;
use shared::config::{ConfigError, Env};
use shared::privacy::SubjectKeys;
use shared::queue::coalesce::Coalescing;
use shared::queue::{MessageSink, SqsSink};
use shared::secrets::{AccessTokens, CachedSecrets, SecretSource, SecretsManagerSource};
use shared::store::dynamo::DynamoStore;
use shared::store::personal::PersonalDataStore;
use shared::store::ProcessorStore;

use crate::command::{SchemaError, Validators};
use crate::graph::{GraphApi, GraphClient};
use crate::limiter::{Limiter, Limits};
use crate::store::SenderStore;
use crate::visibility::{SqsVisibility, Visibility};

/// The function's settings, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub crm_events_queue_url: String,
    /// `COMMANDS_QUEUE_URL`: where visibility changes go.
    pub commands_queue_url: String,
    /// `SECRET_ID`: the sender's own secret, the access tokens (never the app secret).
    pub secret_id: String,
    pub secrets_refresh: Duration,
    pub graph_base_url: String,
    pub graph_version: String,
    /// `GRAPH_TIMEOUT_SECONDS`: past it a send is "maybe sent".
    pub graph_timeout: Duration,
    /// `PHONE_NUMBER_IDS`: the business numbers commands may name (comma list).
    pub phone_number_ids: Vec<String>,
    /// `RETENTION_DAYS`, `CONTACT_RETENTION_DAYS`, `CONSENT_RETENTION_DAYS`,
    /// `AUDIT_RETENTION_DAYS`: the TTL of every item written (`shared::retention`).
    pub retention: shared::retention::Retention,
    /// `SEND_RATE_PER_SECOND` (default 80), `PAIR_RATE_BURST` (40), `PAIR_RATE_INTERVAL_MS`
    /// (6000), `LIMITER_HORIZON_SECONDS` (5).
    pub limits: Limits,
    /// `MAX_IN_PROCESS_WAIT_SECONDS`: waits up to this long happen inside the invocation;
    /// longer ones defer the command through its visibility timeout.
    pub max_in_process_wait: Duration,
    /// `MAX_IN_GROUP_WAIT_SECONDS` (30): waits up to this long keep the command in its FIFO group
    /// (visibility timeout); longer ones schedule it out of the queue (`command.deferred`).
    pub max_in_group_wait: Duration,
    /// `RETRY_BASE_SECONDS` / `RETRY_MAX_SECONDS`: exponential backoff of retryable errors.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// `COMMAND_MAX_AGE_SECONDS`: a retryable command older than this fails.
    pub max_age: Duration,
    /// `CREDENTIAL_RETRY_SECONDS`: how long a command waits after a credential error.
    pub credential_retry: Duration,
    /// `OUTCOME_COMMIT_SECONDS` (5): the least time a send's outcome commit (transaction,
    /// events, parked statuses) is given in [`budget::send_budget`] (the measured time when
    /// longer); a send is claimed only while the time left covers two Graph calls and this.
    pub outcome_commit: Duration,
    /// `MIN_RECORD_BUDGET_MS`: the least time a command is expected to take (`shared::budget`).
    pub min_record_budget: Duration,
    /// Message groups processed at once within a batch.
    pub concurrency: usize,
    /// `PUBLISH_LINGER_MS` (default 150): how long a command's outcome events wait for the
    /// batch's other commands' before one request carries them all (`shared::queue::coalesce`).
    pub publish_linger: Duration,
    /// `DATA_BUCKET`: media and exports (erase deletes, export writes and presigns).
    pub bucket: BucketConfig,
    /// `PRIVACY_SECRET_ID`: the key of the hash that replaces an erased person's identifiers.
    pub privacy_secret_id: String,
    /// `EXPORT_URL_MINUTES` (60): how long an export's presigned URL serves it.
    pub export_url: Duration,
    /// `MEDIA_LINK_MINUTES` (default 15): how long the presigned link of a `send_media` by `key`
    /// works (`media_link`).
    pub media_link: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let phone_ids: String = env.required("PHONE_NUMBER_IDS")?;
        let phone_number_ids: Vec<String> = phone_ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if phone_number_ids.is_empty()
            || phone_number_ids
                .iter()
                .any(|p| !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::Invalid {
                name: "PHONE_NUMBER_IDS",
                value: phone_ids,
                reason: "expected a comma list of phone number ids (digits)".into(),
            });
        }
        let rate: u32 = env.parsed_or("SEND_RATE_PER_SECOND", 80)?;
        if rate == 0 {
            return Err(ConfigError::Invalid {
                name: "SEND_RATE_PER_SECOND",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let graph_timeout = env.seconds_or("GRAPH_TIMEOUT_SECONDS", Duration::from_secs(10))?;
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            crm_events_queue_url: env.required("CRM_EVENTS_QUEUE_URL")?,
            commands_queue_url: env.required("COMMANDS_QUEUE_URL")?,
            secret_id: env.required("SECRET_ID")?,
            secrets_refresh: env.seconds_or("SECRETS_REFRESH_SECONDS", Duration::from_secs(300))?,
            graph_base_url: env.required("GRAPH_API_BASE_URL")?,
            graph_version: env.required("GRAPH_API_VERSION")?,
            graph_timeout,
            phone_number_ids,
            retention: shared::retention::Retention::from_env(env)?,
            limits: Limits::new(
                rate,
                env.parsed_or("PAIR_RATE_BURST", 40)?,
                Duration::from_millis(env.parsed_or("PAIR_RATE_INTERVAL_MS", 6000)?),
                env.seconds_or("LIMITER_HORIZON_SECONDS", Duration::from_secs(5))?,
            ),
            max_in_process_wait: env
                .seconds_or("MAX_IN_PROCESS_WAIT_SECONDS", Duration::from_secs(5))?,
            max_in_group_wait: env
                .seconds_or("MAX_IN_GROUP_WAIT_SECONDS", Duration::from_secs(30))?,
            retry_base: env.seconds_or("RETRY_BASE_SECONDS", Duration::from_secs(2))?,
            retry_max: env.seconds_or("RETRY_MAX_SECONDS", Duration::from_secs(300))?,
            max_age: env.seconds_or("COMMAND_MAX_AGE_SECONDS", Duration::from_secs(3600))?,
            credential_retry: env
                .seconds_or("CREDENTIAL_RETRY_SECONDS", Duration::from_secs(300))?,
            outcome_commit: env.seconds_or("OUTCOME_COMMIT_SECONDS", Duration::from_secs(5))?,
            min_record_budget: shared::budget::min_record_budget(env)?,
            concurrency: env.parsed_or("SENDER_CONCURRENCY", 10)?,
            publish_linger: shared::queue::coalesce::linger(env, PUBLISH_LINGER)?,
            bucket: BucketConfig::from_env(env)?,
            privacy_secret_id: env.required("PRIVACY_SECRET_ID")?,
            export_url: Duration::from_secs(
                60 * u64::from(
                    env.parsed_or("EXPORT_URL_MINUTES", 60u32)?
                        .clamp(1, 7 * 24 * 60),
                ),
            ),
            media_link: media_link(env)?,
        })
    }
}

/// `PUBLISH_LINGER_MS`' default for the sender: the limiter spaces a number's sends 1/rate apart
/// (12.8 ms at 80/s), so the ten commands of a batch reach their outcomes over ~130 ms.
const PUBLISH_LINGER: Duration = Duration::from_millis(150);

/// `MEDIA_LINK_MINUTES`: whole minutes, 1 to 10080 (a presigned URL lives at most 7 days).
fn media_link(env: &Env) -> Result<Duration, ConfigError> {
    let minutes: u32 = env.parsed_or("MEDIA_LINK_MINUTES", 15)?;
    if !(1..=10_080).contains(&minutes) {
        return Err(ConfigError::Invalid {
            name: "MEDIA_LINK_MINUTES",
            value: minutes.to_string(),
            reason: "must be 1 to 10080 (7 days)".into(),
        });
    }
    Ok(Duration::from_secs(u64::from(minutes) * 60))
}

/// The bucket and the privacy key, for `erase_contact` and `export_contact`.
pub struct Privacy<B, K: SecretSource<Value = SubjectKeys>> {
    pub blobs: B,
    pub keys: CachedSecrets<K>,
}

/// What erasure and export need besides the state table.
pub trait PrivacyPorts: Sync {
    type Blobs: Blobs;
    type Keys: SecretSource<Value = SubjectKeys>;

    fn blobs(&self) -> &Self::Blobs;
    fn keys(&self) -> &CachedSecrets<Self::Keys>;
}

impl<B: Blobs, K: SecretSource<Value = SubjectKeys>> PrivacyPorts for Privacy<B, K> {
    type Blobs = B;
    type Keys = K;

    fn blobs(&self) -> &B {
        &self.blobs
    }
    fn keys(&self) -> &CachedSecrets<K> {
        &self.keys
    }
}

/// What the handler needs, built once at cold start.
pub struct State<S, L, Q, G, V, P> {
    pub config: Config,
    /// The shared state table: contacts, conversations, messages, outbox.
    pub store: S,
    /// The sender's own items: attempts, limiter counters, template categories.
    pub sender_store: L,
    pub events: Q,
    pub graph: G,
    pub visibility: V,
    pub limiter: Limiter,
    pub validators: Validators,
    /// How long a command and a send's outcome take, measured across this environment's
    /// invocations.
    pub budgets: budget::Budgets,
    pub privacy: P,
}

/// The state as the flow sees it: the ports' types named once, so each step of the flow takes
/// `&impl Ports` rather than five type parameters.
pub trait Ports: Sync {
    type Store: ProcessorStore + PersonalDataStore;
    type Items: SenderStore;
    type Events: MessageSink;
    type Graph: GraphApi;
    type Privacy: PrivacyPorts;

    /// The shared state table: contacts, conversations, messages, outbox.
    fn store(&self) -> &Self::Store;
    /// The sender's own items: attempts, limiter clocks, template categories.
    fn items(&self) -> &Self::Items;
    fn events(&self) -> &Self::Events;
    fn graph(&self) -> &Self::Graph;
    fn config(&self) -> &Config;
    fn limiter(&self) -> &Limiter;
    fn validators(&self) -> &Validators;
    /// The bucket (erasure, export, `send_media` by `key`) and the privacy key.
    fn privacy(&self) -> &Self::Privacy;
}

impl<S, L, Q, G, V, P> Ports for State<S, L, Q, G, V, P>
where
    S: ProcessorStore + PersonalDataStore,
    L: SenderStore,
    Q: MessageSink,
    G: GraphApi,
    V: Sync,
    P: PrivacyPorts,
{
    type Store = S;
    type Items = L;
    type Events = Q;
    type Graph = G;
    type Privacy = P;

    fn store(&self) -> &S {
        &self.store
    }
    fn items(&self) -> &L {
        &self.sender_store
    }
    fn events(&self) -> &Q {
        &self.events
    }
    fn graph(&self) -> &G {
        &self.graph
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn limiter(&self) -> &Limiter {
        &self.limiter
    }
    fn validators(&self) -> &Validators {
        &self.validators
    }
    fn privacy(&self) -> &P {
        &self.privacy
    }
}

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("could not build the Graph API HTTP client")]
    Http(#[from] reqwest::Error),
}

/// The state wired to AWS and Meta.
pub type LiveState = State<
    DynamoStore,
    DynamoStore,
    Coalescing<SqsSink>,
    GraphClient<SecretsManagerSource<AccessTokens>>,
    SqsVisibility,
    Privacy<S3Blobs, SecretsManagerSource<SubjectKeys>>,
>;

impl LiveState {
    pub fn live(config: &Config, aws: &aws_config::SdkConfig) -> Result<Self, StartError> {
        let dynamo = aws_sdk_dynamodb::Client::new(aws);
        let sqs = aws_sdk_sqs::Client::new(aws);
        let secrets_client = aws_sdk_secretsmanager::Client::new(aws);
        let secrets = CachedSecrets::new(
            SecretsManagerSource::new(secrets_client.clone(), &config.secret_id),
            config.secrets_refresh,
        );
        let privacy = Privacy {
            blobs: S3Blobs::new(aws, &config.bucket.data_bucket),
            keys: CachedSecrets::new(
                SecretsManagerSource::new(secrets_client, &config.privacy_secret_id),
                config.secrets_refresh,
            ),
        };
        Ok(State {
            store: DynamoStore::new(dynamo.clone(), &config.table_name),
            sender_store: DynamoStore::new(dynamo, &config.table_name),
            events: Coalescing::new(
                SqsSink::new(sqs.clone(), &config.crm_events_queue_url),
                config.publish_linger,
            ),
            graph: GraphClient::new(
                &config.graph_base_url,
                &config.graph_version,
                config.graph_timeout,
                secrets,
            )?,
            visibility: SqsVisibility::new(sqs, &config.commands_queue_url),
            limiter: Limiter::new(config.limits.clone()),
            validators: Validators::load()?,
            budgets: budget::Budgets::new(config),
            config: config.clone(),
            privacy,
        })
    }
}

/// Time kept after the visibility changes for the runtime to post the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(200);

/// The Lambda handler (also called by the local runner, with its own deadline): every record is
/// consumed or deferred before `deadline`; deferred records, and those the time left could not
/// cover, get their visibility timeout set and are reported as batch failures.
pub async fn handler<S, L, Q, G, V, P>(
    state: &State<S, L, Q, G, V, P>,
    event: SqsEvent,
    deadline: &Deadline,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    S: ProcessorStore + PersonalDataStore,
    L: SenderStore,
    Q: MessageSink,
    G: GraphApi,
    V: Visibility,
    P: PrivacyPorts,
{
    let total = event.records.len();
    let started = std::time::Instant::now();
    let batch = fifo::process(
        event.records,
        state.config.concurrency,
        deadline,
        &state.budgets,
        |record, time| async move { flow::process(state, record, &time).await },
    );
    let failed = shared::metrics::invocation::scope("sender", batch).await;
    // SQS counts 12 h from the receive, which came before this invocation started.
    let since_receive = started.elapsed() + visibility::RECEIVE_ALLOWANCE;
    let entries: Vec<(String, Duration)> = failed
        .iter()
        .filter_map(|f| {
            f.receipt_handle
                .clone()
                .map(|r| (r, visibility::allowed(f.delay, since_receive)))
        })
        .collect();
    if !entries.is_empty() {
        // Bounded by the deadline too: past it Lambda would stop the invocation and SQS
        // redeliver the whole batch, finished commands included (seen with a slow local AWS).
        let last_moment = deadline.instant() - ANSWER_MARGIN.min(deadline.length());
        match tokio::time::timeout_at(last_moment, state.visibility.defer(entries)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %shared::telemetry::error_chain(&err), "could not set visibility; deferred commands come back after the queue's timeout");
            }
            Err(_) => tracing::warn!(
                "no time left to set visibility; deferred commands come back after the queue's timeout"
            ),
        }
        tracing::info!(
            deferred = failed.len(),
            total,
            "batch finished with deferred commands"
        );
    }
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed.into_iter().map(|f| f.message_id).collect::<Vec<_>>());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config_with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let base = [
            ("PHONE_NUMBER_IDS", "106540352242922"),
            ("TABLE_NAME", "t"),
            ("CRM_EVENTS_QUEUE_URL", "e"),
            ("COMMANDS_QUEUE_URL", "c"),
            ("SECRET_ID", "s"),
            ("DATA_BUCKET", "data"),
            ("GRAPH_API_BASE_URL", "http://graph.invalid"),
            ("GRAPH_API_VERSION", "v23.0"),
            ("PRIVACY_SECRET_ID", "privacy"),
        ];
        let map: BTreeMap<String, String> = base
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(&Env::from_map(map))
    }

    #[test]
    fn outcomes_linger_150_ms_for_the_batch_unless_publish_linger_ms_says_otherwise() {
        let linger = |extra: &[(&str, &str)]| config_with(extra).map(|c| c.publish_linger);
        assert_eq!(linger(&[]).ok(), Some(Duration::from_millis(150)));
        assert_eq!(
            linger(&[("PUBLISH_LINGER_MS", "0")]).ok(),
            Some(Duration::ZERO)
        );
        assert!(linger(&[("PUBLISH_LINGER_MS", "soon")]).is_err());
    }
}
