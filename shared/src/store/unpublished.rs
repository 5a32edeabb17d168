//! Statuses committed to their `MESSAGE` but not yet published. A status that needs no other
//! write (`crate::delivery`'s direct path) is recorded on the message itself, in one conditional
//! write, with its name in the item's `unpublished` map; once its event is on the queue a small
//! update removes it. A redelivery that finds its status still there publishes the event again
//! (same `event_id`), so neither a failed publish nor a crash in between loses it. The map holds
//! status names only (no personal data): `{"delivered": "sent"}` maps each unpublished status to
//! the status it replaced, which its event reports as `previous_status`.

use std::collections::BTreeMap;
use std::future::Future;

use super::{MessageRecord, StoreError};
use crate::delivery::DeliveryStatus;

/// The `MESSAGE` item's attribute holding its unpublished statuses.
pub const UNPUBLISHED: &str = "unpublished";

/// Unpublished status → the status it replaced (`None`: the message had none).
pub type Unpublished = BTreeMap<DeliveryStatus, Option<DeliveryStatus>>;

/// Port: a bridge message's status recorded without a transaction, and cleared once published.
pub trait StatusStore: Send + Sync {
    /// Writes `message` with `unpublished` as its unpublished statuses if its version is still
    /// `version` (one write; the version moves). `false`: another writer got there first.
    fn record_status(
        &self,
        message: &MessageRecord,
        unpublished: &Unpublished,
        version: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes `status` from the unpublished statuses of `wamid`'s `MESSAGE` once its event is
    /// published, and moves the version, so a writer still holding the item as it was re-reads
    /// rather than writes the status back. Removed already (or no message): nothing to do.
    fn clear_unpublished(
        &self,
        wamid: &str,
        status: DeliveryStatus,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
