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
        let items = self.lock();
        let mut due: Vec<(i64, &String, &String, &Value)> = items
            .iter()
            .filter_map(|((pk, sk), stored)| {
                let v = &stored.value;
                let in_bucket = v.get("due_bucket").and_then(Value::as_str) == Some(bucket);
                let due_at = v.get("due_at").and_then(Value::as_i64)?;
                (in_bucket && due_at <= now).then_some((due_at, pk, sk, v))
            })
            .filter(|(due_at, pk, sk, _)| {
                after
                    .as_ref()
                    .is_none_or(|c| (*due_at, *pk, *sk) > (c.due_at, &c.pk, &c.sk))
            })
            .collect();
        due.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let more = due.len() > limit;
        due.truncate(limit.max(1));
        let next = more
            .then(|| due.last())
            .flatten()
            .map(|(due_at, pk, sk, _)| DueCursor {
                due_at: *due_at,
                pk: (*pk).clone(),
                sk: (*sk).clone(),
            });
        let commands = due
            .iter()
            .filter(|(_, _, sk, _)| sk.as_str() == scheduled::SCHEDULED_SK)
            .filter_map(|(_, _, _, v)| {
                serde_json::from_value::<ScheduledCommand>((*v).clone()).ok()
            })
            .collect();
        Ok(ScheduledPage {
            items_read: due.len(),
            commands,
            next,
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
