//! [`DueStore`] in memory: the `due-index` emulated over the fake table, reading (and counting)
//! only the entries a DynamoDB query would.

use serde_json::Value;

use super::MemoryStore;
use crate::store::due::{DueCursor, DueEntry, DuePage, DueStore};
use crate::store::{keys, ContactState, ProcessorStore, StoreError};

/// One page of a `due-index` bucket: `(pk, sk, record)` in index order.
pub(super) struct IndexPage {
    pub items: Vec<(String, String, Value)>,
    pub items_read: usize,
    pub next: Option<DueCursor>,
}

impl MemoryStore {
    /// What a `Query` of the `due-index` would return: up to `limit` items of `bucket` with
    /// `due_at <= now`, after `after`, oldest first.
    pub(super) fn query_due(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> IndexPage {
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
        IndexPage {
            items_read: due.len(),
            items: due
                .into_iter()
                .map(|(_, pk, sk, v)| (pk.clone(), sk.clone(), v.clone()))
                .collect(),
            next,
        }
    }
}

impl DueStore for MemoryStore {
    async fn due_page(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<DuePage, StoreError> {
        let page = self.query_due(bucket, now, after, limit);
        let entries = page
            .items
            .iter()
            .filter(|(_, sk, _)| sk == keys::CONVERSATION)
            .filter_map(|(_, _, v)| {
                Some(DueEntry {
                    business: v.get("business")?.as_str()?.to_owned(),
                    contact_id: v.get("contact_id")?.as_str()?.to_owned(),
                    due_at: v.get("due_at")?.as_i64()?,
                })
            })
            .collect();
        Ok(DuePage {
            items_read: page.items_read,
            entries,
            next: page.next,
        })
    }

    async fn load_window(
        &self,
        business: &str,
        contact_id: &str,
    ) -> Result<ContactState, StoreError> {
        self.load_contact(business, contact_id).await
    }
}
