//! [`ScheduleStore`] in memory: the command buckets of the `due-index`, read as a query would.

use serde_json::Value;

use super::MemoryStore;
use crate::store::due::DueCursor;
use crate::store::scheduled::{self, ScheduleStore, ScheduledCommand, ScheduledPage};
use crate::store::StoreError;

impl ScheduleStore for MemoryStore {
    async fn due_commands(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<ScheduledPage, StoreError> {
        let page = self.query_due(bucket, now, after, limit);
        let commands = page
            .items
            .into_iter()
            .filter(|(_, sk, _)| sk == scheduled::SCHEDULED_SK)
            .filter_map(|(_, _, v)| serde_json::from_value::<ScheduledCommand>(v).ok())
            .collect();
        Ok(ScheduledPage {
            items_read: page.items_read,
            commands,
            next: page.next,
        })
    }

    async fn release(&self, command_id: &str, deferral: u32) -> Result<bool, StoreError> {
        let mut items = self.lock();
        let key = scheduled::key(command_id);
        let matches = items
            .get(&key)
            .and_then(|s| s.value.get("deferral").and_then(Value::as_u64))
            == Some(u64::from(deferral));
        if matches {
            items.remove(&key);
        }
        Ok(matches)
    }
}
