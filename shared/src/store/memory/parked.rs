//! [`ParkedStore`] in memory: the parked buckets of the `due-index`, read as a query would.

use super::MemoryStore;
use crate::store::due::DueCursor;
use crate::store::parked::{ParkedPage, ParkedStore, PARKED_SK_PREFIX};
use crate::store::{ParkedStatus, StoreError};

impl ParkedStore for MemoryStore {
    async fn due_parked(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<ParkedPage, StoreError> {
        let page = self.query_due(bucket, now, after, limit);
        let statuses = page
            .items
            .into_iter()
            .filter(|(_, sk, _)| sk.starts_with(PARKED_SK_PREFIX))
            .filter_map(|(_, _, v)| serde_json::from_value::<ParkedStatus>(v).ok())
            .collect();
        Ok(ParkedPage {
            items_read: page.items_read,
            statuses,
            next: page.next,
        })
    }
}
