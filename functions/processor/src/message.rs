//! Inbound customer messages: stored with a TTL, the contact found or created, the window opened
//! or extended, consent words recorded, and one `message.received` carrying normalised fields plus
//! Meta's message object unchanged.

use serde_json::{Map, Value};
use shared::consent::{ConsentSource, Decision};
use shared::delivery::{as_i64, meta_time, MetaError};
use shared::events::{self, EventType};
use shared::identity::{Identity, WaId};
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{
    keys, Commit, ConversationRecord, Direction, Expect, MessageRecord, ProcessorStore, Write,
};

use crate::contact::Resolved;
use crate::{digest, ProcessError, State, UpdateContext, WINDOW};

/// Message types Meta documents; anything else is forwarded with `unknown_type: true`.
const KNOWN_TYPES: [&str; 16] = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
    "unknown",
    "request_welcome",
];
const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

struct Inbound<'u> {
    msg: Value,
    raw: &'u serde_json::value::RawValue,
    wamid: String,
    key: String,
    msg_type: String,
    timestamp: i64,
    identity: Identity,
    name: Option<String>,
}

pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
) -> Result<Applied, ProcessError> {
    let msg: Value = serde_json::from_str(update.update.get()).unwrap_or_default();
    let contact: Value = update
        .contact
        .and_then(|c| serde_json::from_str(c.get()).ok())
        .unwrap_or_default();
    let wamid = str_at(&msg, &["id"]).unwrap_or_default();
    let key = if wamid.is_empty() {
        format!("msg-noid:{}", digest(&[&ctx.business, update.update.get()]))
    } else {
        format!("msg:{wamid}")
    };
    let identity = Identity::new(
        str_at(&msg, &["from"])
            .or_else(|| str_at(&contact, &["wa_id"]))
            .as_deref(),
        str_at(&msg, &["from_user_id"])
            .or_else(|| str_at(&contact, &["user_id"]))
            .as_deref(),
    );
    let inbound = Inbound {
        wamid,
        key,
        msg_type: str_at(&msg, &["type"]).unwrap_or_else(|| "unknown".into()),
        timestamp: meta_time(
            msg.get("timestamp").and_then(as_i64),
            ctx.received_at,
            "message",
        ),
        name: str_at(&contact, &["profile", "name"]),
        identity,
        raw: update.update,
        msg,
    };
    let key = inbound.key.clone();
    outbox::apply_once(&state.store, &state.events, &key, || {
        plan(state, ctx, &inbound)
    })
    .await
}

async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    m: &Inbound<'_>,
) -> Result<Option<Commit>, ProcessError> {
    if !m.wamid.is_empty() && state.store.load_message(&m.wamid).await?.message.is_some() {
        // Stored before and its outbox has expired: nothing left to do.
        return Ok(None);
    }
    let mut resolved = Resolved::find(
        &state.store,
        &ctx.business,
        &m.identity,
        m.name.as_deref(),
        ctx.now_ms,
    )
    .await?;
    let source = ctx.source(&m.key);
    let mut writes = Vec::new();
    let mut events_out = Vec::new();
    let mut extra_events = Vec::new();

    if let Some(r) = resolved.as_mut() {
        // A number change moves the contact; it is not a customer message for the window.
        if m.msg_type == "system" {
            let new = str_at(&m.msg, &["system", "wa_id"]).and_then(|w| WaId::parse(&w));
            let kind = str_at(&m.msg, &["system", "type"]).unwrap_or_default();
            if let (Some(new), "user_changed_number") = (new, kind.as_str()) {
                let before = r.record.to_ref();
                r.change_number(m.identity.wa_id.as_ref(), &new);
                let mut data = Map::new();
                data.insert("previous_wa_id".into(), before.wa_id.into());
                data.insert("previous_phone".into(), before.phone.into());
                data.insert("wa_id".into(), r.record.wa_id.clone().into());
                data.insert("phone".into(), r.record.phone.clone().into());
                data.insert("wamid".into(), m.wamid.clone().into());
                extra_events.push((EventType::ContactNumberChanged, data));
            }
        } else {
            if let Some(w) = window_write(
                r.conversation.clone(),
                &ctx.business,
                &r.record.contact_id,
                m,
                ctx.alert_lead_secs,
            ) {
                writes.push(w);
            }
            if let Some(decision) = consent_decision(state, m) {
                let (entry, effective) = decision.apply(&mut r.record, 0, ctx.now_ms);
                writes.push(Write::Consent(entry));
                extra_events.push((decision.event_type(), decision.event_data(effective)));
            }
        }
        writes.extend(r.writes(ctx.now_ms));
    }

    let contact_ref = resolved.as_ref().map(|r| r.record.to_ref());
    let contact_id = resolved.as_ref().map(|r| r.record.contact_id.clone());
    if !m.wamid.is_empty() {
        writes.push(Write::Message(
            MessageRecord {
                wamid: m.wamid.clone(),
                business: ctx.business.clone(),
                direction: Direction::Inbound,
                contact_id,
                message_type: m.msg_type.clone(),
                timestamp: m.timestamp,
                status: None,
                status_at: None,
                command_id: None,
                raw: Some(m.raw.get().to_owned()),
                ttl: Some(ctx.ttl()),
            },
            Expect::Absent,
        ));
    }
    events_out.push(source.event(
        EventType::MessageReceived,
        0,
        m.timestamp,
        contact_ref.clone(),
        events::data_with_original(normalise(&m.msg, &m.msg_type, m.timestamp), m.raw)?,
    )?);
    for (i, (event_type, data)) in extra_events.into_iter().enumerate() {
        events_out.push(source.event(
            event_type,
            i,
            m.timestamp,
            contact_ref.clone(),
            events::data(data)?,
        )?);
    }
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            &m.key,
            events_out,
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes,
    }))
}

