//! [`ScheduleStore`] on DynamoDB: the command buckets of the `due-index` (`due_bucket = :b AND
//! due_at <= :now`), and a release that deletes only the deferral it put back.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{applied, from_item, key, DynamoStore};
use crate::store::due::DueCursor;
use crate::store::scheduled::{self, ScheduleStore, ScheduledPage};
use crate::store::StoreError;

impl ScheduleStore for DynamoStore {
    async fn due_commands(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<ScheduledPage, StoreError> {
        let page = self.query_due(bucket, now, after, limit).await?;
        let mut commands = Vec::new();
        for item in &page.items {
            if super::attr_str(item, "sk") != scheduled::SCHEDULED_SK {
                continue;
            }
            match from_item(item) {
                Ok(v) => commands.push(v.record),
                // One unreadable item must not stop the others from going back on the queue.
                Err(err) => tracing::error!(
                    error = %crate::telemetry::error_chain(&err),
                    "unreadable scheduled command skipped"
                ),
            }
        }
        Ok(ScheduledPage {
            items_read: page.items_read,
            commands,
            next: page.next,
        })
    }

    async fn release(&self, command_id: &str, deferral: u32) -> Result<bool, StoreError> {
        let (pk, sk) = scheduled::key(command_id);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .condition_expression("deferral = :deferral")
            .expression_attribute_values(":deferral", AttributeValue::N(deferral.to_string()))
            .send()
            .await;
        applied("DeleteItem", result)
    }
}
