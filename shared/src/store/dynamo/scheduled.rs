//! [`ScheduleStore`] on DynamoDB: the command buckets of the `due-index` (`due_bucket = :b AND
//! due_at <= :now`), and a release that deletes only the deferral it put back.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{aws, due::DUE_INDEX, from_item, key, DynamoStore, Item};
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
        let start = after.map(|c| {
            Item::from([
                (
                    "due_bucket".to_owned(),
                    AttributeValue::S(bucket.to_owned()),
                ),
                ("due_at".to_owned(), AttributeValue::N(c.due_at.to_string())),
                ("pk".to_owned(), AttributeValue::S(c.pk)),
                ("sk".to_owned(), AttributeValue::S(c.sk)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("due_bucket = :bucket AND due_at <= :now")
            .expression_attribute_values(":bucket", AttributeValue::S(bucket.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws("Query", e))?;
        let mut commands = Vec::new();
        for item in out.items() {
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
        let next = out
            .last_evaluated_key()
            .filter(|k| !k.is_empty())
            .and_then(|k| {
                Some(DueCursor {
                    due_at: k.get("due_at")?.as_n().ok()?.parse().ok()?,
                    pk: k.get("pk")?.as_s().ok()?.clone(),
                    sk: k.get("sk")?.as_s().ok()?.clone(),
                })
            });
        let scanned = usize::try_from(out.scanned_count()).unwrap_or(0);
        Ok(ScheduledPage {
            items_read: scanned.max(out.items().len()),
            commands,
            next,
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
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws("DeleteItem", e)),
        }
    }
}
