//! `calls`: each call's `connect` and `terminate`, and each status of a business-initiated call,
//! become one CRM event (`call.connected`, `call.terminated`, `call.status`) with the customer
//! resolved as a message's contact. A user-initiated call opens or extends the service window
//! as a customer message does; a business-initiated call does not.

use serde_json::{Map, Value};
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore, Write};
use shared::telemetry::mask_phone;

use crate::contact::Resolved;
use crate::payload::call::{Call, CallDirection, CallStatus, CallsValue};
use crate::{ProcessError, State, UpdateContext};

/// One call event as planned: what it is, who, and what the CRM reads.
struct CallEvent<'a> {
    key: String,
    event_type: EventType,
    occurred_at: i64,
    identity: Identity,
    name: Option<&'a str>,
    /// A user-initiated call's connect: the window opens at `occurred_at`.
    opens_window: bool,
    data: Map<String, Value>,
    raw: &'a serde_json::value::RawValue,
}

/// Each known call and status becomes its event; if any entry is not known (no id, or an
/// `event`/`status` value not listed), the change is also forwarded once, raw, as
/// `whatsapp.unknown`, so the CRM still sees what Meta sent.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &CallsValue,
) -> Result<Applied, ProcessError> {
    let mut planned = Vec::new();
    let mut unknown = 0usize;
    for item in &value.calls {
        match call_event(ctx, value, &item.typed, &item.raw) {
            Some(e) => planned.push(e),
            None => {
                unknown += 1;
                tracing::warn!(
                    event = ?item.typed.event.as_deref().map(shared::redact::vocabulary),
                    "call without an id or with an event not known; forwarded as whatsapp.unknown"
                );
            }
        }
    }
    for item in &value.statuses {
        match status_event(ctx, value, &item.typed, &item.raw) {
            Some(e) => planned.push(e),
            None => {
                unknown += 1;
                tracing::warn!(
                    status = ?item.typed.status.as_deref().map(shared::redact::vocabulary),
                    "call status without an id or with a status not known; forwarded as whatsapp.unknown"
                );
            }
        }
    }
    let mut last = Applied::Nothing;
    for e in &planned {
        last =
            outbox::apply_once(&state.store, &state.events, &e.key, || plan(state, ctx, e)).await?;
    }
    crate::change::forward_if_unread(state, ctx, update, unknown > 0, last).await
}

/// `connect` → `call.connected`, `terminate` → `call.terminated` (with `duration`, Meta's
/// `status` and `errors`); `None` for a call without an id or another event.
fn call_event<'a>(
    ctx: &UpdateContext,
    value: &'a CallsValue,
    call: &'a Call,
    raw: &'a serde_json::value::RawValue,
) -> Option<CallEvent<'a>> {
    let id = call.id.as_deref()?;
    let (event_type, kind) = match call.event.as_deref()? {
        "connect" => (EventType::CallConnected, "connect"),
        "terminate" => (EventType::CallTerminated, "terminate"),
        _ => return None,
    };
    let direction = call.direction();
    let (wa_id, user_id) = call.customer().unwrap_or((None, None));
    let mut data = Map::new();
    data.insert("call_id".into(), id.into());
    data.insert(
        "direction".into(),
        direction
            .map(|d| match d {
                CallDirection::User => "user_initiated",
                CallDirection::Business => "business_initiated",
            })
            .into(),
    );
    data.insert(
        "biz_opaque_callback_data".into(),
        call.biz_opaque_callback_data.clone().into(),
    );
    if event_type == EventType::CallTerminated {
        data.insert("duration".into(), call.duration.into());
        data.insert(
            "status".into(),
            call.status.as_deref().map(str::to_ascii_lowercase).into(),
        );
        let time = |t: Option<i64>| {
            t.filter(|t| *t >= shared::delivery::EARLIEST_META_TIME)
                .map(events::rfc3339)
        };
        data.insert("start_time".into(), time(call.start_time).into());
        data.insert("end_time".into(), time(call.end_time).into());
        data.insert("errors".into(), Value::Array(call.errors.clone()));
    }
    Some(CallEvent {
        key: format!("call:{id}:{kind}"),
        event_type,
        occurred_at: meta_time(call.timestamp, ctx.received_at, "call"),
        identity: Identity::new(wa_id, user_id),
        name: value.contact_of(wa_id, user_id).and_then(|c| c.name()),
        opens_window: event_type == EventType::CallConnected
            && direction == Some(CallDirection::User),
        data,
        raw,
    })
}

/// A business-initiated call's `RINGING`, `ACCEPTED` or `REJECTED` → `call.status`; `None`
/// without an id or for another status.
fn status_event<'a>(
    ctx: &UpdateContext,
    value: &'a CallsValue,
    status: &'a CallStatus,
    raw: &'a serde_json::value::RawValue,
) -> Option<CallEvent<'a>> {
    let id = status.id.as_deref()?;
    let kind = status.status.as_deref()?.to_ascii_lowercase();
    if !["ringing", "accepted", "rejected"].contains(&kind.as_str()) {
        return None;
    }
    let (wa_id, user_id) = (
        status.recipient_id.as_deref(),
        status.recipient_user_id.as_deref(),
    );
    let mut data = Map::new();
    data.insert("call_id".into(), id.into());
    data.insert("status".into(), kind.clone().into());
    data.insert(
        "biz_opaque_callback_data".into(),
        status.biz_opaque_callback_data.clone().into(),
    );
    Some(CallEvent {
        key: format!("call:{id}:status:{kind}"),
        event_type: EventType::CallStatus,
        occurred_at: meta_time(status.timestamp, ctx.received_at, "call status"),
        identity: Identity::new(wa_id, user_id),
        name: value.contact_of(wa_id, user_id).and_then(|c| c.name()),
        opens_window: false,
        data,
        raw,
    })
}

async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    e: &CallEvent<'_>,
) -> Result<Option<Commit>, ProcessError> {
    let resolved = Resolved::find(
        &state.store,
        &ctx.business,
        &e.identity,
        e.name,
        ctx.now_ms,
        &ctx.retention,
    )
    .await?;
    let mut writes = Vec::new();
    if let Some(r) = &resolved {
        if e.opens_window {
            let opened = shared::window::opened_by_inbound(
                r.conversation.clone(),
                &ctx.business,
                &r.record.contact_id,
                e.occurred_at,
                None,
                &ctx.due,
            );
            if let Some((mut conv, expect)) = opened {
                conv.ttl = Some(ctx.conversation_ttl());
                writes.push(Write::Conversation(conv, expect));
            }
        }
        writes.extend(r.writes(ctx.now_ms));
    } else {
        tracing::warn!("call names no customer wa_id or user_id; event has no contact");
    }
    tracing::info!(
        event_type = e.event_type.as_str(),
        contact = %e.identity.wa_id.as_ref().map(|w| mask_phone(w.as_str())).unwrap_or_default(),
        opens_window = e.opens_window,
        "call event planned"
    );
    let event = ctx.source(&e.key).event(
        e.event_type,
        0,
        e.occurred_at,
        resolved.as_ref().map(|r| r.record.to_ref()),
        events::data_with_original(e.data.clone(), e.raw)?,
    )?;
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            &e.key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes,
    }))
}
