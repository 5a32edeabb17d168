//! Exactly once in effect: state change and events are committed together, then published.
//!
//! An update's [`Commit`] carries an outbox item keyed by the update; its existence is the dedup
//! marker. After the commit the events go to SQS and the item is marked published. A crash (or an
//! SQS failure) between the two leaves an unpublished outbox: the redelivered update finds the
//! marker, publishes the stored events with their original `event_id`s and succeeds. So a
//! duplicate never changes state twice and an event is never lost; at worst it is sent twice with
//! the same `event_id` (FIFO deduplication and the CRM drop the repeat).
//!
//! Every commit of events goes through [`commit`], which counts them in the invocation's business
//! metrics once the commit applied: a duplicate, which commits nothing, counts nothing.

use std::future::Future;
use std::time::Duration;

use crate::metrics::{business::Tally, invocation};
use crate::queue::{MessageSink, QueueError};
use crate::store::{Commit, CommitOutcome, OutboxRecord, OutboxStore, StoreError};

/// How often a plan is re-read and retried when another writer got there first.
pub(crate) const ATTEMPTS: u32 = 8;

/// The pause before attempt `attempt` after a conflict (none before the first).
pub(crate) async fn backoff(attempt: u32) {
    if attempt > 0 {
        tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
    }
}

/// What happened to an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Committed now; `events` were published.
    Committed { events: usize },
    /// Seen before; `republished` events were still unpublished and have been sent now.
    Duplicate { republished: usize },
    /// The plan had nothing to change.
    Nothing,
}

