//! The schedule's second duty: commands the sender moved out of `crm-commands.fifo` to wait
//! (Meta's marketing cap, a long pair-rate hold, a credential outage, a campaign's tail) go back
//! on the queue once due, in their own FIFO group, with a deduplication id of the command and
//! its deferral — so a run repeated within SQS's 5-minute window puts each back once.
//!
//! Put back first, then the scheduled item is deleted if it is still that deferral: a crash in
//! between puts the command back again on the next run (dropped by SQS as a duplicate), never
//! loses it.

use shared::queue::{MessageSink, OutboundMessage, QueueError};
use shared::store::scheduled::{
    ScheduleStore, ScheduledCommand, COMMAND_DUE_BUCKETS, DEFERRAL_ATTRIBUTE, FIRST_SEEN_ATTRIBUTE,
};
use shared::store::StoreError;

/// Why due commands could not all be put back (the next run tries again).
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("could not read the scheduled commands")]
    Store(#[from] StoreError),
    #[error("could not put due commands back on the commands queue")]
    Queue(#[from] QueueError),
}

/// Puts every command due at `now` (Unix seconds) back on the commands queue; returns how many.
pub async fn release_due<S: ScheduleStore, Q: MessageSink>(
    store: &S,
    commands: &Q,
    now: i64,
    page_size: usize,
) -> Result<usize, ReleaseError> {
    let mut released = 0;
    for b in 0..COMMAND_DUE_BUCKETS {
        let bucket = format!("CMDDUE#{b}");
        let mut after = None;
        loop {
            let page = store
                .due_commands(&bucket, now, after.take(), page_size)
                .await?;
            if !page.commands.is_empty() {
                commands
                    .send_all(page.commands.iter().map(message).collect())
                    .await?;
                for c in &page.commands {
                    store.release(&c.command_id, c.deferral).await?;
                    tracing::info!(
                        command_id = %c.command_id,
                        deferral = c.deferral,
                        reason = %c.reason,
                        "scheduled command put back on the queue"
                    );
                }
                released += page.commands.len();
            }
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    Ok(released)
}

/// The queue message that puts a scheduled command back.
fn message(c: &ScheduledCommand) -> OutboundMessage {
    OutboundMessage {
        body: c.body.clone(),
        group_id: Some(c.group_id.clone()),
        dedup_id: Some(c.dedup_id()),
        attributes: vec![
            (DEFERRAL_ATTRIBUTE.to_owned(), c.deferral.to_string()),
            (FIRST_SEEN_ATTRIBUTE.to_owned(), c.first_seen_ms.to_string()),
        ],
    }
}
