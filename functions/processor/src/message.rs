//! Inbound customer messages: stored with a TTL, the contact found or created, the window opened
//! or extended, consent words recorded, and one `message.received` carrying normalised fields plus
//! Meta's message object unchanged.
//!
//! A group message (`group_id` set) is the participant's (the contact) said to the group: it
//! opens or extends no 24 h window (a group has none of its own and the participant wrote to
//! the group, not to the business) and changes no consent (a "STOP" in a group is words to the
//! group; the participant's own preference arrives by `user_preferences` or a message of their
//! own). `message.received` carries `group: {id}`.

use serde_json::{Map, Value};
use shared::consent::{ConsentSource, Decision};
use shared::conversation::{self, Entry, Lifecycle};
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::media::{MediaJob, MEDIA_TYPES};
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{
    AliasRecord, Commit, ConversationRecord, Direction, Expect, MessageRecord, ProcessorStore,
    StoreError, Versioned, Write,
};

use crate::contact::Resolved;
use crate::payload::contact::ContactBlock;
use crate::payload::message::Message;
use crate::payload::system::{IdentityChange, System};
use crate::{digest, ProcessError, State, UpdateContext};

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

struct Inbound<'u> {
    msg: Message,
    raw: &'u serde_json::value::RawValue,
    wamid: String,
    key: String,
    msg_type: String,
    timestamp: i64,
    identity: Identity,
    name: Option<String>,
    parent_user_id: Option<String>,
    username: Option<String>,
}

impl Inbound<'_> {
    /// The number or user id change a `system` message announces.
    fn system_change(&self) -> Option<IdentityChange> {
        let system = self
            .msg
            .system
            .as_ref()
            .filter(|_| self.msg_type == "system");
        system.and_then(System::identity_change)
    }
}

pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
) -> Result<Applied, ProcessError> {
    let msg: Message = shared::lenient::parse(update.update.get());
    let contact: ContactBlock = update
        .contact
        .map(|c| shared::lenient::parse(c.get()))
        .unwrap_or_default();
    let wamid = msg.id.clone().unwrap_or_default();
    let key = if wamid.is_empty() {
        format!("msg-noid:{}", digest(&[&ctx.business, update.update.get()]))
    } else {
        format!("msg:{wamid}")
    };
    let identity = Identity::new(
        msg.from.as_deref().or(contact.wa_id.as_deref()),
        msg.from_user_id.as_deref().or(contact.user_id.as_deref()),
    );
    let inbound = Inbound {
        wamid,
        key,
        msg_type: msg.kind.clone().unwrap_or_else(|| "unknown".into()),
        timestamp: meta_time(msg.timestamp, ctx.received_at, "message"),
        name: contact.name().map(str::to_owned),
        parent_user_id: msg
            .from_parent_user_id
            .clone()
            .or_else(|| contact.parent_user_id.clone()),
        username: contact.username().map(str::to_owned),
        identity,
        raw: update.update,
        msg,
    };
    let key = inbound.key.clone();
    let mut replan = false;
    let applied = outbox::apply_once(&state.store, &state.events, &key, || {
        let again = std::mem::replace(&mut replan, true);
        plan(state, ctx, &inbound, again)
    })
    .await?;
    queue_media_copy(state, ctx, &inbound, applied).await?;
    Ok(applied)
}

/// A customer's media message queues its copy once its commit applied, and again on every
/// redelivery that finds the commit (the queue send may have failed after it): the media
/// function's own outbox (`media:<wamid>`) makes repeats harmless, so nothing is lost between
/// the commit and the queue. After `message.received` was published, so it never waits for media.
async fn queue_media_copy<S, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    m: &Inbound<'_>,
    applied: Applied,
) -> Result<(), ProcessError> {
    if matches!(applied, Applied::Nothing) || m.wamid.is_empty() {
        // Nothing: stored before and its marker expired, so Meta's media id (7 days) has too.
        return Ok(());
    }
    let Some(job) = media_job(ctx, m) else {
        return Ok(());
    };
    let body = serde_json::to_string(&job)?;
    state
        .media
        .send_all(vec![shared::queue::OutboundMessage::new(body)])
        .await
        .map_err(|e| ProcessError::Apply(e.into()))
}

