//! The window-alerts function: on a schedule, tells the CRM that a customer's 24-hour window is
//! about to close (`window.expiring`, once per configured lead) and that it closed
//! (`window.expired`, with `conversation.abandoned` when the customer of the open helpdesk
//! conversation was never answered), and closes conversations idle for
//! `CONVERSATION_IDLE_MINUTES` (`conversation.closed`, `closed_by: idle`). On the same tick it puts commands the sender scheduled back on the
//! commands queue once they are due ([`commands`]), and forwards statuses parked longer than
//! `EXTERNAL_STATUS_PARK_SECONDS` as those of messages the bridge did not send
//! (`shared::delivery::external`).
//!
//! A run queries the `due-index` bucket by bucket for conversations with `due_at <= now` (its cost
//! follows what is due, not the number of contacts), re-reads each one consistently and takes the
//! step `shared::due` decides. An alert is committed with its outbox event in one
//! conditional transaction (keyed by conversation, deadline and lead), published, then the
//! conversation is re-armed for its next deadline — so overlapping runs, retries and crashes
//! send each alert once in effect (see `shared::window` and `docs/data-model.md`).

pub mod commands;

use std::time::Duration;

use futures::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::config::{ConfigError, Env};
use shared::conversation::{self, ClosedBy, Lifecycle};
use shared::due::{DuePolicy, Step};
use shared::events::{self, ContactRef, EventSource, EventType};
use shared::outbox::{self, OutboxError};
use shared::queue::coalesce::{self, Coalescing};
use shared::queue::{MessageSink, SqsSink};
use shared::retention::Retention;
use shared::store::due::{DueEntry, DueStore};
use shared::store::dynamo::DynamoStore;
use shared::store::parked::ParkedStore;
use shared::store::scheduled::ScheduleStore;
use shared::store::{
    keys, Commit, CommitOutcome, ContactRecord, ConversationRecord, Expect, StoreError, Versioned,
    Write, DUE_BUCKETS,
};
use shared::window::Alert;
use tracing::Instrument;

/// Outbox items of alerts outlive any retry by far; the conversation's `alerted_leads`, not the
/// outbox, is what keeps an alert from being sent twice. (What forwarding a parked status writes
/// lives `RETENTION_DAYS`, at least 8 days, like the processor's.)
const OUTBOX_TTL: Duration = Duration::from_secs(8 * 86_400);

/// Steps one conversation may take in a run (send, finish, re-arm, and re-reads after
/// collisions with other writers) before it is left for the next run.
const MAX_STEPS: usize = 8;

/// Typed configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub crm_events_queue_url: String,
    /// `COMMANDS_QUEUE_URL`: where due scheduled commands go back.
    pub commands_queue_url: String,
    /// `ALERT_LEAD_MINUTES` (default `60,15`) and `CONVERSATION_IDLE_MINUTES` (default 1440):
    /// what is due when (`shared::due`).
    pub due: DuePolicy,
    /// `ALERT_CONCURRENCY`: due conversations handled at once (default 8).
    pub concurrency: usize,
    /// `ALERT_PAGE_SIZE`: index entries per query (default 100).
    pub page_size: usize,
    /// `RETENTION_DAYS`, `CONTACT_RETENTION_DAYS`, … (`shared::retention`): the TTL of the
    /// conversations, external messages and outbox items it writes.
    pub retention: Retention,
    /// `PUBLISH_LINGER_MS` (default 10): how long a conversation's alert waits for the others
    /// settled alongside it before one request carries them all (`shared::queue::coalesce`).
    pub publish_linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            table_name: String::new(),
            crm_events_queue_url: String::new(),
            commands_queue_url: String::new(),
            due: DuePolicy::default(),
            concurrency: 8,
            page_size: 100,
            retention: Retention::default(),
            publish_linger: coalesce::DEFAULT_LINGER,
        }
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            crm_events_queue_url: env.required("CRM_EVENTS_QUEUE_URL")?,
            commands_queue_url: env.required("COMMANDS_QUEUE_URL")?,
            due: DuePolicy::from_env(env)?,
            concurrency: env.parsed_or("ALERT_CONCURRENCY", 8usize)?.max(1),
            page_size: env.parsed_or("ALERT_PAGE_SIZE", 100usize)?.clamp(1, 1000),
            retention: Retention::from_env(env)?,
            publish_linger: coalesce::linger(env, coalesce::DEFAULT_LINGER)?,
        })
    }
}

