//! Waiting. A short wait (≤ `MAX_IN_GROUP_WAIT_SECONDS`) keeps the record in the queue: its
//! visibility timeout is set to the wait, which holds its FIFO group that long. A longer one must
//! not hold the recipient's group (an agent's reply would wait behind a marketing template for a
//! day): the command is stored as a scheduled command with a `command.deferred` event, in one
//! transaction, and deleted from the queue; the schedule's tick puts it back when due.
//!
//! Every wait counts against the command's deadline — its `expires_at`, else its first sight
//! plus `COMMAND_MAX_AGE_SECONDS`: a wait that would end past it ends the command now.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::Value;
use shared::events::{self, ContactRef, EventType};
use shared::outbox;
use shared::store::scheduled::{self, ScheduledCommand, DEFERRAL_ATTRIBUTE, FIRST_SEEN_ATTRIBUTE};
use shared::store::{Commit, Write};

use super::outcome::{finish, Outcome};
use super::SenderError;
use crate::command::Command;
use crate::fifo::Disposition;
use crate::graph::MetaApiError;
use crate::Ports;

/// Why a command waits (`command.deferred`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    MarketingCap,
    PairRate,
    Throughput,
    Retry,
    Credentials,
    Account,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MarketingCap => "marketing_cap",
            Self::PairRate => "pair_rate",
            Self::Throughput => "throughput",
            Self::Retry => "retry",
            Self::Credentials => "credentials",
            Self::Account => "account",
        }
    }
}

/// A wait the flow decided on.
#[derive(Debug, Clone)]
pub struct Wait {
    pub delay: Duration,
    pub reason: WaitReason,
    /// Meta's answer that caused it, if one did.
    pub error: Option<MetaApiError>,
}

impl Wait {
    pub fn new(delay: Duration, reason: WaitReason) -> Self {
        Self {
            delay,
            reason,
            error: None,
        }
    }

    pub fn after(delay: Duration, reason: WaitReason, error: MetaApiError) -> Self {
        Self {
            delay,
            reason,
            error: Some(error),
        }
    }
}

/// The command's times, as known on this delivery.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// When the sender first saw the command (Unix ms).
    pub first_seen_ms: i64,
    /// When the command stops being worth sending (Unix ms).
    pub at_ms: i64,
}

impl Deadline {
    /// From the record (SQS's `SentTimestamp`, or the first sight a scheduled command carries)
    /// and what the attempt item remembers; `expires_at` replaces the maximum age.
    pub fn of(
        command: &Command,
        record: &SqsMessage,
        attempt_first_seen_ms: Option<i64>,
        max_age: Duration,
        now_ms: i64,
    ) -> Self {
        let sent = record
            .attributes
            .get("SentTimestamp")
            .and_then(|s| s.parse::<i64>().ok());
        let carried = string_attribute(record, FIRST_SEEN_ATTRIBUTE).and_then(|s| s.parse().ok());
        let first_seen_ms = [sent, carried, attempt_first_seen_ms]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now_ms)
            .min(now_ms);
        let at_ms = command.expires_at_ms.unwrap_or_else(|| {
            first_seen_ms.saturating_add(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX))
        });
        Self {
            first_seen_ms,
            at_ms,
        }
    }

    pub fn passed(&self, now_ms: i64) -> bool {
        now_ms > self.at_ms
    }
}

/// How many times the command was scheduled before this delivery (0 for a CRM's message).
pub fn deferrals_so_far(record: &SqsMessage) -> u32 {
    string_attribute(record, DEFERRAL_ATTRIBUTE)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn string_attribute<'a>(record: &'a SqsMessage, name: &str) -> Option<&'a str> {
    record
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

