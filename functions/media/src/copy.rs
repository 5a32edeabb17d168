//! One media copy, exactly once in effect: find the message's contact → fetch from Meta → check
//! the sha256 → put the bytes in the bucket → commit and publish `message.media_stored` through
//! the outbox (`media:<wamid>`). A media Meta no longer has (or too large to keep) commits
//! `message.media_failed` instead, so it is neither retried nor lost silently.

use serde_json::{json, Map, Value};
use shared::blob::{keys, Blobs};
use shared::events::{self, ContactRef, EventSource, EventType, PendingEvent};
use shared::media::{MediaJob, MetaDigest};
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, MessageRecord, ProcessorStore};

use crate::graph::{FetchError, Fetched, MediaSource};
use crate::{CopyError, State};

/// What a copy stores when Meta names no type.
const DEFAULT_MIME_TYPE: &str = "application/octet-stream";

/// Copies `job`'s media unless its commit was made before.
pub async fn copy<S, Q, B, G, V>(
    state: &State<S, Q, B, G, V>,
    job: &MediaJob,
    now_ms: i64,
) -> Result<Applied, CopyError>
where
    S: ProcessorStore,
    Q: MessageSink,
    B: Blobs,
    G: MediaSource,
{
    let key = job.update_key();
    outbox::apply_once(&state.store, &state.events, &key, || {
        plan(state, job, now_ms)
    })
    .await
}

async fn plan<S, Q, B, G, V>(
    state: &State<S, Q, B, G, V>,
    job: &MediaJob,
    now_ms: i64,
) -> Result<Option<Commit>, CopyError>
where
    S: ProcessorStore,
    B: Blobs,
    G: MediaSource,
{
    // The stored message names the contact; without it (erased, or expired) there is no one
    // to keep the media for, and copying it would bring back what an erasure removed.
    let Some(message) = state.store.load_message(&job.wamid).await?.message else {
        tracing::info!("the message is no longer stored; nothing to copy");
        return Ok(None);
    };
    let message = message.record;
    let Some(contact_id) = message.contact_id.clone() else {
        tracing::info!("the message has no contact; nothing to copy");
        return Ok(None);
    };
    let contact = state
        .store
        .load_contact(&job.business, &contact_id)
        .await?
        .contact
        .map(|c| c.record.to_ref());
    let event = match state.graph.fetch(&job.business, &job.media_id).await {
        Ok(fetched) => {
            let stored = store(state, job, &contact_id, fetched).await?;
            event(
                job,
                &message,
                contact,
                EventType::MessageMediaStored,
                stored,
            )?
        }
        Err(err) if err.is_permanent() => {
            tracing::warn!(error = %shared::telemetry::error_chain(&err), "the media cannot be copied");
            event(
                job,
                &message,
                contact,
                EventType::MessageMediaFailed,
                failed(job, &err),
            )?
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            &job.update_key(),
            vec![event],
            now_ms,
            now_ms / 1000 + state.config.marker_secs(),
        )),
        writes: vec![],
    }))
}

/// Checks the bytes against Meta's digests and puts them at the message's key: the event's data.
async fn store<S, Q, B: Blobs, G, V>(
    state: &State<S, Q, B, G, V>,
    job: &MediaJob,
    contact_id: &str,
    fetched: Fetched,
) -> Result<Map<String, Value>, CopyError> {
    let digest = MetaDigest::of(&fetched.bytes);
    // The webhook's (base64) and the media answer's (hex): each one Meta gave must match.
    for expected in [job.sha256.as_deref(), fetched.sha256.as_deref()]
        .into_iter()
        .flatten()
    {
        match MetaDigest::parse(expected) {
            Some(meta) if meta == digest => {}
            Some(_) => return Err(CopyError::Mismatch),
            None => tracing::warn!("Meta's sha256 is unreadable; the other is checked"),
        }
    }
    let mime_type = fetched
        .mime_type
        .or_else(|| job.mime_type.clone())
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MIME_TYPE.to_owned());
    let key = keys::media(&job.business, contact_id, &job.wamid);
    let size = fetched.bytes.len();
    state.blobs.put(&key, fetched.bytes, &mime_type).await?;
    let mut data = Map::new();
    data.insert("wamid".into(), job.wamid.clone().into());
    data.insert("bucket".into(), state.blobs.bucket().into());
    data.insert("key".into(), key.into());
    data.insert("size".into(), size.into());
    data.insert("sha256".into(), digest.hex().into());
    data.insert("mime_type".into(), mime_type.into());
    data.insert("media_id".into(), job.media_id.clone().into());
    data.insert("message_type".into(), job.message_type.clone().into());
    Ok(data)
}

/// `message.media_failed`'s data: why the media will not be in the bucket.
fn failed(job: &MediaJob, err: &FetchError) -> Map<String, Value> {
    let reason = match err {
        FetchError::TooLarge { .. } => "too_large",
        FetchError::ForeignUrl => "unexpected_url",
        _ => "unavailable",
    };
    let mut data = Map::new();
    data.insert("wamid".into(), job.wamid.clone().into());
    data.insert("media_id".into(), job.media_id.clone().into());
    data.insert("message_type".into(), job.message_type.clone().into());
    data.insert("reason".into(), reason.into());
    data.insert("error_code".into(), json!(err.code()));
    data
}

fn event(
    job: &MediaJob,
    message: &MessageRecord,
    contact: Option<ContactRef>,
    event_type: EventType,
    data: Map<String, Value>,
) -> Result<PendingEvent, CopyError> {
    let source = EventSource {
        update_key: job.update_key(),
        phone_number_id: Some(job.business.clone()).filter(|b| !b.starts_with("waba:")),
        waba_id: None,
    };
    Ok(source.event(
        event_type,
        0,
        message.timestamp,
        contact,
        events::data(data)?,
    )?)
}