/// What a run needs, built once at cold start.
pub struct State<S, Q> {
    pub store: S,
    pub events: Q,
    /// `crm-commands.fifo`, for scheduled commands that are due.
    pub commands: Q,
    pub config: Config,
}

/// The state wired to AWS: the state table and the CRM events FIFO queue (the alerts of
/// conversations settled at once share requests).
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
            // Due commands already go out a page at a time: nothing to wait for (the same sink
            // type as the events; a page goes in requests of ten, one after the other).
            commands: Coalescing::new(
                SqsSink::new(sqs, &config.commands_queue_url),
                Duration::ZERO,
            ),
            config,
        }
    }
}

/// What one run did; logged, returned by the Lambda, asserted by tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Entries of the `due-index` the queries read.
    pub index_items_read: usize,
    /// Conversations re-read consistently (one per due entry, plus re-reads after collisions).
    pub windows_read: usize,
    /// `window.expiring` events committed and published by this run.
    pub expiring: usize,
    /// `window.expired` events committed and published by this run.
    pub expired: usize,
    /// Alerts committed earlier whose publishing this run completed.
    pub finished: usize,
    /// Conversations whose `due_at` was moved without an alert.
    pub rearmed: usize,
    /// Helpdesk conversations closed for lack of messages (`conversation.closed`, `idle`).
    pub idle_closed: usize,
    /// `conversation.abandoned` events committed by this run (window expiry or idle close).
    pub abandoned: usize,
    /// Conversations left for the next run after an error.
    pub failed: usize,
    /// Scheduled commands put back on the commands queue.
    pub commands_released: usize,
    /// Statuses forwarded after their park time (messages the bridge did not send).
    pub external_statuses: usize,
}

impl RunReport {
    fn add(&mut self, o: &Settled) {
        self.windows_read += o.windows_read;
        self.expiring += o.expiring;
        self.expired += o.expired;
        self.finished += o.finished;
        self.rearmed += o.rearmed;
        self.idle_closed += o.idle_closed;
        self.abandoned += o.abandoned;
    }
}