/// Why an update could not be applied now (every case is worth a retry).
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("state table unavailable")]
    Store(#[from] StoreError),
    #[error("CRM events could not be published")]
    Queue(#[from] QueueError),
    #[error("update {update_key} kept conflicting with concurrent writers")]
    Contended { update_key: String },
    /// An earlier status of the same message is committed but not yet published; only its own
    /// redelivery can rebuild its event, and the CRM gets statuses in rank order
    /// (`crate::delivery`'s direct path).
    #[error("an earlier status of the message is not yet published")]
    Waiting,
    #[error("could not encode an event")]
    Encode(#[from] serde_json::Error),
}

/// Applies one update exactly once in effect. `plan` reads current state and returns the commit
/// to make (or `None` if there is nothing to do); it is called again after a conflict.
pub async fn apply_once<S, Q, F, Fut, E>(
    store: &S,
    sink: &Q,
    update_key: &str,
    plan: F,
) -> Result<Applied, E>
where
    S: OutboxStore,
    Q: MessageSink,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Commit>, E>>,
    E: From<OutboxError>,
{
    apply(store, sink, update_key, plan, true).await
}

/// [`apply_once`] for a caller that has just read the outbox of `update_key` and found none (the
/// sender does, first thing, to answer a repeat): the first plan is committed without reading it
/// again. The commit's condition still refuses a second outbox, and a refused commit reads it
/// and publishes what it holds, as [`apply_once`] does.
pub async fn apply_unseen<S, Q, F, Fut, E>(
    store: &S,
    sink: &Q,
    update_key: &str,
    plan: F,
) -> Result<Applied, E>
where
    S: OutboxStore,
    Q: MessageSink,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Commit>, E>>,
    E: From<OutboxError>,
{
    apply(store, sink, update_key, plan, false).await
}

async fn apply<S, Q, F, Fut, E>(
    store: &S,
    sink: &Q,
    update_key: &str,
    mut plan: F,
    read_first: bool,
) -> Result<Applied, E>
where
    S: OutboxStore,
    Q: MessageSink,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Commit>, E>>,
    E: From<OutboxError>,
{
    for attempt in 0..ATTEMPTS {
        backoff(attempt).await;
        let existing = if attempt > 0 || read_first {
            store
                .load_outbox(update_key)
                .await
                .map_err(OutboxError::from)?
        } else {
            None
        };
        if let Some(existing) = existing {
            return Ok(Applied::Duplicate {
                republished: publish(store, sink, &existing).await?,
            });
        }
        let Some(commit) = plan().await? else {
            return Ok(Applied::Nothing);
        };
        let outbox = commit.outbox.clone();
        match self::commit(store, commit)
            .await
            .map_err(OutboxError::from)?
        {
            CommitOutcome::Applied => {
                let events = match &outbox {
                    Some(o) => publish(store, sink, o).await?,
                    None => 0,
                };
                return Ok(Applied::Committed { events });
            }
            CommitOutcome::Duplicate | CommitOutcome::Conflict => continue,
        }
    }
    Err(OutboxError::Contended {
        update_key: update_key.to_owned(),
    }
    .into())
}

/// Commits `commit` and, when it applied, counts its outbox's events ([`counting`]).
pub async fn commit<S: OutboxStore>(
    store: &S,
    commit: Commit,
) -> Result<CommitOutcome, StoreError> {
    let tally = commit
        .outbox
        .as_ref()
        .map(|o| Tally::of(&o.events))
        .unwrap_or_default();
    counted(tally, store.commit(commit), |o| {
        *o == CommitOutcome::Applied
    })
    .await
}

/// Makes the write that commits `events` and, when `applied` says it applied, counts them in the
/// business metrics ([`crate::metrics::business`]): the one place events become metrics (a
/// [`commit`], or a status recorded on its message without an outbox).
pub async fn counting<T>(
    events: &[crate::events::PendingEvent],
    write: impl Future<Output = Result<T, StoreError>>,
    applied: impl FnOnce(&T) -> bool,
) -> Result<T, StoreError> {
    counted(Tally::of(events), write, applied).await
}

async fn counted<T>(
    tally: Tally,
    write: impl Future<Output = Result<T, StoreError>>,
    applied: impl FnOnce(&T) -> bool,
) -> Result<T, StoreError> {
    let outcome = write.await?;
    if applied(&outcome) {
        invocation::record(tally);
    }
    Ok(outcome)
}

/// Sends an outbox's events if they are not yet published, then marks it. Returns how many
/// were sent.
pub async fn publish<S: OutboxStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    outbox: &OutboxRecord,
) -> Result<usize, OutboxError> {
    if outbox.published || outbox.events.is_empty() {
        return Ok(0);
    }
    let messages = outbox.events.iter().map(|e| e.to_message()).collect();
    sink.send_all(messages).await?;
    store.mark_published(&outbox.key).await?;
    Ok(outbox.events.len())
}

/// An outbox record for `events`, published already if there is nothing to send.
pub fn outbox(
    update_key: &str,
    events: Vec<crate::events::PendingEvent>,
    now_ms: i64,
    ttl: i64,
) -> OutboxRecord {
    // Events about a contact are grouped by its id (`CrmEvent::pending`); contact ids are `ct_…`.
    let contact_id = events
        .iter()
        .map(|e| &e.group_id)
        .find(|g| g.starts_with("ct_"))
        .cloned();
    OutboxRecord {
        key: update_key.to_owned(),
        contact_id,
        published: events.is_empty(),
        events,
        created_at_ms: now_ms,
        ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventSource, EventType, PendingEvent};
    use crate::metrics::invocation::tallied;
    use crate::store::memory::MemoryStore;
    use crate::testkit::RecordingSink;

    const KEY: &str = "msg:wamid.A";

    fn received() -> PendingEvent {
        let source = EventSource {
            update_key: KEY.into(),
            phone_number_id: Some("106540352242922".into()),
            waba_id: None,
        };
        let data = crate::events::data(serde_json::Map::new()).unwrap();
        source
            .event(EventType::MessageReceived, 0, 1, None, data)
            .unwrap()
    }

    fn commit() -> Commit {
        Commit {
            outbox: Some(outbox(KEY, vec![received()], 1_000, 2)),
            writes: vec![],
        }
    }

    async fn apply(store: &MemoryStore, sink: &RecordingSink) -> Result<Applied, OutboxError> {
        apply_once(store, sink, KEY, || async { Ok(Some(commit())) }).await
    }

    #[tokio::test]
    async fn an_update_applied_unseen_over_an_existing_outbox_is_a_duplicate_that_changes_nothing()
    {
        let (store, sink) = (MemoryStore::new(), RecordingSink::failing(1));
        let first = apply(&store, &sink).await;
        assert!(first.is_err(), "committed, its publish failed");
        let plans = std::sync::atomic::AtomicUsize::new(0);

        let again = apply_unseen(&store, &sink, KEY, || {
            plans.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, OutboxError>(Some(commit())) }
        })
        .await;

        assert_eq!(again.unwrap(), Applied::Duplicate { republished: 1 });
        assert_eq!(plans.into_inner(), 1, "planned once, refused by the commit");
        assert_eq!(sink.messages().len(), 1, "the stored events, published now");
    }

    #[tokio::test]
    async fn a_committed_update_counts_its_events_and_its_duplicate_counts_nothing() {
        let (store, sink) = (MemoryStore::new(), RecordingSink::default());
        let (first, counted) = tallied(apply(&store, &sink)).await;
        assert_eq!(first.unwrap(), Applied::Committed { events: 1 });
        assert_eq!(counted, Tally::of(&[received()]));
        assert!(!counted.is_empty());

        let (again, counted) = tallied(apply(&store, &sink)).await;
        assert_eq!(again.unwrap(), Applied::Duplicate { republished: 0 });
        assert!(counted.is_empty());
    }

    #[tokio::test]
    async fn events_republished_after_a_failed_publish_are_counted_once_at_their_commit() {
        let (store, sink) = (MemoryStore::new(), RecordingSink::failing(1));
        let (first, counted) = tallied(apply(&store, &sink)).await;
        assert!(matches!(first, Err(OutboxError::Queue(_))));
        assert_eq!(counted, Tally::of(&[received()]));

        let (redelivered, counted) = tallied(apply(&store, &sink)).await;
        assert_eq!(redelivered.unwrap(), Applied::Duplicate { republished: 1 });
        assert!(counted.is_empty());
    }

    #[tokio::test]
    async fn a_commit_the_store_refuses_as_a_duplicate_counts_nothing() {
        let store = MemoryStore::new();
        let (outcome, _) = tallied(self::commit_direct(&store)).await;
        assert_eq!(outcome, CommitOutcome::Applied);
        let (outcome, counted) = tallied(self::commit_direct(&store)).await;
        assert_eq!(outcome, CommitOutcome::Duplicate);
        assert!(counted.is_empty());
    }

    async fn commit_direct(store: &MemoryStore) -> CommitOutcome {
        super::commit(store, commit()).await.unwrap()
    }
}
