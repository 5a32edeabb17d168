//! `smb_message_echoes`: what the business typed in the WhatsApp Business app on a coexistence
//! number. Each echo becomes one `message.echo` (normalised like `message.received`, plus
//! `edited` / `revoked`) with the customer as the contact. An echoed message is an agent's
//! reply: it clears `awaiting_reply` and, when it is the first agent message of the open
//! conversation, gives `conversation.first_response` by `app` (see `shared::conversation`), but
//! never opens or extends the window, and it never reaches consent logic (the business wrote it,
//! not the customer). It is recorded as a message sent elsewhere, so its statuses apply at once with
//! `origin: "external"` instead of waiting to be released.

use serde_json::{Map, Value};
use shared::conversation::{self, AgentMessage};
use shared::delivery::{self, meta_time, StatusContext};
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, Direction, Expect, MessageRecord, ProcessorStore, Write};
use shared::telemetry::mask_phone;

use crate::contact::Resolved;
use crate::payload::echo::{Echo, EchoKind, EchoesValue};
use crate::{digest, ProcessError, State, UpdateContext};

/// One echo as planned.
struct Planned<'a> {
    echo: &'a Echo,
    key: String,
    wamid: Option<String>,
    kind: EchoKind,
    timestamp: i64,
    identity: Identity,
}

/// Each echo once, in the order Meta sent them; then the statuses parked for its wamid.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &EchoesValue,
) -> Result<Applied, ProcessError> {
    let mut last = Applied::Nothing;
    for echo in &value.echoes {
        let wamid = echo.message.id.clone();
        let p = Planned {
            key: match &wamid {
                Some(w) => format!("echo:{w}"),
                None => format!(
                    "echo-noid:{}",
                    digest(&[&ctx.business, &update.waba_id, echo.raw.get()])
                ),
            },
            wamid,
            kind: echo.kind(),
            timestamp: meta_time(echo.message.timestamp, ctx.received_at, "echo"),
            identity: Identity::new(
                echo.outbound.to.as_deref(),
                echo.outbound.to_user_id.as_deref(),
            ),
            echo,
        };
        last = outbox::apply_once(&state.store, &state.events, &p.key, || plan(state, ctx, &p))
            .await?;
        if let Some(wamid) = &p.wamid {
            let sctx = StatusContext {
                business: ctx.business.clone(),
                waba_id: Some(ctx.waba_id.clone()),
                now_ms: ctx.now_ms,
                retention: ctx.retention,
            };
            delivery::apply_parked(&state.store, &state.events, &sctx, wamid).await?;
        }
    }
    Ok(last)
}

async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    p: &Planned<'_>,
) -> Result<Option<Commit>, ProcessError> {
    let resolved = Resolved::find(
        &state.store,
        &ctx.business,
        &p.identity,
        None,
        ctx.now_ms,
        &ctx.retention,
    )
    .await?;
    let mut writes = Vec::new();
    let mut first_response = None;
    match &resolved {
        Some(r) => {
            // Only a message sent is an answer; editing or deleting one answers nothing.
            if p.kind == EchoKind::Sent {
                if let Some(conv) = &r.conversation {
                    let mut c = conv.record.clone();
                    first_response =
                        conversation::agent_message(&mut c, p.timestamp, &AgentMessage::App);
                    if c != conv.record {
                        c.ttl = Some(ctx.conversation_ttl());
                        writes.push(Write::Conversation(c, Expect::Version(conv.version)));
                    }
                }
            }
            writes.extend(r.writes(ctx.now_ms));
        }
        None => tracing::warn!("echo names no customer number or user id; event has no contact"),
    }
    let content = p.echo.content();
    let content_type = content.kind.clone().unwrap_or_else(|| "unknown".into());
    if let Some(wamid) = &p.wamid {
        let stored = state.store.load_message(wamid).await?;
        if stored.message.is_none() && stored.external.is_none() {
            writes.push(Write::ExternalMessage(
                MessageRecord {
                    wamid: wamid.clone(),
                    business: ctx.business.clone(),
                    direction: Direction::Outbound,
                    contact_id: resolved.as_ref().map(|r| r.record.contact_id.clone()),
                    message_type: content_type.clone(),
                    timestamp: p.timestamp,
                    status: None,
                    status_at: None,
                    command_id: None,
                    template: None,
                    raw: None,
                    ttl: Some(ctx.marker_ttl()),
                },
                Expect::Absent,
            ));
        }
    }
    tracing::info!(
        contact = %p.identity.wa_id.as_ref().map(|w| mask_phone(w.as_str())).unwrap_or_default(),
        edited = p.kind == EchoKind::Edited,
        revoked = p.kind == EchoKind::Revoked,
        message_type = %shared::redact::vocabulary(&content_type),
        "echo planned"
    );
    let contact = resolved.as_ref().map(|r| r.record.to_ref());
    let mut events_out = vec![ctx.source(&p.key).event(
        EventType::MessageEcho,
        0,
        p.timestamp,
        contact.clone(),
        events::data_with_original(echo_data(p, &content, &content_type), &p.echo.raw)?,
    )?];
    if let (Some(first), Some(contact)) = (first_response, contact) {
        events_out.push(first.event(&ctx.business, contact)?);
    }
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            &p.key,
            events_out,
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes,
    }))
}

/// `message.received`'s normalised fields for the content, plus who it went to and whether it
/// edits or deletes an earlier message (see `schemas/events/message.echo.json`).
fn echo_data(
    p: &Planned<'_>,
    content: &crate::payload::message::Message,
    content_type: &str,
) -> Map<String, Value> {
    let mut d = crate::message::normalise(content, content_type, p.timestamp);
    if p.kind == EchoKind::Revoked {
        // Meta documents revokes among echo types; nothing else to normalise.
        d.insert("unknown_type".into(), false.into());
    }
    d.insert("to".into(), p.echo.outbound.to.clone().into());
    d.insert(
        "to_user_id".into(),
        p.echo.outbound.to_user_id.clone().into(),
    );
    d.insert("edited".into(), (p.kind == EchoKind::Edited).into());
    d.insert("revoked".into(), (p.kind == EchoKind::Revoked).into());
    d.insert(
        "original_message_id".into(),
        p.echo.outbound.original_message_id().into(),
    );
    d
}
