//! `erase_contact`: start → page → objects → outcome.
//!
//! 1. **Start** (first delivery): find the person, copy their consent ledger under their keyed
//!    hash (`ERASED#<biz>#<hash>`, no identifier, no words, no wamid), delete their pair-rate
//!    buckets (keyed by the number), and save the erasure's progress at `CMD#<command_id>` /
//!    `ERASURE` (not in `contact-index`: its contact id is in `erasing`).
//! 2. **Page** through `contact-index` and delete each item with its partition's siblings (a
//!    message's parked statuses, a command's attempt and schedule), while the invocation has
//!    time; out of time, the progress is saved and the command comes back at once (a contact
//!    with thousands of messages takes several invocations).
//! 3. **Objects**: everything under the contact's `media/` and `exports/` prefixes.
//! 4. **Outcome**: `contact.erased` with the counts, its audit item and the progress record's
//!    deletion, in one transaction. A redelivery after it repeats the stored event.
//!
//! The contact id is derived from the number, so the person's next message creates a contact
//! with the same id, from scratch: no history, no name (docs/crm-contract.md, `erase_contact`).

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::blob::{keys as blob_keys, Blobs};
use shared::events::EventType;
use shared::privacy::{keys, HashedConsent};
use shared::store::personal::{ItemKey, PersonalDataStore};
use shared::store::{keys as store_keys, ConsentRecord, Write};

use super::{find, Subject};
use crate::command::Command;
use crate::fifo::{Disposition, RecordTime};
use crate::flow::{Outcome, SenderError};
use crate::{Ports, PrivacyPorts};

/// Keys asked of `contact-index` per page.
const PAGE: usize = 100;
/// Full passes over the index per invocation: the second picks up what the index showed late.
const PASSES: usize = 2;
/// The least time kept for the objects and the outcome commit.
const RESERVE: Duration = Duration::from_secs(3);
/// How long a progress record outlives an erasure that stopped being retried.
const PROGRESS_TTL_SECS: i64 = 7 * 86_400;

/// An erasure under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Progress {
    /// The contact being erased (not `contact_id`: this item stays out of `contact-index`).
    pub erasing: String,
    pub business: String,
    /// The person's keyed hashes (current key).
    pub subjects: Vec<String>,
    pub items_removed: u64,
    pub objects_removed: u64,
    pub consent_kept: u64,
    pub started_at_ms: i64,
    pub ttl: i64,
}

pub(super) async fn run(
    state: &impl Ports,
    out: &Outcome,
    command: &Command,
    request: &super::Request,
    time: &RecordTime,
) -> Result<Disposition, SenderError> {
    let (pk, sk) = keys::erasure(command.id.as_str());
    let here = ItemKey::new(pk, sk);
    let saved = state
        .store()
        .read_items(std::slice::from_ref(&here))
        .await?;
    let mut progress = match saved.into_iter().next() {
        Some(v) => serde_json::from_value::<Progress>(v)?,
        None => {
            let Some(subject) = find(state, command, request).await? else {
                return super::unknown(state, out).await;
            };
            start(state, command, &subject).await?
        }
    };
    let subject = Subject {
        contact_id: progress.erasing.clone(),
        profile: None,
        hashes: progress.subjects.clone(),
        identity: Default::default(),
    };
    let reserve = RESERVE.max(time.outcome_estimate());
    let own = format!("CMD#{}", command.id.as_str());
    let finished = delete_items(state, &mut progress, &own, time, reserve).await?;
    if !finished {
        save(state, &here, &progress).await?;
        tracing::info!(command_id = %out.command_id, items_removed = progress.items_removed, "erase_contact continues in the next delivery");
        return Ok(Disposition::Defer(Duration::ZERO));
    }
    time.commit();
    for prefix in [
        blob_keys::media_prefix(&progress.business, &progress.erasing),
        blob_keys::exports_prefix(&progress.business, &progress.erasing),
    ] {
        let objects = state.privacy().blobs().list(&prefix).await?;
        if !objects.is_empty() {
            state.privacy().blobs().delete(&objects).await?;
            progress.objects_removed += objects.len() as u64;
        }
    }
    let mut data = out.base();
    data.insert("contact_id".into(), progress.erasing.clone().into());
    data.insert("subject".into(), subject.subject().into());
    data.insert("items_removed".into(), progress.items_removed.into());
    data.insert("objects_removed".into(), progress.objects_removed.into());
    data.insert("consent_entries_kept".into(), progress.consent_kept.into());
    data.insert("reason".into(), request.reason.clone().into());
    let done = Write::Delete {
        pk: here.pk.clone(),
        sk: here.sk.clone(),
    };
    super::commit_outcome(
        state,
        out,
        &subject,
        EventType::ContactErased,
        data,
        vec![done],
    )
    .await?;
    tracing::info!(
        command_id = %out.command_id,
        items_removed = progress.items_removed,
        objects_removed = progress.objects_removed,
        "contact erased"
    );
    Ok(Disposition::Done)
}

