//! [`DueStore`] on DynamoDB: a `Query` of the `due-index` (`due_bucket = :b AND due_at <= :now`),
//! so only due items are read; the index is sparse, holding conversations that are armed.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{aws, DynamoStore, Item};
use crate::store::due::{DueCursor, DueEntry, DuePage, DueStore};
use crate::store::{keys, ContactState, ProcessorStore, StoreError};

/// The GSI on `due_bucket` + `due_at` (see `template.yaml`).
pub const DUE_INDEX: &str = "due-index";

/// One page of a `due-index` bucket, as the index returned it.
pub(super) struct IndexPage {
    pub items: Vec<Item>,
    /// Index items the query read (DynamoDB's `ScannedCount`).
    pub items_read: usize,
    pub next: Option<DueCursor>,
}

impl DynamoStore {
    /// `Query` of the `due-index`: up to `limit` items of `bucket` with `due_at <= now`, after
    /// `after` (windows and scheduled commands live in different buckets of the same index).
    pub(super) async fn query_due(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
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
        let next = out
            .last_evaluated_key()
            .filter(|k| !k.is_empty())
            .and_then(|k| {
                Some(DueCursor {
                    due_at: number(k.get("due_at")?)?,
                    pk: string(k.get("pk")?)?,
                    sk: string(k.get("sk")?)?,
                })
            });
        let scanned = usize::try_from(out.scanned_count()).unwrap_or(0);
        let items_read = scanned.max(out.items().len());
        Ok(IndexPage {
            items: out.items.unwrap_or_default(),
            items_read,
            next,
        })
    }
}

impl DueStore for DynamoStore {
    async fn due_page(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> Result<DuePage, StoreError> {
        let page = self.query_due(bucket, now, after, limit).await?;
        let entries = page
            .items
            .iter()
            .filter(|item| super::attr_str(item, "sk") == keys::CONVERSATION)
            .filter_map(entry)
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

/// An index item as an entry; an item missing its keys is skipped (and logged), not fatal.
fn entry(item: &Item) -> Option<DueEntry> {
    let parsed = (|| {
        Some(DueEntry {
            business: string(item.get("business")?)?,
            contact_id: string(item.get("contact_id")?)?,
            due_at: number(item.get("due_at")?)?,
        })
    })();
    if parsed.is_none() {
        tracing::warn!(
            pk = super::attr_str(item, "pk"),
            "due-index item without business, contact_id or due_at skipped"
        );
    }
    parsed
}

fn string(a: &AttributeValue) -> Option<String> {
    a.as_s().ok().cloned()
}

fn number(a: &AttributeValue) -> Option<i64> {
    a.as_n().ok().and_then(|n| n.parse().ok())
}