/// Why a run stopped early (its remaining work is the next run's).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("could not query the due-index")]
    Index(#[source] StoreError),
    #[error("{failed} due conversations could not be handled; the next run retries them")]
    Incomplete { failed: usize },
    #[error("due scheduled commands were not all put back; the next run retries them")]
    Commands(#[from] commands::ReleaseError),
    #[error("could not read the parked statuses; the next run retries them")]
    ParkedIndex(#[source] OutboxError),
    #[error("statuses of {failed} messages were not forwarded; the next run retries them")]
    ParkedStatuses { failed: usize },
}

/// Why one conversation was left for the next run.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("state table unavailable")]
    Store(#[from] StoreError),
    #[error("could not publish the alert")]
    Publish(#[from] OutboxError),
    #[error("could not encode the alert")]
    Encode(#[from] serde_json::Error),
    #[error("conversation kept changing under this run")]
    Contended,
}

/// The Lambda handler (EventBridge Scheduler's payload is not needed: the time is now). The
/// run's business metrics are written when it ends.
pub async fn handler<S: DueStore + ScheduleStore + ParkedStore, Q: MessageSink>(
    state: &State<S, Q>,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<RunReport, lambda_runtime::Error> {
    let run = scheduled_run(state, shared::now_ms());
    Ok(shared::metrics::invocation::scope("window-alerts", run).await?)
}

/// [`run_once`] as the schedule sees it (the Lambda and the local runner): a run that left
/// conversations for later fails, so it shows in the function's Errors metric.
pub async fn scheduled_run<S: DueStore + ScheduleStore + ParkedStore, Q: MessageSink>(
    state: &State<S, Q>,
    now_ms: i64,
) -> Result<RunReport, RunError> {
    let mut report = run_once(state, now_ms).await?;
    report.commands_released = commands::release_due(
        &state.store,
        &state.commands,
        now_ms.div_euclid(1000),
        state.config.page_size,
    )
    .await?;
    if report.commands_released > 0 {
        tracing::info!(
            released = report.commands_released,
            "scheduled commands put back on the queue"
        );
    }
    let released = shared::delivery::external::release_due(
        &state.store,
        &state.events,
        now_ms,
        state.config.page_size,
        &state.config.retention,
    )
    .await
    .map_err(RunError::ParkedIndex)?;
    report.external_statuses = released.forwarded;
    if released.forwarded > 0 {
        tracing::info!(
            forwarded = released.forwarded,
            "parked statuses forwarded after their wait"
        );
    }
    if released.failed > 0 {
        return Err(RunError::ParkedStatuses {
            failed: released.failed,
        });
    }
    if report.failed > 0 {
        return Err(RunError::Incomplete {
            failed: report.failed,
        });
    }
    Ok(report)
}

/// One run at `now_ms`: every due window gets the alerts that are due, once.
pub async fn run_once<S: DueStore, Q: MessageSink>(
    state: &State<S, Q>,
    now_ms: i64,
) -> Result<RunReport, RunError> {
    let now = now_ms.div_euclid(1000);
    let span = tracing::info_span!("window_alerts_run", now);
    async move {
        let mut report = RunReport::default();
        for b in 0..DUE_BUCKETS {
            let bucket = format!("DUE#{b}");
            let mut after = None;
            loop {
                let page = state
                    .store
                    .due_page(&bucket, now, after.take(), state.config.page_size)
                    .await
                    .map_err(RunError::Index)?;
                report.index_items_read += page.items_read;
                let outcomes: Vec<_> = stream::iter(page.entries)
                    .map(|entry| settle_logged(state, entry, now))
                    .buffer_unordered(state.config.concurrency)
                    .collect()
                    .await;
                for outcome in outcomes {
                    match outcome {
                        Ok(o) => report.add(&o),
                        Err(()) => report.failed += 1,
                    }
                }
                match page.next {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
        }
        tracing::info!(
            index_items_read = report.index_items_read,
            windows_read = report.windows_read,
            expiring = report.expiring,
            expired = report.expired,
            finished = report.finished,
            rearmed = report.rearmed,
            idle_closed = report.idle_closed,
            abandoned = report.abandoned,
            failed = report.failed,
            "window-alerts run done"
        );
        Ok(report)
    }
    .instrument(span)
    .await
}

/// What happened to one due conversation.
#[derive(Debug, Default)]
struct Settled {
    windows_read: usize,
    expiring: usize,
    expired: usize,
    finished: usize,
    rearmed: usize,
    idle_closed: usize,
    abandoned: usize,
}

async fn settle_logged<S: DueStore, Q: MessageSink>(
    state: &State<S, Q>,
    entry: DueEntry,
    now: i64,
) -> Result<Settled, ()> {
    let span = tracing::info_span!(
        "due_window",
        contact_id = %entry.contact_id,
        business = %entry.business,
        due_at = entry.due_at
    );
    settle(state, &entry, now)
        .instrument(span.clone())
        .await
        .map_err(|err| {
            span.in_scope(|| {
                tracing::warn!(error = %shared::telemetry::error_chain(&err), "left for the next run");
            });
        })
}

/// Takes steps until the conversation waits for a later deadline.
async fn settle<S: DueStore, Q: MessageSink>(
    state: &State<S, Q>,
    entry: &DueEntry,
    now: i64,
) -> Result<Settled, AlertError> {
    let policy = &state.config.due;
    let mut done = Settled::default();
    for _ in 0..MAX_STEPS {
        let window = state
            .store
            .load_window(&entry.business, &entry.contact_id)
            .await?;
        done.windows_read += 1;
        let Some(conv) = window.conversation else {
            return Ok(done); // deleted since the index was read
        };
        let contact = contact_ref(&conv.record, window.contact.map(|c| c.record).as_ref());
        match policy.next_step(&conv.record, now) {
            Step::Wait => return Ok(done),
            Step::Rearm(due) => {
                if rearm(state, &conv, due, now).await? {
                    done.rearmed += 1;
                    return Ok(done);
                }
            }
            Step::Finish(alert) => {
                let expires = conv.record.window_expires_at.unwrap_or_default();
                let key = alert.update_key(&conv.record.business, &conv.record.contact_id, expires);
                if let Some(existing) = state.store.load_outbox(&key).await? {
                    outbox::publish(&state.store, &state.events, &existing).await?;
                }
                let due = policy.next_due(&conv.record);
                if rearm(state, &conv, due, now).await? {
                    done.finished += 1;
                    // Finished late, the window may have more due (its close): go on.
                    if due.is_none_or(|d| d > now) {
                        return Ok(done);
                    }
                }
            }
            Step::Publish(key) => {
                if let Some(existing) = state.store.load_outbox(&key).await? {
                    outbox::publish(&state.store, &state.events, &existing).await?;
                }
                let mut published = conv.clone();
                published.record.unpublished = None;
                let due = policy.next_due(&published.record);
                if rearm(state, &published, due, now).await? {
                    done.finished += 1;
                    if due.is_none_or(|d| d > now) {
                        return Ok(done);
                    }
                }
            }
            Step::Send(alert) => {
                if let Some((next, abandoned)) = send(state, &conv, contact, alert, now).await? {
                    match alert {
                        Alert::Expiring(_) => done.expiring += 1,
                        Alert::Expired => done.expired += 1,
                    }
                    done.abandoned += usize::from(abandoned);
                    let due = policy.next_due(&next.record);
                    // A collision here leaves the alert recorded but not re-armed: the next
                    // step (or run) finishes it. The due lead was the latest whose time has
                    // come, so the next alert is in the future (an idle close may be due).
                    if rearm(state, &next, due, now).await? && due.is_none_or(|d| d > now) {
                        return Ok(done);
                    }
                }
            }
            Step::IdleClose { at } => {
                if let Some((next, abandoned)) = idle_close(state, &conv, contact, at, now).await? {
                    done.idle_closed += 1;
                    done.abandoned += usize::from(abandoned);
                    let due = policy.next_due(&next.record);
                    if rearm(state, &next, due, now).await? && due.is_none_or(|d| d > now) {
                        return Ok(done);
                    }
                }
            }
        }
    }
    Err(AlertError::Contended)
}

/// Commits `alert` with its event (conversation version and outbox key as conditions) and
/// publishes it; the window's close also reports a customer left waiting
/// (`conversation.abandoned`, in the same outbox). Returns the conversation as written and
/// whether it was abandoned, or `None` if another writer got there first (the caller re-reads).
async fn send<S: DueStore, Q: MessageSink>(
    state: &State<S, Q>,
    conv: &Versioned<ConversationRecord>,
    contact: ContactRef,
    alert: Alert,
    now: i64,
) -> Result<Option<(Versioned<ConversationRecord>, bool)>, AlertError> {
    let c = &conv.record;
    let expires = c.window_expires_at.unwrap_or_default();
    let key = alert.update_key(&c.business, &c.contact_id, expires);
    let mut record = c.clone();
    let mut events = vec![alert_event(c, contact.clone(), alert, &key)?];
    let abandoned = match alert {
        Alert::Expired => conversation::window_expired(&mut record, expires),
        Alert::Expiring(_) => None,
    };
    if let Some(a) = &abandoned {
        events.push(a.event(&c.business, contact)?);
    }
    record.alerted_leads.push(alert.lead_minutes());
    // Held at the alert's own deadline (still due) until the event is published.
    let held = alert.deadline(expires);
    let Some(written) = commit_and_publish(state, conv, record, held, &key, events, now).await?
    else {
        return Ok(None);
    };
    tracing::info!(
        lead_minutes = alert.lead_minutes(),
        expires_at = expires,
        abandoned = abandoned.is_some(),
        "alert sent"
    );
    Ok(Some((written, abandoned.is_some())))
}

/// Commits `record`, held due at `held` (so a run stopping before the publish is followed by
/// one that publishes), on the version read, with `events` in the outbox `key` — through
/// [`outbox::commit`], so they count in the business metrics once — then publishes them.
/// Returns the conversation as written, or `None` if another writer got there first.
async fn commit_and_publish<S: DueStore, Q: MessageSink>(
    state: &State<S, Q>,
    conv: &Versioned<ConversationRecord>,
    mut record: ConversationRecord,
    held: i64,
    key: &str,
    events: Vec<events::PendingEvent>,
    now: i64,
) -> Result<Option<Versioned<ConversationRecord>>, AlertError> {
    record.due_at = Some(held);
    record.due_bucket = Some(keys::due_bucket(&record.contact_id));
    record.ttl = Some(state.config.retention.conversation_ttl(now));
    let outbox = outbox::outbox(key, events, now * 1000, now + OUTBOX_TTL.as_secs() as i64);
    let commit = Commit {
        outbox: Some(outbox.clone()),
        writes: vec![Write::Conversation(
            record.clone(),
            Expect::Version(conv.version),
        )],
    };
    match outbox::commit(&state.store, commit).await? {
        CommitOutcome::Applied => {
            outbox::publish(&state.store, &state.events, &outbox).await?;
            Ok(Some(Versioned {
                record,
                version: conv.version + 1,
            }))
        }
        CommitOutcome::Duplicate | CommitOutcome::Conflict => Ok(None),
    }
}

/// Closes the open conversation as idle at `at` (`conversation.closed`, plus
/// `conversation.abandoned` for a customer left waiting) and publishes it. The commit names its
/// outbox in `unpublished` and holds `due_at` (still due) so that a run stopping before the
/// publish is followed by one that publishes ([`Step::Publish`]). Returns the record as written
/// (the caller re-arms it, which clears `unpublished`) and whether it was abandoned, or `None`
/// if another writer got there first.
async fn idle_close<S: DueStore, Q: MessageSink>(
    state: &State<S, Q>,
    conv: &Versioned<ConversationRecord>,
    contact: ContactRef,
    at: i64,
    now: i64,
) -> Result<Option<(Versioned<ConversationRecord>, bool)>, AlertError> {
    let c = &conv.record;
    let mut record = c.clone();
    let close = conversation::Close {
        by: ClosedBy::Idle,
        reason: None,
        tags: Vec::new(),
    };
    let lifecycle = conversation::close(&mut record, at, close);
    let Some(closed) = lifecycle.first() else {
        return Ok(None);
    };
    let key = format!("idle-close:{}:{}", c.business, closed.conversation_id());
    let abandoned = lifecycle
        .iter()
        .any(|l| matches!(l, Lifecycle::Abandoned { .. }));
    let events = lifecycle
        .iter()
        .map(|l| l.event(&c.business, contact.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    record.unpublished = Some(key.clone());
    let Some(mut written) = commit_and_publish(state, conv, record, at, &key, events, now).await?
    else {
        return Ok(None);
    };
    tracing::info!(closed_at = at, abandoned, "conversation closed as idle");
    written.record.unpublished = None;
    Ok(Some((written, abandoned)))
}

/// Moves `due_at` (`None` takes the conversation out of the index). `false` if the
/// conversation changed since it was read.
async fn rearm<S: DueStore, Q>(
    state: &State<S, Q>,
    conv: &Versioned<ConversationRecord>,
    due: Option<i64>,
    now: i64,
) -> Result<bool, AlertError> {
    let mut record = conv.record.clone();
    record.ttl = Some(state.config.retention.conversation_ttl(now));
    record.due_at = due;
    record.due_bucket = due.map(|_| keys::due_bucket(&record.contact_id));
    let commit = Commit {
        outbox: None,
        writes: vec![Write::Conversation(record, Expect::Version(conv.version))],
    };
    Ok(state.store.commit(commit).await? == CommitOutcome::Applied)
}

/// The envelope's contact: the profile when there is one, else the id alone.
fn contact_ref(c: &ConversationRecord, contact: Option<&ContactRecord>) -> ContactRef {
    contact.map(ContactRecord::to_ref).unwrap_or(ContactRef {
        id: c.contact_id.clone(),
        ..ContactRef::default()
    })
}

/// The CRM event of `alert` (see `schemas/events/window.expiring.json` and `window.expired.json`).
fn alert_event(
    c: &ConversationRecord,
    contact: ContactRef,
    alert: Alert,
    key: &str,
) -> Result<events::PendingEvent, serde_json::Error> {
    let expires = c.window_expires_at.unwrap_or_default();
    let source = EventSource {
        update_key: key.to_owned(),
        // `waba:<id>` marks a conversation without a business number (it never happens for
        // messages, which always carry metadata).
        phone_number_id: (!c.business.starts_with("waba:")).then(|| c.business.clone()),
        waba_id: None,
    };
    let event_type = match alert {
        Alert::Expiring(_) => EventType::WindowExpiring,
        Alert::Expired => EventType::WindowExpired,
    };
    let mut data = serde_json::Map::new();
    data.insert("expires_at".into(), events::rfc3339(expires).into());
    data.insert("lead_minutes".into(), alert.lead_minutes().into());
    data.insert(
        "last_inbound_wamid".into(),
        c.last_inbound_wamid.clone().into(),
    );
    data.insert(
        "last_inbound_at".into(),
        c.last_inbound_at.map(events::rfc3339).into(),
    );
    data.insert("awaiting_reply".into(), c.awaiting_reply.into());
    source.event(
        event_type,
        0,
        alert.deadline(expires),
        Some(contact),
        events::data(data)?,
    )
}
