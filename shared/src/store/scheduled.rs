//! Scheduled commands: a CRM command that must wait longer than its FIFO group should be held
//! (Meta's marketing cap, a long pair-rate hold, a credential outage, a campaign's tail) leaves
//! the queue and waits here, in the state table, until it is due; the schedule's tick puts it
//! back on `crm-commands.fifo` (window-alerts, `functions/window-alerts/src/commands.rs`).
//!
//! One item per command (`CMD#<command_id>` / `SCHEDULED`): a command waits once at a time.
//! `deferral` counts how many times the command was scheduled; it names the event
//! (`command.deferred`) and the deduplication id of the message that puts it back, so a tick
//! that runs twice puts it back once.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::due::DueCursor;
use super::{OutboxStore, StoreError};

/// Shards of the scheduled commands in the `due-index` (`CMDDUE#0` … `CMDDUE#7`).
pub const COMMAND_DUE_BUCKETS: u32 = 8;

/// The message attribute carrying the deferral count of a command put back on the queue.
pub const DEFERRAL_ATTRIBUTE: &str = "wa_crm_bridge_deferral";
/// The message attribute carrying when the sender first saw the command (Unix ms), so waits
/// outside the queue still count against the command's maximum age.
pub const FIRST_SEEN_ATTRIBUTE: &str = "wa_crm_bridge_first_seen_ms";

/// A command waiting outside the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledCommand {
    pub command_id: String,
    /// The command as the CRM sent it (the queue message body).
    pub body: String,
    /// The FIFO group it came from (the recipient), so it goes back in order with its group.
    pub group_id: String,
    /// 1 for the first time the command is scheduled, then 2, 3, …
    pub deferral: u32,
    /// Why it waits (`marketing_cap`, `pair_rate`, `throughput`, `retry`, `credentials`,
    /// `account`).
    pub reason: String,
    /// When it may be tried again (Unix ms).
    pub not_before_ms: i64,
    /// When the sender first saw the command (Unix ms): waits count against its maximum age.
    pub first_seen_ms: i64,
    /// `due-index` partition and sort key: the tick puts it back at `due_at` (Unix seconds).
    pub due_bucket: String,
    pub due_at: i64,
    pub ttl: i64,
}

impl ScheduledCommand {
    /// The deduplication id of the message that puts this deferral back on the queue.
    pub fn dedup_id(&self) -> String {
        format!("{}#{}", self.command_id, self.deferral)
    }
}

/// Item keys of a scheduled command.
pub fn key(command_id: &str) -> (String, String) {
    (format!("CMD#{command_id}"), SCHEDULED_SK.into())
}

pub const SCHEDULED_SK: &str = "SCHEDULED";

/// The `due-index` bucket of a scheduled command.
pub fn due_bucket(command_id: &str) -> String {
    let sum = command_id.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    format!("CMDDUE#{}", sum % COMMAND_DUE_BUCKETS)
}

/// One page of a bucket's due commands, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledPage {
    pub commands: Vec<ScheduledCommand>,
    /// Index items the query read.
    pub items_read: usize,
    pub next: Option<DueCursor>,
}

/// Port: the scheduled commands.
pub trait ScheduleStore: OutboxStore {
    /// Up to `limit` commands of `bucket` due at `now` (Unix seconds), after `after`.
    fn due_commands(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<ScheduledPage, StoreError>> + Send;

    /// Deletes the command's scheduled item if it is still `deferral` (a later deferral of the
    /// same command is kept): `true` if deleted.
    fn release(
        &self,
        command_id: &str,
        deferral: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_buckets_spread_and_never_meet_the_window_buckets() {
        let buckets: std::collections::HashSet<_> =
            (0..200).map(|i| due_bucket(&format!("cmd-{i}"))).collect();
        assert_eq!(buckets.len(), COMMAND_DUE_BUCKETS as usize);
        assert!(buckets.iter().all(|b| b.starts_with("CMDDUE#")));
    }
}
