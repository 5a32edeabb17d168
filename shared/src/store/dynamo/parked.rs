//! [`ParkedStore`] on DynamoDB: the parked buckets of the `due-index`.

use super::{from_item, DynamoStore};
use crate::store::due::DueCursor;
use crate::store::parked::{ParkedPage, ParkedStore, PARKED_SK_PREFIX};
use crate::store::{ParkedStatus, StoreError};

impl ParkedStore for DynamoStore {
    async fn due_parked(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<ParkedPage, StoreError> {
        let page = self.query_due(bucket, now, after, limit).await?;
        let mut statuses = Vec::new();
        for item in &page.items {
            if !super::attr_str(item, "sk").starts_with(PARKED_SK_PREFIX) {
                continue;
            }
            match from_item::<ParkedStatus>(item) {
                Ok(v) => statuses.push(v.record),
                // One unreadable item must not hold the others back.
                Err(err) => tracing::error!(
                    error = %crate::telemetry::error_chain(&err),
                    "unreadable parked status skipped"
                ),
            }
        }
        Ok(ParkedPage {
            items_read: page.items_read,
            statuses,
            next: page.next,
        })
    }
}
