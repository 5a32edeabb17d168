//! Statuses parked for a message not stored (yet): most are the bridge's own, whose wamid the
//! sender stores a moment later; some are of messages the bridge never sent (the WhatsApp
//! Business app on the same number, another tool, messages from before the bridge). Each parked
//! status sits in the `due-index` (`PARKDUE#0` … `PARKDUE#63`) at parked time +
//! `EXTERNAL_STATUS_PARK_SECONDS`; the schedule's tick forwards the ones still parked then
//! (`shared::delivery::external`).

use std::future::Future;

use super::due::DueCursor;
use super::{ParkedStatus, ProcessorStore, StoreError};

/// Shards of the parked statuses in the `due-index`: as many as the window buckets, since at
/// worst every status parks (docs/scale.md).
pub const PARKED_DUE_BUCKETS: u32 = 64;
/// Prefix of a parked status's sort key (`PARKED#<status>`).
pub const PARKED_SK_PREFIX: &str = "PARKED#";

/// The `due-index` bucket of a parked status (by its wamid, so one message's statuses share it).
pub fn due_bucket(wamid: &str) -> String {
    let sum = wamid.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    format!("PARKDUE#{}", sum % PARKED_DUE_BUCKETS)
}

/// One page of a bucket's due parked statuses, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParkedPage {
    pub statuses: Vec<ParkedStatus>,
    /// Index items the query read.
    pub items_read: usize,
    pub next: Option<DueCursor>,
}

/// Port: the parked statuses whose wait is over, and what forwarding them needs.
pub trait ParkedStore: ProcessorStore {
    /// Up to `limit` statuses of `bucket` due at `now` (Unix seconds), after `after`.
    fn due_parked(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<ParkedPage, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_buckets_spread_and_never_meet_the_other_buckets() {
        let buckets: std::collections::HashSet<_> = (0..2000)
            .map(|i| due_bucket(&format!("wamid.{i}")))
            .collect();
        assert_eq!(buckets.len(), PARKED_DUE_BUCKETS as usize);
        assert!(buckets.iter().all(|b| b.starts_with("PARKDUE#")));
    }
}
