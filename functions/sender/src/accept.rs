//! Acceptance: once Meta answers with a wamid the message went out, so the command ends as
//! `command.accepted` whatever fails after.
//!
//! 1. Meta's answer goes to the claim (`CMD#<id>`/`ATTEMPT`) in one conditional write, before
//!    anything else: from then on no redelivery reports the send lost or sends it again.
//! 2. The outcome commit: the outbox (`command.accepted`, and `conversation.first_response` when
//!    this is the open conversation's first agent message), the message item (wamid ↔
//!    command_id) and the conversation (`last_outbound_at`, `awaiting_reply`, its counts, a
//!    `request_rating`'s pending request), in one transaction conditional on the conversation's
//!    version: a redelivery finds the outbox and adds no lifecycle event.
//! 3. The statuses the processor parked while the message was not stored are applied.
//!
//! A redelivery that finds the answer on the claim repeats 2 and 3; one that finds the outcome in
//! the outbox publishes it again and repeats 3. So a failure after Meta's answer delays the
//! outcome and the statuses, it never loses them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::conversation::{self, AgentMessage};
use shared::delivery::{self, StatusContext};
use shared::events::EventType;
use shared::outbox::{self, OutboxError};
use shared::queue::MessageSink;
use shared::retention::Retention;
use shared::store::{
    Commit, ConversationRecord, Direction, Expect, MessageRecord, OutboxRecord, OutboxStore,
    ProcessorStore, Versioned, Write,
};

use crate::flow::{Claimed, Outcome, Recipient, SenderError};
use crate::store::SenderStore;
use crate::Ports;

/// Meta's answer to a send and what was sent, kept on the claim so that a redelivery finishes
/// the command with the very answer Meta gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Meta's message id; none for `mark_read`, which is not a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// The wa_id Meta resolved the recipient to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The request's `type` (`text`, `template`, …; `read` for `mark_read`).
    pub message_type: String,
    /// The `to` (or business-scoped `recipient`) the request named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The fallback template's name, when it was sent instead of the command's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_template: Option<String>,
    /// The name of the template sent (the command's or the fallback), so its statuses name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// `mark_read`'s message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// When Meta answered (Unix ms): the outbound message's time.
    pub at_ms: i64,
}

impl Acceptance {
    /// Meta's answer to `body` (the request as sent).
    pub fn of(
        body: &Value,
        wamid: Option<String>,
        wa_id: Option<String>,
        fallback_used: bool,
        at_ms: i64,
    ) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        Self {
            wamid,
            wa_id,
            message_type: text(body.get("type")).unwrap_or_else(|| "read".to_owned()),
            to: text(body.get("to").or_else(|| body.get("recipient"))),
            fallback_template: if fallback_used {
                text(body.pointer("/template/name"))
            } else {
                None
            },
            template: if body.get("type").and_then(Value::as_str) == Some("template") {
                text(body.pointer("/template/name"))
            } else {
                None
            },
            message_id: text(body.get("message_id")),
            at_ms,
        }
    }

    fn event_data(&self, out: &Outcome) -> serde_json::Map<String, Value> {
        let mut data = out.base();
        data.insert("wamid".into(), self.wamid.clone().into());
        data.insert("message_type".into(), self.message_type.clone().into());
        data.insert("to".into(), self.to.clone().into());
        data.insert("wa_id".into(), self.wa_id.clone().into());
        data.insert(
            "fallback_used".into(),
            self.fallback_template.is_some().into(),
        );
        if let Some(name) = &self.fallback_template {
            data.insert("template".into(), name.clone().into());
        }
        if let Some(id) = &self.message_id {
            data.insert("message_id".into(), id.clone().into());
        }
        if let Some(rating) = &out.rating {
            data.insert("request_id".into(), rating.request_id.clone().into());
        }
        data
    }
}

/// Meta accepted the send: its answer goes to the claim first, then the outcome is recorded.
/// A claim that cannot take the answer (refused or changed) does not stop the outcome commit:
/// that commit is what the CRM hears, and the claim only matters if it fails too.
pub(crate) async fn record(
    state: &impl Ports,
    out: &Outcome,
    who: &Recipient,
    mut claim: Claimed,
    acceptance: Acceptance,
) -> Result<(), SenderError> {
    claim.attempt.accepted = Some(acceptance.clone());
    match state
        .items()
        .save_attempt(&claim.attempt, Expect::Version(claim.version))
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::error!(
            command_id = %out.command_id,
            "the claim changed while Meta answered; recording the acceptance anyway"
        ),
        Err(err) => tracing::error!(
            command_id = %out.command_id,
            error = %shared::telemetry::error_chain(&err),
            "could not write Meta's answer to the claim; recording the acceptance anyway"
        ),
    }
    finish(state, out, who, &acceptance).await
}

/// Records the accepted outcome (outbox, message, conversation) once, publishes it and applies
/// the parked statuses. A redelivery of an accepted claim calls it again with the stored answer.
pub(crate) async fn finish(
    state: &impl Ports,
    out: &Outcome,
    who: &Recipient,
    acceptance: &Acceptance,
) -> Result<(), SenderError> {
    let now_ms = shared::now_ms();
    let retention = state.config().retention;
    let event = out.event(
        EventType::CommandAccepted,
        who.contact.clone(),
        acceptance.event_data(out),
    )?;
    let record = outbox::outbox(
        &out.key,
        vec![event],
        now_ms,
        retention.marker_ttl(now_ms / 1000),
    );
    // The conversation as the recipient's checks read it serves the first plan: the commit is
    // conditional on its version, and a conflict plans again on a fresh read.
    let mut read = who.conversation.clone();
    // The flow read this outbox first thing and found none.
    outbox::apply_unseen(state.store(), state.events(), &out.key, || {
        plan(
            state,
            out,
            who,
            &record,
            acceptance,
            &retention,
            read.take(),
        )
    })
    .await?;
    if let Some(wamid) = &acceptance.wamid {
        tracing::info!(
            command_id = %out.command_id,
            wamid = %shared::telemetry::mask_wamid(wamid),
            fallback_used = acceptance.fallback_template.is_some(),
            "command accepted by Meta"
        );
        parked(state, out, wamid).await?;
    }
    Ok(())
}