/// The copy a media message asks for, if it is one and names a media id.
fn media_job(ctx: &UpdateContext, m: &Inbound<'_>) -> Option<MediaJob> {
    if !MEDIA_TYPES.contains(&m.msg_type.as_str()) {
        return None;
    }
    let media = m.msg.media(&m.msg_type)?;
    let media_id = media.id.clone().filter(|id| !id.is_empty())?;
    Some(MediaJob {
        wamid: m.wamid.clone(),
        business: ctx.business.clone(),
        media_id,
        message_type: m.msg_type.clone(),
        mime_type: media.mime_type.clone(),
        sha256: media.sha256.clone(),
    })
}

/// `replan`: a commit of this update conflicted before (`outbox::apply_once` plans again).
async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    m: &Inbound<'_>,
    replan: bool,
) -> Result<Option<Commit>, ProcessError> {
    // Stored before and its outbox has expired: nothing left to do. Only a re-plan reads for
    // it: the commit's `MESSAGE` put (absent only) refuses such a message as a conflict anyway,
    // so a new message, nearly every one, costs no read of its partition.
    if replan && !m.wamid.is_empty() && state.store.load_message(&m.wamid).await?.message.is_some()
    {
        return Ok(None);
    }
    let change = m.system_change();
    let mut resolved = match &change {
        Some(change) => {
            let name = m.name.as_deref();
            let (store, business) = (&state.store, &ctx.business);
            crate::user_id::resolve(
                store,
                business,
                &m.identity,
                change,
                name,
                ctx.now_ms,
                &ctx.retention,
            )
            .await?
        }
        None => {
            let name = m.name.as_deref();
            Resolved::find(
                &state.store,
                &ctx.business,
                &m.identity,
                name,
                ctx.now_ms,
                &ctx.retention,
            )
            .await?
        }
    };
    let source = ctx.source(&m.key);
    let mut writes = Vec::new();
    let mut events_out = Vec::new();
    let mut extra_events = Vec::new();
    let mut lifecycle = Vec::new();

    if let Some(r) = resolved.as_mut() {
        r.learn(m.parent_user_id.as_deref(), m.username.as_deref());
        // A number or user id change moves the contact; it is not a customer message for the
        // window.
        if m.msg_type == "system" {
            if let Some(change) = &change {
                let (wa, uid) = (m.identity.wa_id.as_ref(), m.identity.user_id.as_ref());
                let notice = crate::user_id::apply_notice(r, change, wa, uid, &m.wamid);
                extra_events.extend(notice);
            }
        } else if m.msg.group_id.is_none() {
            let opens = r
                .conversation
                .as_ref()
                .is_none_or(|c| c.record.open.is_none());
            let entry = if opens {
                entry(&state.store, &ctx.business, &m.msg).await?
            } else {
                Entry::Organic
            };
            let current = r.conversation.clone();
            let (write, opened) = conversation_write(current, ctx, &r.record.contact_id, m, entry);
            writes.push(write);
            if let Some(Lifecycle::Opened {
                conversation_id, ..
            }) = &opened
            {
                // So that the CRM may name the conversation alone (`close_conversation`). Ahead
                // of the transaction: the id derives from the contact and this message, so a
                // redelivery writes the same alias (one left by a plan that lost a race names a
                // conversation nobody learned of, and expires with the conversation's TTL).
                writes.push(crate::contact::ahead(Write::Alias {
                    record: AliasRecord {
                        business: ctx.business.clone(),
                        alias: conversation::alias(conversation_id),
                        contact_id: r.record.contact_id.clone(),
                        ttl: Some(ctx.conversation_ttl()),
                    },
                    replace: false,
                }));
            }
            lifecycle.extend(opened);
            if let Some(decision) = consent_decision(state, m) {
                let (entry, effective) =
                    decision.apply(&mut r.record, 0, ctx.now_ms, &ctx.retention);
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
                template: None,
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
    if let Some(contact) = &contact_ref {
        for l in &lifecycle {
            events_out.push(l.event(&ctx.business, contact.clone())?);
        }
    }
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

/// The contact's conversation record after a customer message: the window opened or extended
/// from the newest inbound timestamp (`shared::window::opened_by_inbound`), the message counted
/// in the helpdesk conversation — opening one when none is open (`shared::conversation`), unless
/// it answers the contact's rating request or comments on it (`crate::rating`) — and
/// `due_at` armed for whatever became due first (`shared::due`).
fn conversation_write(
    current: Option<Versioned<ConversationRecord>>,
    ctx: &UpdateContext,
    contact_id: &str,
    m: &Inbound<'_>,
    entry: Entry,
) -> (Write, Option<Lifecycle>) {
    let wamid = (!m.wamid.is_empty()).then_some(m.wamid.as_str());
    let at = m.timestamp;
    let opened = shared::window::opened_by_inbound(
        current.clone(),
        &ctx.business,
        contact_id,
        at,
        wamid,
        &ctx.due,
    );
    let (mut conv, expect) = match (opened, current) {
        (Some(pair), _) => pair,
        // An older message arriving late: the window stays, the conversation still counts it.
        (None, Some(v)) => (v.record, Expect::Version(v.version)),
        (None, None) => (
            ConversationRecord {
                business: ctx.business.clone(),
                contact_id: contact_id.to_owned(),
                ..ConversationRecord::default()
            },
            Expect::Absent,
        ),
    };
    let first_message = wamid.unwrap_or(&m.key);
    // An answer to a rating request, or its comment, is not a new request (`crate::rating`).
    let rating = crate::rating::Answer {
        msg: &m.msg,
        msg_type: &m.msg_type,
        wamid,
        at,
    };
    let event = crate::rating::answer(&mut conv, &rating, ctx.rating_window_secs)
        .or_else(|| conversation::customer_message(&mut conv, at, first_message, wamid, entry));
    ctx.due.arm_earlier(&mut conv);
    conv.ttl = Some(ctx.conversation_ttl());
    (Write::Conversation(conv, expect), event)
}

/// How a conversation this message opens began: from an ad (Meta's `referral`, kept), as a
/// reply to a template the bridge sent (the replied-to message as stored), or on its own.
async fn entry<S: ProcessorStore>(
    store: &S,
    business: &str,
    msg: &Message,
) -> Result<Entry, StoreError> {
    if let Some(referral) = &msg.referral {
        let ctwa_clid = referral
            .get("ctwa_clid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Ok(Entry::Ad {
            referral: Some(referral.clone()),
            ctwa_clid,
        });
    }
    let Some(replied) = msg.context.as_ref().and_then(|c| c.id.as_deref()) else {
        return Ok(Entry::Organic);
    };
    let stored = store.load_message(replied).await?.message;
    Ok(match stored.map(|v| v.record) {
        Some(r)
            if r.direction == Direction::Outbound
                && r.message_type == "template"
                && r.business == business =>
        {
            Entry::TemplateReply {
                wamid: replied.to_owned(),
                command_id: r.command_id,
            }
        }
        _ => Entry::Organic,
    })
}

fn consent_decision<S, Q>(state: &State<S, Q>, m: &Inbound<'_>) -> Option<Decision> {
    let words = &state.config.consent_words;
    let (action, source, trigger) = match m.msg_type.as_str() {
        "text" => {
            let body = m.msg.text_body()?;
            (
                words.classify_text(body)?,
                ConsentSource::Keyword,
                body.to_owned(),
            )
        }
        "button" => {
            let button = m.msg.button.as_ref()?;
            let (payload, text) = (button.payload.as_deref(), button.text.as_deref());
            let action = words.classify_button(payload, text)?;
            (
                action,
                ConsentSource::QuickReply,
                text.or(payload).unwrap_or_default().to_owned(),
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
pub(crate) fn normalise(msg: &Message, msg_type: &str, timestamp: i64) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("wamid".into(), msg.id.clone().into());
    d.insert("type".into(), msg_type.into());
    d.insert("timestamp".into(), events::rfc3339(timestamp).into());
    d.insert("from".into(), msg.from.clone().into());
    d.insert("from_user_id".into(), msg.from_user_id.clone().into());
    d.insert(
        "group".into(),
        match &msg.group_id {
            Some(id) => serde_json::json!({ "id": id }),
            None => Value::Null,
        },
    );
    d.insert(
        "unknown_type".into(),
        (!KNOWN_TYPES.contains(&msg_type)).into(),
    );
    let mut put = |name: &str, fields: Vec<(&str, Value)>| {
        let m: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        d.insert(name.into(), m.into());
    };
    match msg_type {
        "text" => {
            d.insert("text".into(), msg.text_body().into());
        }
        t if MEDIA_TYPES.contains(&t) => {
            let media = msg.media(t).cloned().unwrap_or_default();
            let mut fields = vec![
                ("kind", t.into()),
                ("id", media.id.into()),
                ("mime_type", media.mime_type.into()),
                ("sha256", media.sha256.into()),
                ("caption", media.caption.into()),
                ("filename", media.filename.into()),
                ("url", media.url.into()),
            ];
            fields.extend(media.voice.map(|v| ("voice", v.into())));
            fields.extend(media.animated.map(|v| ("animated", v.into())));
            put("media", fields);
        }
        "location" => {
            let loc = msg.location.clone().unwrap_or_default();
            put(
                "location",
                vec![
                    ("latitude", loc.latitude.into()),
                    ("longitude", loc.longitude.into()),
                    ("name", loc.name.into()),
                    ("address", loc.address.into()),
                    ("url", loc.url.into()),
                ],
            );
        }
        "contacts" => {
            d.insert("shared_contacts".into(), msg.contacts.clone().into());
        }
        "interactive" => {
            let interactive = msg.interactive.clone().unwrap_or_default();
            let reply = interactive.reply().unwrap_or_default();
            put(
                "interactive",
                vec![
                    ("type", interactive.kind.unwrap_or_default().into()),
                    ("id", reply.id.clone().into()),
                    ("title", reply.title.clone().into()),
                    ("description", reply.description.clone().into()),
                    ("body", reply.body.clone().into()),
                    ("name", reply.name.clone().into()),
                    // A Flow's answer arrives as a JSON string; parsed for the CRM.
                    ("response", reply.response()),
                ],
            );
        }
        "button" => {
            let button = msg.button.clone().unwrap_or_default();
            put(
                "button",
                vec![
                    ("payload", button.payload.into()),
                    ("text", button.text.into()),
                ],
            );
        }
        "reaction" => {
            let reaction = msg.reaction.clone().unwrap_or_default();
            let emoji = reaction.emoji.filter(|e| !e.is_empty());
            put(
                "reaction",
                vec![
                    ("message_id", reaction.message_id.into()),
                    ("removed", emoji.is_none().into()),
                    ("emoji", emoji.into()),
                ],
            );
        }
        "order" => {
            let order = msg.order.clone().unwrap_or_default();
            put(
                "order",
                vec![
                    ("catalog_id", order.catalog_id.into()),
                    ("text", order.text.into()),
                    ("product_items", order.product_items.into()),
                ],
            );
        }
        "system" => {
            let system = msg.system.clone().unwrap_or_default();
            put(
                "system",
                vec![
                    ("type", system.kind.clone().into()),
                    ("body", system.body.clone().into()),
                    ("new_wa_id", system.new_number().into()),
                    (
                        "new_user_id",
                        system.user_id.clone().or(system.new_user_id.clone()).into(),
                    ),
                ],
            );
        }
        _ => {}
    }
    d.insert("context".into(), context(msg));
    d.insert("referral".into(), msg.referral.clone().into());
    d.insert(
        "errors".into(),
        serde_json::to_value(&msg.errors).unwrap_or_default(),
    );
    d
}

fn context(msg: &Message) -> Value {
    let Some(c) = &msg.context else {
        return Value::Null;
    };
    let reply_to = match &c.id {
        Some(id) => serde_json::json!({ "id": id, "from": c.from }),
        None => Value::Null,
    };
    serde_json::json!({
        "reply_to": reply_to,
        "forwarded": c.forwarded.unwrap_or(false),
        "frequently_forwarded": c.frequently_forwarded.unwrap_or(false),
        "referred_product": c.referred_product,
    })
}