/// Opens or extends the window from the newest inbound timestamp (order of arrival does not
/// matter) and schedules the first alert in the `due-index`.
fn window_write(
    current: Option<shared::store::Versioned<ConversationRecord>>,
    business: &str,
    contact_id: &str,
    m: &Inbound<'_>,
    alert_lead_secs: i64,
) -> Option<Write> {
    let (mut conv, expect) = match current {
        Some(v) => (v.record, Expect::Version(v.version)),
        None => (
            ConversationRecord {
                business: business.to_owned(),
                contact_id: contact_id.to_owned(),
                ..ConversationRecord::default()
            },
            Expect::Absent,
        ),
    };
    if conv.last_inbound_at.is_some_and(|last| last >= m.timestamp) {
        return None;
    }
    let expires = m.timestamp + WINDOW.as_secs() as i64;
    conv.last_inbound_at = Some(m.timestamp);
    conv.last_inbound_wamid = (!m.wamid.is_empty()).then(|| m.wamid.clone());
    conv.window_expires_at = Some(expires);
    if conv
        .window_closed_at
        .is_some_and(|closed| closed < m.timestamp)
    {
        conv.window_closed_at = None;
    }
    conv.awaiting_reply = conv.last_outbound_at.is_none_or(|out| out <= m.timestamp);
    conv.alerted_leads.clear();
    conv.due_bucket = Some(keys::due_bucket(contact_id));
    conv.due_at = Some(expires - alert_lead_secs);
    Some(Write::Conversation(conv, expect))
}

fn consent_decision<S, Q>(state: &State<S, Q>, m: &Inbound<'_>) -> Option<Decision> {
    let words = &state.config.consent_words;
    let (action, source, trigger) = match m.msg_type.as_str() {
        "text" => {
            let body = str_at(&m.msg, &["text", "body"])?;
            (words.classify_text(&body)?, ConsentSource::Keyword, body)
        }
        "button" => {
            let payload = str_at(&m.msg, &["button", "payload"]);
            let text = str_at(&m.msg, &["button", "text"]);
            let action = words.classify_button(payload.as_deref(), text.as_deref())?;
            (
                action,
                ConsentSource::QuickReply,
                text.or(payload).unwrap_or_default(),
            )
        }
        _ => return None,
    };
    Some(Decision {
        action,
        source,
        occurred_at: m.timestamp,
        trigger_wamid: (!m.wamid.is_empty()).then(|| m.wamid.clone()),
        trigger: Some(trigger),
        update_key: m.key.clone(),
    })
}

