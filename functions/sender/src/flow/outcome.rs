//! A command's outcome events: one per command, keyed `cmd:<command_id>`, committed with its
//! outbox item so a redelivery republishes the same `event_id`s instead of deciding again.

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::{Map, Value};
use shared::events::{self, ContactRef, EventSource, EventType, PendingEvent};
use shared::outbox::{self, OutboxError};
use shared::privacy::AuditRecord;
use shared::store::{Commit, OutboxStore, Write};

use super::SenderError;
use crate::accept;
use crate::command::{Command, CommandType, Invalid, Payload, RejectReason, Rejection};
use crate::fifo::Disposition;
use crate::graph::MetaApiError;
use crate::rating::RatingRequest;
use crate::store::Attempt;
use crate::Ports;

/// A command for a business number the bridge does not serve.
pub fn unknown_number(state: &impl Ports, command: &Command) -> Option<Rejection> {
    (!state
        .config()
        .phone_number_ids
        .contains(&command.phone_number_id))
    .then(|| Rejection {
        reason: RejectReason::UnknownPhoneNumberId,
        message: format!(
            "phone_number_id {} is not a business number of this bridge",
            command.phone_number_id
        ),
        field: Some("/phone_number_id".into()),
    })
}

/// Records a final outcome (rejected or failed) and publishes it.
pub async fn finish(
    state: &impl Ports,
    out: &Outcome,
    contact: Option<ContactRef>,
    (event_type, data): (EventType, Map<String, Value>),
) -> Result<Disposition, SenderError> {
    let now_ms = shared::now_ms();
    tracing::info!(command_id = %out.command_id, outcome = event_type.as_str(), reason = ?data.get("reason"), "command finished");
    let reason = data
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let audit = out.audit(state.config(), event_type.as_str(), reason, None);
    let event = out.event(event_type, contact, data)?;
    let record = outbox::outbox(
        &out.key,
        vec![event],
        now_ms,
        state.config().retention.marker_ttl(now_ms / 1000),
    );
    // Every caller runs after the flow read this outbox and found none.
    outbox::apply_unseen(state.store(), state.events(), &out.key, || {
        let commit = Commit {
            outbox: Some(record.clone()),
            writes: audit.clone().into_iter().collect(),
        };
        async move { Ok::<_, OutboxError>(Some(commit)) }
    })
    .await?;
    Ok(Disposition::Done)
}

/// A command that could not be read: rejected, keyed by its id if it had one, else by the SQS
/// deduplication id (the CRM sets it to the command id) or message id.
pub async fn reject_invalid(
    state: &impl Ports,
    record: &SqsMessage,
    invalid: Invalid,
    now_ms: i64,
) -> Result<Disposition, SenderError> {
    let key_id = invalid
        .command_id
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .or_else(|| record.attributes.get("MessageDeduplicationId").cloned())
        .or_else(|| record.message_id.clone())
        .unwrap_or_default();
    // The reason and the field, not the message: it may quote what the CRM sent.
    tracing::warn!(
        reason = invalid.rejection.reason.as_str(),
        field = invalid.rejection.field.as_deref(),
        "invalid command rejected"
    );
    let out = Outcome {
        key: format!("cmd:{key_id}"),
        command_id: key_id,
        known_id: invalid.command_id.is_some(),
        kind: invalid.kind,
        phone_number_id: invalid.phone_number_id.clone().unwrap_or_default(),
        now_ms,
        rating: None,
        actor: None,
    };
    if let Some(existing) = state.store().load_outbox(&out.key).await? {
        accept::repeat(state, &out, &existing).await?;
        return Ok(Disposition::Done);
    }
    let rejected = out.rejected(&invalid.rejection);
    finish(state, &out, None, rejected).await
}

/// Builds a command's outcome events; one outcome per command, keyed `cmd:<command_id>`.
pub(crate) struct Outcome {
    pub(crate) key: String,
    pub(crate) command_id: String,
    /// False when the body carried no usable `command_id` (then `command_id` is the SQS id).
    pub(crate) known_id: bool,
    pub(crate) kind: Option<CommandType>,
    pub(crate) phone_number_id: String,
    pub(crate) now_ms: i64,
    /// `request_rating`: the request its accepted send records on the conversation.
    pub(crate) rating: Option<RatingRequest>,
    /// Who asked: in every outcome event's `data` and in the audit.
    pub(crate) actor: Option<String>,
}

