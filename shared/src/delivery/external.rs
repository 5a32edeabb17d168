//! Statuses of messages the bridge did not send: forwarded once their park time is over.
//!
//! A status whose wamid is not stored is parked (see [`super::apply_status`]) with a `due_at`
//! of parked time + `EXTERNAL_STATUS_PARK_SECONDS` in the `due-index`. The schedule's tick
//! (window-alerts) calls [`release_due`]: for each due wamid still unknown, its lowest parked
//! status creates the message's `EXTERNAL` record and becomes a `message.status` with
//! `origin: "external"`; the rest apply to that record as any parked status would, lowest
//! first, so the CRM sees them in order and never backwards. The event keys are the processor's
//! own (`status:<wamid>:<status>`), committed "if absent": a run repeated, two runs at once, or
//! the sender storing the wamid at that very moment still give one event per status.

use std::collections::BTreeSet;

use super::{apply_one, apply_parked, Mode, StatusContext, StatusUpdate};
use crate::outbox::OutboxError;
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
}

/// Forwards every parked status due at `now_ms`; `retention_secs` is the lifetime of the
/// `EXTERNAL` records and outbox items it writes.
pub async fn release_due<S: ParkedStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    now_ms: i64,
    page_size: usize,
    retention_secs: i64,
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
                    retention_secs,
                };
                done.forwarded += release_message(store, sink, &ctx, &wamid).await?;
            }
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    Ok(done)
}

/// Forwards what is parked for one wamid: the lowest status creates the external record (unless
/// the message is known by now), then the rest apply in order.
async fn release_message<S: ParkedStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    wamid: &str,
) -> Result<usize, OutboxError> {
    let state = store.load_message(wamid).await?;
    let mut forwarded = 0;
    if state.message.is_none() && state.external.is_none() {
        let lowest = state
            .parked
            .iter()
            .filter_map(StatusUpdate::from_parked)
            .min_by_key(|u| u.status.rank());
        if let Some(update) = lowest {
            let applied = apply_one(store, sink, ctx, &update, Mode::Released).await?;
            if matches!(applied, crate::outbox::Applied::Committed { .. }) {
                forwarded += 1;
                tracing::info!(
                    wamid = %crate::telemetry::mask_wamid(wamid),
                    status = update.status.as_str(),
                    "status of a message the bridge did not send forwarded"
                );
            }
        }
    }
    forwarded += apply_parked(store, sink, ctx, wamid).await?;
    Ok(forwarded)
}