/// The normalised fields of `message.received` (see `schemas/events/message.received.json`).
fn normalise(msg: &Value, msg_type: &str, timestamp: i64) -> Map<String, Value> {
    let mut d = Map::new();
    let s = |path: &[&str]| str_at(msg, path).map_or(Value::Null, Value::String);
    d.insert("wamid".into(), s(&["id"]));
    d.insert("type".into(), msg_type.into());
    d.insert("timestamp".into(), events::rfc3339(timestamp).into());
    d.insert("from".into(), s(&["from"]));
    d.insert("from_user_id".into(), s(&["from_user_id"]));
    d.insert(
        "unknown_type".into(),
        (!KNOWN_TYPES.contains(&msg_type)).into(),
    );
    match msg_type {
        "text" => {
            d.insert("text".into(), s(&["text", "body"]));
        }
        t if MEDIA_TYPES.contains(&t) => {
            let media = msg.get(t).cloned().unwrap_or_default();
            let mut m = Map::new();
            m.insert("kind".into(), t.into());
            for f in ["id", "mime_type", "sha256", "caption", "filename", "url"] {
                m.insert(f.into(), media.get(f).cloned().unwrap_or(Value::Null));
            }
            for f in ["voice", "animated"] {
                if let Some(v) = media.get(f) {
                    m.insert(f.into(), v.clone());
                }
            }
            d.insert("media".into(), m.into());
        }
        "location" => {
            let loc = msg.get("location").cloned().unwrap_or_default();
            let mut m = Map::new();
            for f in ["latitude", "longitude", "name", "address", "url"] {
                m.insert(f.into(), loc.get(f).cloned().unwrap_or(Value::Null));
            }
            d.insert("location".into(), m.into());
        }
        "contacts" => {
            d.insert(
                "shared_contacts".into(),
                msg.get("contacts").cloned().unwrap_or(Value::Array(vec![])),
            );
        }
        "interactive" => {
            let kind = str_at(msg, &["interactive", "type"]).unwrap_or_default();
            let reply = msg
                .get("interactive")
                .and_then(|i| i.get(&kind))
                .cloned()
                .unwrap_or_default();
            let mut m = Map::new();
            m.insert("type".into(), kind.clone().into());
            for f in ["id", "title", "description", "body", "name"] {
                m.insert(f.into(), reply.get(f).cloned().unwrap_or(Value::Null));
            }
            // A Flow's answer arrives as a JSON string; parse it for the CRM, keep it if odd.
            let response = reply.get("response_json").map(|r| match r.as_str() {
                Some(text) => serde_json::from_str(text).unwrap_or_else(|_| r.clone()),
                None => r.clone(),
            });
            m.insert("response".into(), response.unwrap_or(Value::Null));
            d.insert("interactive".into(), m.into());
        }
        "button" => {
            let mut m = Map::new();
            m.insert("payload".into(), s(&["button", "payload"]));
            m.insert("text".into(), s(&["button", "text"]));
            d.insert("button".into(), m.into());
        }
        "reaction" => {
            let emoji = str_at(msg, &["reaction", "emoji"]).filter(|e| !e.is_empty());
            let mut m = Map::new();
            m.insert("message_id".into(), s(&["reaction", "message_id"]));
            m.insert("removed".into(), emoji.is_none().into());
            m.insert("emoji".into(), emoji.into());
            d.insert("reaction".into(), m.into());
        }
        "order" => {
            let order = msg.get("order").cloned().unwrap_or_default();
            let mut m = Map::new();
            m.insert("catalog_id".into(), s(&["order", "catalog_id"]));
            m.insert("text".into(), s(&["order", "text"]));
            m.insert(
                "product_items".into(),
                order
                    .get("product_items")
                    .cloned()
                    .unwrap_or(Value::Array(vec![])),
            );
            d.insert("order".into(), m.into());
        }
        "system" => {
            let mut m = Map::new();
            m.insert("type".into(), s(&["system", "type"]));
            m.insert("body".into(), s(&["system", "body"]));
            m.insert("new_wa_id".into(), s(&["system", "wa_id"]));
            d.insert("system".into(), m.into());
        }
        _ => {}
    }
    d.insert("context".into(), context(msg));
    d.insert(
        "referral".into(),
        msg.get("referral").cloned().unwrap_or(Value::Null),
    );
    d.insert(
        "errors".into(),
        serde_json::to_value(MetaError::list(msg.get("errors"))).unwrap_or_default(),
    );
    d
}

fn context(msg: &Value) -> Value {
    let Some(c) = msg.get("context").filter(|c| c.is_object()) else {
        return Value::Null;
    };
    let flag = |name: &str| c.get(name).and_then(Value::as_bool).unwrap_or(false);
    let reply_to = match c.get("id").and_then(Value::as_str) {
        Some(id) => {
            serde_json::json!({ "id": id, "from": c.get("from").cloned().unwrap_or(Value::Null) })
        }
        None => Value::Null,
    };
    serde_json::json!({
        "reply_to": reply_to,
        "forwarded": flag("forwarded"),
        "frequently_forwarded": flag("frequently_forwarded"),
        "referred_product": c.get("referred_product").cloned().unwrap_or(Value::Null),
    })
}

/// A string at a path of object keys (numbers are accepted and stringified).
pub(crate) fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    crate::id_string(cur)
}