/// Keeps the consent ledger under the keyed hash, deletes what is keyed by the number outside
/// the index (pair-rate buckets), and saves the progress.
async fn start(
    state: &impl Ports,
    command: &Command,
    subject: &Subject,
) -> Result<Progress, SenderError> {
    let pn = &command.phone_number_id;
    let now_ms = shared::now_ms();
    let partition = state
        .store()
        .read_partition(&store_keys::contact_pk(pn, &subject.contact_id))
        .await?;
    let ledger: Vec<ConsentRecord> = partition
        .into_iter()
        .filter(|v| {
            v.get("sk")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("CONSENT#"))
        })
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let mut kept = Vec::new();
    for hash in &subject.hashes {
        for entry in &ledger {
            let copy = HashedConsent {
                business: pn.clone(),
                subject: hash.clone(),
                action: entry.action,
                source: entry.source,
                category: entry.category.clone(),
                occurred_at: entry.occurred_at,
                entry_id: entry.entry_id.clone(),
                recorded_at_ms: entry.recorded_at_ms,
                ttl: Some(entry.ttl.unwrap_or_else(|| {
                    state
                        .config()
                        .retention
                        .consent_ttl(entry.recorded_at_ms / 1000)
                })),
            };
            let key = ItemKey::new(keys::erased_pk(pn, hash), copy.sort_key());
            kept.push((key, serde_json::to_value(&copy)?));
        }
    }
    state.store().put_items(&kept).await?;
    let pairs: Vec<ItemKey> = pair_recipients(&subject.identity)
        .into_iter()
        .map(|r| {
            let (pk, sk) = crate::store::bucket_key(pn, &r);
            ItemKey::new(pk, sk)
        })
        .collect();
    state.store().delete_items(&pairs).await?;
    let progress = Progress {
        erasing: subject.contact_id.clone(),
        business: pn.clone(),
        subjects: subject.hashes.clone(),
        items_removed: 0,
        objects_removed: 0,
        consent_kept: ledger.len() as u64,
        started_at_ms: now_ms,
        ttl: now_ms / 1000 + PROGRESS_TTL_SECS,
    };
    let (pk, sk) = keys::erasure(command.id.as_str());
    save(state, &ItemKey::new(pk, sk), &progress).await?;
    Ok(progress)
}

/// The pair-rate recipients (`crate::command::Recipient::rate_key`) of every form the person
/// may have been written to.
fn pair_recipients(identity: &shared::identity::Identity) -> Vec<String> {
    let mut out: Vec<String> = identity
        .wa_id
        .iter()
        .flat_map(|w| {
            let mut forms = w.variants();
            forms.push(w.canonical());
            forms
        })
        .map(|d| shared::identity::phone_alias(&d))
        .collect();
    out.extend(
        identity
            .user_id
            .iter()
            .map(|u| shared::identity::user_alias(u.as_str())),
    );
    out.sort();
    out.dedup();
    out
}

async fn save(state: &impl Ports, at: &ItemKey, progress: &Progress) -> Result<(), SenderError> {
    state
        .store()
        .put_items(&[(at.clone(), serde_json::to_value(progress)?)])
        .await?;
    Ok(())
}

/// Deletes the contact's items page by page while time allows; `true` once the index has no
/// more (after [`PASSES`] passes), `false` when the time ran short first.
async fn delete_items(
    state: &impl Ports,
    progress: &mut Progress,
    own: &str,
    time: &RecordTime,
    reserve: Duration,
) -> Result<bool, SenderError> {
    let mut gone: HashSet<ItemKey> = HashSet::new();
    for _ in 0..PASSES {
        let mut after = None;
        let mut seen_any = false;
        loop {
            if time.deadline().remaining() < reserve {
                return Ok(false);
            }
            let page = state
                .store()
                .contact_keys(&progress.erasing, after.take(), PAGE)
                .await?;
            seen_any |= !page.keys.is_empty();
            let mut batch: Vec<ItemKey> = Vec::new();
            for key in page.keys {
                for k in with_siblings(state, key, own).await? {
                    if !gone.contains(&k) && !batch.contains(&k) {
                        batch.push(k);
                    }
                }
            }
            state.store().delete_items(&batch).await?;
            progress.items_removed += batch.len() as u64;
            gone.extend(batch);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if !seen_any {
            break;
        }
    }
    Ok(true)
}

/// An indexed item and the items of its partition that hold the same person's data: a
/// message's parked statuses and external record, a command's send attempt and schedule.
async fn with_siblings(
    state: &impl Ports,
    key: ItemKey,
    own: &str,
) -> Result<Vec<ItemKey>, SenderError> {
    let partition = if key.pk.starts_with("MSG#") {
        Some(key.pk.clone())
    } else {
        key.pk
            .strip_prefix("OUTBOX#cmd:")
            .map(|rest| format!("CMD#{}", rest.split('#').next().unwrap_or(rest)))
            .filter(|p| p != own)
    };
    let mut keys = vec![key];
    if let Some(pk) = partition {
        let items = state.store().read_partition(&pk).await?;
        keys.extend(items.iter().filter_map(ItemKey::of));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::identity::Identity;

    #[test]
    fn pair_buckets_of_every_form_of_the_number_are_named() {
        let r = pair_recipients(&Identity::new(Some("551187654321"), Some("BR.1")));
        assert_eq!(r, ["uid:BR.1", "wa:551187654321", "wa:5511987654321"]);
    }
}