/// The outcome commit: outbox, the outbound message, and the conversation an agent answered
/// (with its first response, and a rating request's pending state). `read`: the conversation
/// already read in this invocation, if any (else it is read now).
async fn plan(
    state: &impl Ports,
    out: &Outcome,
    who: &Recipient,
    record: &OutboxRecord,
    acceptance: &Acceptance,
    retention: &Retention,
    read: Option<Versioned<ConversationRecord>>,
) -> Result<Option<Commit>, OutboxError> {
    let sent_at = acceptance.at_ms / 1000;
    let mut record = record.clone();
    let mut writes = Vec::new();
    if let Some(wamid) = &acceptance.wamid {
        writes.push(Write::Message(
            MessageRecord {
                wamid: wamid.clone(),
                business: out.phone_number_id.clone(),
                direction: Direction::Outbound,
                contact_id: who.contact_id.clone(),
                message_type: acceptance.message_type.clone(),
                timestamp: sent_at,
                status: None,
                status_at: None,
                command_id: Some(out.command_id.clone()),
                template: acceptance.template.clone(),
                raw: None,
                ttl: Some(retention.message_ttl(sent_at)),
            },
            Expect::Absent,
        ));
        if let Some(id) = &who.contact_id {
            let (conversation, contact) = match read {
                Some(conv) => (Some(conv), who.contact.clone()),
                None => {
                    let current = state.store().load_contact(&out.phone_number_id, id).await?;
                    let contact = current.contact.map(|v| v.record.to_ref());
                    (current.conversation, contact.or(who.contact.clone()))
                }
            };
            if let Some(conv) = conversation {
                let mut c = conv.record;
                let message = AgentMessage::Command {
                    command_id: out.command_id.clone(),
                };
                let first_response = conversation::agent_message(&mut c, sent_at, &message);
                if let Some(request) = &out.rating {
                    crate::rating::record_pending(&mut c, request, &out.command_id, sent_at);
                }
                if let Some((event, contact)) = first_response.zip(contact) {
                    record
                        .events
                        .push(event.event(&out.phone_number_id, contact)?);
                }
                c.ttl = Some(retention.conversation_ttl(sent_at));
                writes.push(Write::Conversation(c, Expect::Version(conv.version)));
            }
        }
    }
    writes.extend(out.audit(
        state.config(),
        EventType::CommandAccepted.as_str(),
        None,
        None,
    ));
    Ok(Some(Commit {
        outbox: Some(record),
        writes,
    }))
}

/// Publishes a finished command's events again, with their original `event_id`s; an accepted
/// outcome also applies the statuses still parked for its message (the first pass may have
/// stopped before it did).
pub(crate) async fn repeat(
    state: &impl Ports,
    out: &Outcome,
    existing: &OutboxRecord,
) -> Result<(), SenderError> {
    let messages = existing.events.iter().map(|e| e.to_message()).collect();
    state.events().send_all(messages).await?;
    if !existing.published {
        state.store().mark_published(&existing.key).await?;
    }
    for wamid in accepted_wamids(existing) {
        parked(state, out, &wamid).await?;
    }
    Ok(())
}

/// The wamids of the `command.accepted` events in an outbox.
fn accepted_wamids(existing: &OutboxRecord) -> Vec<String> {
    existing
        .events
        .iter()
        .filter(|e| e.event_type == EventType::CommandAccepted.as_str())
        .filter_map(|e| serde_json::from_str::<Value>(&e.body).ok())
        .filter_map(|body| {
            body.pointer("/data/wamid")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// Applies statuses the processor parked before the wamid was stored.
async fn parked(state: &impl Ports, out: &Outcome, wamid: &str) -> Result<(), SenderError> {
    let ctx = StatusContext {
        business: out.phone_number_id.clone(),
        waba_id: None,
        now_ms: shared::now_ms(),
        retention: state.config().retention,
    };
    let applied = delivery::apply_parked(state.store(), state.events(), &ctx, wamid).await?;
    if applied > 0 {
        tracing::info!(wamid = %shared::telemetry::mask_wamid(wamid), applied, "parked statuses applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Acceptance;
    use serde_json::json;

    #[test]
    fn a_template_sent_is_named_whether_commanded_or_a_fallback() {
        let body = json!({"type": "template", "to": "x", "template": {"name": "promo"}});
        let commanded = Acceptance::of(&body, Some("wamid.A".into()), None, false, 1);
        assert_eq!(commanded.template.as_deref(), Some("promo"));
        assert_eq!(commanded.fallback_template, None);
        let fallback = Acceptance::of(&body, Some("wamid.A".into()), None, true, 1);
        assert_eq!(fallback.template.as_deref(), Some("promo"));
        assert_eq!(fallback.fallback_template.as_deref(), Some("promo"));
    }

    #[test]
    fn a_message_that_is_not_a_template_names_none() {
        let body = json!({"type": "text", "to": "x", "text": {"body": "hi"}});
        let text = Acceptance::of(&body, Some("wamid.A".into()), None, false, 1);
        assert_eq!(text.template, None);
    }
}
