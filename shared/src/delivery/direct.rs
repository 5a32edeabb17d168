//! The direct path of a status: most statuses only move the bridge's own `MESSAGE` forward, and
//! need no transaction. Such a status is recorded on the message in one conditional write, as
//! *unpublished* ([`crate::store::unpublished`]); its event is published, then the mark cleared
//! (one small update). Its dedup is the status rank itself: a repeat does not advance the
//! message. A redelivery that finds its status still unpublished publishes the event again, built
//! from the update and the message as before (the replaced status is in the mark), with the same
//! `event_id`. A later status of the message waits while an earlier one is unpublished, so the CRM
//! gets them in rank order: a moment when the earlier one is being published (the usual case:
//! Meta's statuses come close together), else until its redelivery has (the later record is
//! retried), since only the earlier update can rebuild its event (the mark keeps no copy of
//! Meta's status, which names the recipient).
//! Everything else (parking, messages sent elsewhere, `failed` with a closed window or an
//! opt-out, which write the conversation or the contact too) keeps the outbox transaction.

use super::{
    bridge_event, DeliveryStatus, StatusContext, StatusUpdate, MARKETING_OPT_OUT, WINDOW_CLOSED,
};
use crate::events::PendingEvent;
use crate::outbox::{self, Applied, OutboxError};
use crate::queue::MessageSink;
use crate::store::unpublished::Unpublished;
use crate::store::{MessageRecord, MessageState, ProcessorStore, Versioned};

/// How a status is applied, from its message as read.
#[derive(Debug)]
pub(super) enum Route {
    /// It advances the bridge's message and writes nothing else: recorded directly.
    Direct(Versioned<MessageRecord>),
    /// Recorded directly before and still unpublished: published again. Holds the status it
    /// replaced.
    Republish(Versioned<MessageRecord>, Option<DeliveryStatus>),
    /// It would advance the message past a status still unpublished: read again shortly (the
    /// earlier one is usually being published), at last retried after that one's redelivery.
    Wait,
    /// Through the outbox transaction (and its dedup marker).
    Transaction,
}

pub(super) fn route(state: &MessageState, update: &StatusUpdate) -> Route {
    let Some(message) = &state.message else {
        return Route::Transaction; // parked, or a message sent elsewhere
    };
    if let Some(previous) = state.unpublished.get(&update.status) {
        return Route::Republish(message.clone(), *previous);
    }
    if !DeliveryStatus::advances(message.record.status, update.status) {
        // A repeat: of a direct status (nothing to do) or of one committed with an outbox,
        // whose marker may still hold unpublished events.
        return Route::Transaction;
    }
    if waits(state, update) {
        return Route::Wait;
    }
    if state.external.is_some() || has_side_writes(update) {
        return Route::Transaction;
    }
    Route::Direct(message.clone())
}

/// Whether `update` would move the bridge's message past a status whose event is not yet
/// published. Also asked by the transaction's plan: its write of the message would drop the mark.
pub(super) fn waits(state: &MessageState, update: &StatusUpdate) -> bool {
    state.message.as_ref().is_some_and(|m| {
        !state.unpublished.is_empty() && DeliveryStatus::advances(m.record.status, update.status)
    })
}

/// `failed` with a closed window or an opt-out also writes the conversation or the contact.
fn has_side_writes(update: &StatusUpdate) -> bool {
    update.status == DeliveryStatus::Failed
        && (update.has_error(WINDOW_CLOSED) || update.has_error(MARKETING_OPT_OUT))
}

/// Records `update` on `message` in one write and publishes its event. `None`: the message's
/// version moved meanwhile (read it again).
pub(super) async fn apply<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    update: &StatusUpdate,
    key: &str,
    message: Versioned<MessageRecord>,
) -> Result<Option<Applied>, OutboxError> {
    let previous = message.record.status;
    let event = bridge_event(store, ctx, update, key, &message.record, previous).await?;
    let mut next = message.record;
    next.status = Some(update.status);
    next.status_at = Some(update.timestamp);
    let unpublished = Unpublished::from([(update.status, previous)]);
    let recorded = outbox::counting(
        std::slice::from_ref(&event),
        store.record_status(&next, &unpublished, message.version),
        |recorded| *recorded,
    )
    .await?;
    if !recorded {
        return Ok(None);
    }
    publish(store, sink, update, event).await?;
    Ok(Some(Applied::Committed { events: 1 }))
}

/// Publishes the event of a status recorded before and still unpublished (its first publish
/// failed, or the run stopped before clearing it), rebuilt with the status it replaced.
pub(super) async fn republish<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    update: &StatusUpdate,
    key: &str,
    message: &MessageRecord,
    previous: Option<DeliveryStatus>,
) -> Result<Applied, OutboxError> {
    let event = bridge_event(store, ctx, update, key, message, previous).await?;
    publish(store, sink, update, event).await?;
    Ok(Applied::Duplicate { republished: 1 })
}

async fn publish<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    update: &StatusUpdate,
    event: PendingEvent,
) -> Result<(), OutboxError> {
    sink.send_all(vec![event.to_message()]).await?;
    store
        .clear_unpublished(&update.wamid, update.status)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