impl Outcome {
    pub(crate) fn new(command: &Command, now_ms: i64) -> Self {
        Self {
            key: command.id.outcome_key(),
            command_id: command.id.as_str().to_owned(),
            known_id: true,
            kind: Some(command.kind),
            phone_number_id: command.phone_number_id.clone(),
            now_ms,
            rating: match &command.payload {
                Payload::Rating { request, .. } => Some(request.clone()),
                _ => None,
            },
            actor: command.actor.clone(),
        }
    }

    /// The audit item of this command's outcome (`outcome`: the event type, or
    /// `failed_attempt`): written when the command names its actor, and always for erasure and
    /// export. `subject` is the person's keyed hash (erase/export), never an identifier.
    pub(crate) fn audit(
        &self,
        config: &crate::Config,
        outcome: &str,
        reason: Option<String>,
        subject: Option<String>,
    ) -> Option<Write> {
        let always = matches!(
            self.kind,
            Some(CommandType::EraseContact | CommandType::ExportContact)
        );
        if self.actor.is_none() && !always {
            return None;
        }
        let at_ms = shared::now_ms();
        Some(Write::Audit(AuditRecord {
            business: self.phone_number_id.clone(),
            command_id: self.command_id.clone(),
            command_type: self.kind.map_or("unknown", CommandType::as_str).to_owned(),
            actor: self.actor.clone(),
            outcome: outcome.to_owned(),
            reason,
            subject,
            at_ms,
            ttl: config.retention.audit_ttl(at_ms / 1000),
        }))
    }

    pub(crate) fn base(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "command_id".into(),
            if self.known_id {
                self.command_id.clone().into()
            } else {
                Value::Null
            },
        );
        m.insert(
            "command_type".into(),
            self.kind.map(CommandType::as_str).into(),
        );
        if let Some(actor) = &self.actor {
            m.insert("actor".into(), actor.clone().into());
        }
        m
    }

    pub(crate) fn rejected(&self, r: &Rejection) -> (EventType, Map<String, Value>) {
        let mut m = self.base();
        m.insert("reason".into(), r.reason.as_str().into());
        m.insert("message".into(), r.message.clone().into());
        m.insert("field".into(), r.field.clone().into());
        (EventType::CommandRejected, m)
    }

    pub(crate) fn failed(
        &self,
        reason: &str,
        e: &MetaApiError,
        a: &Attempt,
    ) -> (EventType, Map<String, Value>) {
        self.failed_after(reason, e, a.attempts())
    }

    pub(crate) fn failed_after(
        &self,
        reason: &str,
        e: &MetaApiError,
        attempts: u32,
    ) -> (EventType, Map<String, Value>) {
        let mut m = self.base();
        m.insert("reason".into(), reason.into());
        m.insert("code".into(), e.code.into());
        m.insert("title".into(), e.title.clone().into());
        m.insert("details".into(), e.details.clone().into());
        m.insert("fbtrace_id".into(), e.fbtrace_id.clone().into());
        m.insert("attempts".into(), attempts.into());
        (EventType::CommandFailed, m)
    }

    pub(crate) fn outcome_unknown(&self, a: &Attempt) -> (EventType, Map<String, Value>) {
        let mut m = self.base();
        m.insert("reason".into(), "outcome_unknown".into());
        m.insert("code".into(), Value::Null);
        m.insert(
            "title".into(),
            "The message may have been sent; it is not sent again".into(),
        );
        m.insert(
            "details".into(),
            "The answer to the send was lost (timeout or crash). If Meta accepted it, statuses will carry biz_opaque_callback_data = command_id.".into(),
        );
        m.insert("fbtrace_id".into(), Value::Null);
        m.insert("attempts".into(), a.attempts().into());
        (EventType::CommandFailed, m)
    }

    pub(crate) fn event(
        &self,
        event_type: EventType,
        contact: Option<ContactRef>,
        data: Map<String, Value>,
    ) -> Result<PendingEvent, serde_json::Error> {
        self.keyed_event(&self.key, event_type, contact, data)
    }

    /// An event of this command under another outbox key (a deferral's).
    pub(crate) fn keyed_event(
        &self,
        key: &str,
        event_type: EventType,
        contact: Option<ContactRef>,
        data: Map<String, Value>,
    ) -> Result<PendingEvent, serde_json::Error> {
        let source = EventSource {
            update_key: key.to_owned(),
            phone_number_id: (!self.phone_number_id.is_empty())
                .then(|| self.phone_number_id.clone()),
            waba_id: None,
        };
        source.event(
            event_type,
            0,
            self.now_ms / 1000,
            contact,
            events::data(data)?,
        )
    }
}
