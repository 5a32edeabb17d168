//! Statuses of messages the bridge did not send: forwarded once their park time is over.
//!
//! A status whose wamid is not stored is parked (see [`super::apply_status`]) with a `due_at`
//! of parked time + `EXTERNAL_STATUS_PARK_SECONDS` in the `due-index`. The schedule's tick
//! (window-alerts) calls [`release_due`]: for each due wamid still unknown, its lowest parked
//! status creates the message's `EXTERNAL` record and becomes a `message.status` with
//! `origin: "external"`; the rest apply to that record, lowest first, so the CRM sees them in
//! order and never backwards. A parked item leaves the index only after its event is published. The event keys are the processor's
//! own (`status:<wamid>:<status>`), committed "if absent": a run repeated, two runs at once, or
//! the sender storing the wamid at that very moment still give one event per status.

use std::collections::BTreeSet;

use super::{apply_one, apply_parked, unpark, Mode, StatusContext, StatusUpdate};
use crate::outbox::{Applied, OutboxError};
use crate::queue::MessageSink;
use crate::store::parked::{ParkedStore, PARKED_DUE_BUCKETS};

/// What one release did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Due parked statuses the queries read.
    pub due: usize,
    /// Statuses forwarded (as external, or as the bridge's when the sender stored the message
    /// in the meantime).
    pub forwarded: usize,
    /// Messages whose statuses could not be forwarded now (left parked and due: the next run
    /// tries again; an event committed but not published goes out then with its own id).
    pub failed: usize,
}

/// Forwards every parked status due at `now_ms`; `retention` gives the lifetime of the
/// `EXTERNAL` records and outbox items it writes. Fails only when the index cannot be read;
/// a message that cannot be forwarded now is counted in [`Released::failed`].
pub async fn release_due<S: ParkedStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    now_ms: i64,
    page_size: usize,
    retention: &crate::retention::Retention,
) -> Result<Released, OutboxError> {
    let now = now_ms.div_euclid(1000);
    let mut done = Released::default();
    for b in 0..PARKED_DUE_BUCKETS {
        let bucket = format!("PARKDUE#{b}");
        let mut after = None;
        loop {
            let page = store
                .due_parked(&bucket, now, after.take(), page_size)
                .await?;
            done.due += page.statuses.len();
            // One pass per message: its statuses go together, lowest first.
            let wamids: BTreeSet<(String, String)> = page
                .statuses
                .iter()
                .map(|p| (p.wamid.clone(), p.business.clone()))
                .collect();
            for (wamid, business) in wamids {
                let ctx = StatusContext {
                    business,
                    waba_id: None,
                    now_ms,
                    retention: *retention,
                };
                // One message that fails (a throttled write, a failed publish) holds back no other.
                match release_message(store, sink, &ctx, &wamid).await {
                    Ok(n) => done.forwarded += n,
                    Err(err) => {
                        done.failed += 1;
                        tracing::warn!(
                            wamid = %crate::telemetry::mask_wamid(&wamid),
                            error = %crate::telemetry::error_chain(&err),
                            "parked statuses left for the next run"
                        );
                    }
                }
            }
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    Ok(done)
}

/// Forwards what is parked for one wamid, lowest status first: the first creates the
/// external record (unless the sender stored the message by now: then they are the bridge's).
/// Each parked item is deleted only after its event was published, so a publish that fails
/// leaves it due, and the next run publishes the committed event (same id) and deletes it.
async fn release_message<S: ParkedStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    wamid: &str,
) -> Result<usize, OutboxError> {
    let state = store.load_message(wamid).await?;
    if state.message.is_some() {
        return apply_parked(store, sink, ctx, wamid).await;
    }
    let mut parked: Vec<StatusUpdate> = state
        .parked
        .iter()
        .filter_map(StatusUpdate::from_parked)
        .collect();
    parked.sort_by_key(|u| u.status.rank());
    let mut forwarded = 0;
    for update in &parked {
        let applied = apply_one(store, sink, ctx, update, Mode::Released).await?;
        if matches!(applied, Applied::Committed { events } if events > 0) {
            forwarded += 1;
            tracing::info!(
                wamid = %crate::telemetry::mask_wamid(wamid),
                status = update.status.as_str(),
                "status of a message the bridge did not send forwarded"
            );
        }
        unpark(store, wamid, &[update.status]).await?;
    }
    Ok(forwarded)
}
