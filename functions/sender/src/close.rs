//! `close_conversation`: the CRM ends the contact's open conversation. Nothing is sent to Meta;
//! the outcome is `command.accepted` (`wamid: null`) committed with `conversation.closed`
//! (`closed_by: crm`) — and `conversation.abandoned` when customer messages were never
//! answered — and the conversation's state, in one transaction.

use serde_json::Value;
use shared::conversation::{self, ClosedBy};
use shared::events::EventType;
use shared::outbox::{self, OutboxError};
use shared::retention::Retention;
use shared::store::{Commit, Expect, ProcessorStore, Versioned, Write};

use crate::command::{RejectReason, Rejection};
use crate::fifo::Disposition;
use crate::flow::{Outcome, Recipient, SenderError};
use crate::Ports;

/// What the CRM says about the close.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Close {
    /// The conversation to close; with `to`, a guard (the open one must be it).
    pub conversation_id: Option<String>,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    pub actor: Option<String>,
}

impl Close {
    /// From a command its schema accepted; it must name the contact (`to`) or the conversation.
    pub fn from_value(value: &Value, has_to: bool) -> Result<Self, Rejection> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let close = Self {
            conversation_id: text("conversation_id"),
            reason: text("reason"),
            tags: value
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            actor: text("actor"),
        };
        if !has_to && close.conversation_id.is_none() {
            return Err(Rejection {
                reason: RejectReason::InvalidCommand,
                message: "close_conversation needs `to` or `conversation_id`".into(),
                field: Some("/to".into()),
            });
        }
        Ok(close)
    }
}

/// Closes the contact's open conversation once: the decision (closed, or rejected because none
/// is open) is made against the record as read and committed with the outcome, conditional on
/// the record's version, so a concurrent message re-plans it and a redelivery repeats it.
pub(crate) async fn run(
    state: &impl Ports,
    out: &Outcome,
    who: &Recipient,
    close: &Close,
) -> Result<Disposition, SenderError> {
    let retention = state.config().retention;
    let contact_id = match (&who.contact_id, &close.conversation_id) {
        (Some(id), _) => Some(id.clone()),
        // Named by the conversation alone: the alias its opening wrote points at the contact.
        (None, Some(conversation_id)) => {
            let alias = conversation::alias(conversation_id);
            let found = state
                .store()
                .find_aliases(&out.phone_number_id, &[alias])
                .await?;
            found.into_iter().next().map(|a| a.contact_id)
        }
        (None, None) => None,
    };
    let contact_id = contact_id.as_deref();
    outbox::apply_once(state.store(), state.events(), &out.key, || {
        plan(state, out, who, contact_id, close, &retention)
    })
    .await?;
    tracing::info!(command_id = %out.command_id, "close_conversation finished");
    Ok(Disposition::Done)
}

async fn plan(
    state: &impl Ports,
    out: &Outcome,
    who: &Recipient,
    contact_id: Option<&str>,
    close: &Close,
    retention: &Retention,
) -> Result<Option<Commit>, OutboxError> {
    let now_ms = shared::now_ms();
    let current = match contact_id {
        Some(id) => state.store().load_contact(&out.phone_number_id, id).await?,
        None => Default::default(),
    };
    let contact = current
        .contact
        .map(|c| c.record.to_ref())
        .or_else(|| who.contact.clone());
    let open = current.conversation.filter(|c| {
        c.record.open.as_ref().is_some_and(|o| {
            close
                .conversation_id
                .as_ref()
                .is_none_or(|id| *id == o.conversation_id)
        })
    });
    let outbox_record = |events| {
        outbox::outbox(
            &out.key,
            events,
            now_ms,
            retention.marker_ttl(now_ms / 1000),
        )
    };
    let Some(Versioned {
        record: mut conv,
        version,
    }) = open
    else {
        let mut r = Rejection::new(
            RejectReason::NoOpenConversation,
            match close.conversation_id {
                Some(_) => {
                    "no open conversation has this conversation_id (closed already, or unknown)"
                }
                None => "the contact has no open conversation",
            },
        );
        r.field = close
            .conversation_id
            .as_ref()
            .map(|_| "/conversation_id".to_owned());
        tracing::info!(command_id = %out.command_id, reason = r.reason.as_str(), "close_conversation rejected");
        let (kind, data) = out.rejected(&r);
        let audit = out.audit(
            state.config(),
            kind.as_str(),
            Some(r.reason.as_str().to_owned()),
            None,
        );
        let event = out.event(kind, contact, data)?;
        return Ok(Some(Commit {
            outbox: Some(outbox_record(vec![event])),
            writes: audit.into_iter().collect(),
        }));
    };
    let lifecycle = conversation::close(
        &mut conv,
        now_ms / 1000,
        conversation::Close {
            by: ClosedBy::Crm,
            reason: close.reason.clone(),
            tags: close.tags.clone(),
        },
    );
    let closed_id = conv.last_conversation_id.clone();
    let mut data = out.base();
    data.insert("wamid".into(), Value::Null);
    data.insert("message_type".into(), "close_conversation".into());
    data.insert("to".into(), Value::Null);
    let wa_id = contact.as_ref().and_then(|c| c.wa_id.clone());
    data.insert("wa_id".into(), wa_id.or_else(|| who.wa_id.clone()).into());
    data.insert("fallback_used".into(), false.into());
    data.insert("conversation_id".into(), closed_id.into());
    data.insert("actor".into(), close.actor.clone().into());
    let mut events = vec![out.event(EventType::CommandAccepted, contact.clone(), data)?];
    if let Some(contact) = contact {
        for l in &lifecycle {
            events.push(l.event(&out.phone_number_id, contact.clone())?);
        }
    }
    conv.ttl = Some(retention.conversation_ttl(now_ms / 1000));
    let mut writes = vec![Write::Conversation(conv, Expect::Version(version))];
    writes.extend(out.audit(
        state.config(),
        EventType::CommandAccepted.as_str(),
        None,
        None,
    ));
    Ok(Some(Commit {
        outbox: Some(outbox_record(events)),
        writes,
    }))
}