/// Waits `wait` in the queue or out of it — or ends the command if the wait outlives it.
#[allow(clippy::too_many_arguments)]
pub async fn wait(
    state: &impl Ports,
    record: &SqsMessage,
    out: &Outcome,
    contact: Option<ContactRef>,
    wait: Wait,
    deadline: Deadline,
    attempts: u32,
) -> Result<Disposition, SenderError> {
    let now_ms = shared::now_ms();
    let not_before_ms = now_ms.saturating_add(millis(wait.delay));
    if not_before_ms > deadline.at_ms {
        tracing::info!(
            command_id = %out.command_id,
            reason = wait.reason.as_str(),
            wait_s = wait.delay.as_secs(),
            "the command would wait past its deadline; it ends now"
        );
        let failure = match wait.reason {
            WaitReason::Retry => "retries_exhausted",
            _ => "expired",
        };
        let error = wait.error.unwrap_or_else(|| MetaApiError {
            code: 0,
            subcode: None,
            title: format!(
                "the command would wait {} more ({}), past its deadline",
                humane(wait.delay),
                wait.reason.as_str()
            ),
            details: None,
            fbtrace_id: None,
        });
        return finish(
            state,
            out,
            contact,
            out.failed_after(failure, &error, attempts),
        )
        .await;
    }
    if wait.delay <= state.config().max_in_group_wait && receives(record) < IN_GROUP_RECEIVES {
        return Ok(Disposition::Defer(wait.delay));
    }
    schedule(state, record, out, contact, &wait, deadline, not_before_ms).await
}

/// Stores the command until `not_before_ms` and tells the CRM, in one transaction; the record
/// is then consumed.
async fn schedule(
    state: &impl Ports,
    record: &SqsMessage,
    out: &Outcome,
    contact: Option<ContactRef>,
    wait: &Wait,
    deadline: Deadline,
    not_before_ms: i64,
) -> Result<Disposition, SenderError> {
    let deferral = deferrals_so_far(record).saturating_add(1);
    // Never put back early: the tick releases what is due at or after this second.
    let due_at = not_before_ms.div_euclid(1000) + i64::from(not_before_ms.rem_euclid(1000) != 0);
    let item = ScheduledCommand {
        command_id: out.command_id.clone(),
        body: record.body.clone().unwrap_or_default(),
        group_id: record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_else(|| out.command_id.clone()),
        deferral,
        reason: wait.reason.as_str().to_owned(),
        not_before_ms,
        first_seen_ms: deadline.first_seen_ms,
        due_bucket: scheduled::due_bucket(&out.command_id),
        due_at,
        // Kept a while past its due time: a late tick still finds it.
        ttl: due_at + SCHEDULED_GRACE_SECS,
    };
    let mut data = out.base();
    data.insert("reason".into(), wait.reason.as_str().into());
    data.insert("not_before".into(), events::rfc3339(due_at).into());
    data.insert("attempt".into(), deferral.into());
    data.insert(
        "code".into(),
        wait.error.as_ref().map_or(Value::Null, |e| e.code.into()),
    );
    let key = format!("{}#deferred:{deferral}", out.key);
    let event = out.keyed_event(&key, EventType::CommandDeferred, contact, data)?;
    let now_ms = shared::now_ms();
    let outbox_item = outbox::outbox(
        &key,
        vec![event],
        now_ms,
        state.config().retention.marker_ttl(now_ms / 1000),
    );
    outbox::apply_once(state.store(), state.events(), &key, || {
        let commit = Commit {
            outbox: Some(outbox_item.clone()),
            writes: vec![Write::Schedule(item.clone())],
        };
        async move { Ok::<_, outbox::OutboxError>(Some(commit)) }
    })
    .await?;
    tracing::info!(
        command_id = %out.command_id,
        reason = wait.reason.as_str(),
        deferral,
        due_at,
        "command scheduled out of the queue"
    );
    Ok(Disposition::Done)
}

/// Each wait in the group is a receive, and the queue sends a message to its DLQ after 100:
/// past this many, even a short wait leaves the queue (a put-back message starts from 1).
pub const IN_GROUP_RECEIVES: u32 = 50;

fn receives(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// A scheduled item outlives its due time by this much (then DynamoDB's TTL removes it).
const SCHEDULED_GRACE_SECS: i64 = 7 * 86_400;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `90 s`, `25 min`, `24 h`.
fn humane(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}
