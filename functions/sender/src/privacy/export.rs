//! `export_contact`: collect → document → store → presign → outcome.
//!
//! Everything the state table holds about the person (their contact partition, every item of
//! `contact-index` with its message's parked statuses) and the keys of their media objects,
//! as one JSON document at `exports/<biz>/<contact_id>/<export_id>.json`; `contact.exported`
//! carries a presigned GET URL valid `EXPORT_URL_MINUTES`. The export id derives from the
//! command id, so a redelivery before the outcome commit rewrites the same object.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Map, Value};
use shared::blob::{keys as blob_keys, Blobs};
use shared::events::EventType;
use shared::store::keys as store_keys;
use shared::store::personal::{ItemKey, PersonalDataStore};

use super::{find, Subject};
use crate::command::Command;
use crate::fifo::Disposition;
use crate::flow::{Outcome, SenderError};
use crate::{Ports, PrivacyPorts};

const PAGE: usize = 100;

pub(super) async fn run(
    state: &impl Ports,
    out: &Outcome,
    command: &Command,
) -> Result<Disposition, SenderError> {
    let request = match &command.payload {
        crate::command::Payload::Privacy(r) => r,
        _ => return Ok(Disposition::Done),
    };
    let Some(subject) = find(state, command, request).await? else {
        return super::unknown(state, out).await;
    };
    let pn = &command.phone_number_id;
    let items = collect(state, pn, &subject).await?;
    let media = state
        .privacy()
        .blobs()
        .list(&blob_keys::media_prefix(pn, &subject.contact_id))
        .await?;
    let now_ms = shared::now_ms();
    let export_id = shared::privacy::export_id(command.id.as_str());
    let document = document(&export_id, pn, &subject, &items, &media, state, now_ms);
    let key = blob_keys::export(pn, &subject.contact_id, &export_id);
    let bytes = serde_json::to_vec_pretty(&document)?;
    state
        .privacy()
        .blobs()
        .put(&key, bytes, "application/json")
        .await?;
    let valid_for: Duration = state.config().export_url;
    let url = state.privacy().blobs().presign_get(&key, valid_for).await?;
    let expires_at = now_ms / 1000 + i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX);
    let mut data = out.base();
    data.insert("contact_id".into(), subject.contact_id.clone().into());
    data.insert("bucket".into(), state.privacy().blobs().bucket().into());
    data.insert("key".into(), key.into());
    data.insert("url".into(), url.into());
    data.insert(
        "expires_at".into(),
        shared::events::rfc3339(expires_at).into(),
    );
    data.insert("items".into(), items.len().into());
    data.insert("media_objects".into(), media.len().into());
    super::commit_outcome(
        state,
        out,
        &subject,
        EventType::ContactExported,
        data,
        Vec::new(),
    )
    .await?;
    tracing::info!(command_id = %out.command_id, items = items.len(), media = media.len(), "contact exported");
    Ok(Disposition::Done)
}

/// The contact's partition, every indexed item and each message's partition (parked statuses).
async fn collect(
    state: &impl Ports,
    pn: &str,
    subject: &Subject,
) -> Result<Vec<Value>, SenderError> {
    let mut items = state
        .store()
        .read_partition(&store_keys::contact_pk(pn, &subject.contact_id))
        .await?;
    let mut seen: BTreeSet<ItemKey> = items.iter().filter_map(ItemKey::of).collect();
    let mut after = None;
    loop {
        let page = state
            .store()
            .contact_keys(&subject.contact_id, after.take(), PAGE)
            .await?;
        let mut wanted = Vec::new();
        for key in page.keys {
            if key.pk.starts_with("MSG#") {
                for item in state.store().read_partition(&key.pk).await? {
                    if ItemKey::of(&item).is_some_and(|k| seen.insert(k)) {
                        items.push(item);
                    }
                }
            } else if seen.insert(key.clone()) {
                wanted.push(key);
            }
        }
        items.extend(state.store().read_items(&wanted).await?);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(items)
}

/// The export document: items by kind, without storage fields (`pk`, `sk`, `ver`, `ttl`);
/// a message's Meta object and an event's body as JSON rather than text.
fn document(
    export_id: &str,
    pn: &str,
    subject: &Subject,
    items: &[Value],
    media: &[String],
    state: &impl Ports,
    now_ms: i64,
) -> Value {
    let mut doc = json!({
        "export_id": export_id,
        "generated_at": shared::events::rfc3339(now_ms / 1000),
        "phone_number_id": pn,
        "contact_id": subject.contact_id,
        "contact": subject.profile,
        "conversation": null,
        "aliases": [],
        "messages": [],
        "parked_statuses": [],
        "consent": [],
        "events": [],
        "other": [],
        "media": media
            .iter()
            .map(|k| json!({"bucket": state.privacy().blobs().bucket(), "key": k}))
            .collect::<Vec<_>>(),
    });
    for item in items {
        let pk = item.get("pk").and_then(Value::as_str).unwrap_or("");
        let sk = item.get("sk").and_then(Value::as_str).unwrap_or("");
        let section = match (pk, sk) {
            (_, store_keys::PROFILE) => {
                doc["contact"] = clean(item);
                continue;
            }
            (_, store_keys::CONVERSATION) => {
                doc["conversation"] = clean(item);
                continue;
            }
            (p, _) if p.starts_with("ALIAS#") => "aliases",
            (_, s) if s.starts_with("CONSENT#") => "consent",
            (_, store_keys::MESSAGE | store_keys::EXTERNAL) => "messages",
            (_, s) if s.starts_with("PARKED#") => "parked_statuses",
            (p, _) if p.starts_with("OUTBOX#") => {
                if let Some(events) = doc["events"].as_array_mut() {
                    events.extend(outbox_events(item));
                }
                continue;
            }
            _ => "other",
        };
        let value = match section {
            "aliases" => item.get("alias").cloned().unwrap_or(Value::Null),
            _ => clean(item),
        };
        if let Some(list) = doc[section].as_array_mut() {
            list.push(value);
        }
    }
    doc
}

fn clean(item: &Value) -> Value {
    let Value::Object(map) = item else {
        return item.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "pk" | "sk" | "ver" | "ttl" | "due_bucket" | "due_at" => {}
            "raw" => {
                let parsed = v
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_else(|| v.clone());
                out.insert(k.clone(), parsed);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The CRM events an outbox item holds, as the CRM received them.
fn outbox_events(item: &Value) -> Vec<Value> {
    item.get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e.get("body").and_then(Value::as_str))
                .filter_map(|b| serde_json::from_str(b).ok())
                .collect()
        })
        .unwrap_or_default()
}
