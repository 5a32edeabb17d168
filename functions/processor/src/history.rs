//! `history`: the WhatsApp Business app's past chats, replayed once after onboarding. Each
//! message becomes one `history.message` with Meta's own timestamp, normalised like
//! `message.received`, with who sent it, its status then, and the chunk's phase and progress.
//! It is the past: no window, no consent, no alerts, no `awaiting_reply` change. Only the
//! customer's contact is found or created, so the CRM files the message under it.
//!
//! The webhook buffers each message alone (`UpdateKind::HistoryMessage`: a change can hold
//! thousands); a change it could not split arrives whole and is read here the same way.
//! Exactly once per message and content: keyed by wamid and type, because Meta sends media
//! messages first as a placeholder and then again with their media.

use serde_json::{Map, Value};
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore};

use crate::contact::Resolved;
use crate::payload::history::{ChunkMetadata, HistoryValue, PastMessage};
use crate::{digest, ProcessError, State, UpdateContext};

/// Where a past message sits: its thread (the customer) and its chunk of the sync.
struct Place<'a> {
    thread_id: Option<&'a str>,
    chunk: ChunkMetadata,
}

/// One message the webhook buffered alone.
pub(crate) async fn process_one<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
) -> Result<Applied, ProcessError> {
    let Some(message) = PastMessage::parse(update.update.get()) else {
        tracing::warn!("history message is not an object; skipped");
        return Ok(Applied::Nothing);
    };
    let place = Place {
        thread_id: update.thread_id.as_deref(),
        chunk: update
            .chunk
            .map(|c| ChunkMetadata::parse(c.get()))
            .unwrap_or_default(),
    };
    apply(state, ctx, update, &place, &message).await
}

/// Every message of every thread of a change buffered whole, each once.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &HistoryValue,
) -> Result<Applied, ProcessError> {
    let mut last = Applied::Nothing;
    for (chunk, thread, message) in value.messages() {
        let place = Place {
            thread_id: thread.id.as_deref(),
            chunk: chunk.metadata,
        };
        last = apply(state, ctx, update, &place, message).await?;
    }
    Ok(last)
}

async fn apply<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    place: &Place<'_>,
    message: &PastMessage,
) -> Result<Applied, ProcessError> {
    let msg_type = message.message.kind.as_deref().unwrap_or("unknown");
    let key = match &message.message.id {
        Some(wamid) => format!("history:{}:{wamid}:{msg_type}", ctx.business),
        None => format!(
            "history-noid:{}",
            digest(&[&ctx.business, &update.waba_id, message.raw.get()])
        ),
    };
    outbox::apply_once(&state.store, &state.events, &key, || {
        plan(state, ctx, &key, place, message)
    })
    .await
}

async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    key: &str,
    place: &Place<'_>,
    m: &PastMessage,
) -> Result<Option<Commit>, ProcessError> {
    let identity = Identity::new(place.thread_id.or(m.outbound.to.as_deref()), None);
    let resolved = Resolved::find(
        &state.store,
        &ctx.business,
        &identity,
        None,
        ctx.now_ms,
        &ctx.retention,
    )
    .await?;
    if resolved.is_none() {
        tracing::warn!("history thread names no customer number; event has no contact");
    }
    let timestamp = meta_time(m.message.timestamp, ctx.received_at, "history message");
    let msg_type = m.message.kind.clone().unwrap_or_else(|| "unknown".into());
    let event = ctx.source(key).event(
        EventType::HistoryMessage,
        0,
        timestamp,
        resolved.as_ref().map(|r| r.record.to_ref()),
        events::data_with_original(history_data(place, m, &msg_type, timestamp), &m.raw)?,
    )?;
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes: resolved.map(|r| r.writes(ctx.now_ms)).unwrap_or_default(),
    }))
}

/// See `schemas/events/history.message.json`.
fn history_data(
    place: &Place<'_>,
    m: &PastMessage,
    msg_type: &str,
    timestamp: i64,
) -> Map<String, Value> {
    let mut d = crate::message::normalise(&m.message, msg_type, timestamp);
    let business = m.is_from_business(place.thread_id);
    d.insert(
        "direction".into(),
        if business { "outbound" } else { "inbound" }.into(),
    );
    d.insert("to".into(), m.outbound.to.clone().into());
    d.insert(
        "status".into(),
        m.context
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .into(),
    );
    d.insert("thread_id".into(), place.thread_id.into());
    let mut sync = Map::new();
    sync.insert("phase".into(), place.chunk.phase.into());
    sync.insert("chunk_order".into(), place.chunk.chunk_order.into());
    sync.insert("progress".into(), place.chunk.progress.into());
    d.insert("sync".into(), sync.into());
    d
}
