//! [`PersonalDataStore`] on DynamoDB: a `Query` of `contact-index` (KEYS_ONLY), `Query` of one
//! partition, `BatchGetItem` (100 keys a call) and `BatchWriteItem` (25 requests a
//! call, unprocessed ones asked again with backoff).

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use serde_json::Value;

use super::{aws, from_attr, key, to_item, DynamoStore, Item};
use crate::store::personal::{ItemKey, KeyPage, PersonalDataStore, CONTACT_INDEX};
use crate::store::StoreError;

/// BatchWriteItem takes at most 25 requests; BatchGetItem 100 keys.
const WRITE_BATCH: usize = 25;
const READ_BATCH: usize = 100;
const WRITE_ATTEMPTS: u32 = 6;

fn item_key(item: &Item) -> Option<ItemKey> {
    match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some(ItemKey::new(pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

fn json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attr(v)))
            .collect(),
    )
}

impl DynamoStore {
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(WRITE_BATCH) {
            let mut pending = chunk.to_vec();
            for attempt in 0..WRITE_ATTEMPTS {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| aws("BatchWriteItem", e))?;
                if let Some(left) = out.unprocessed_items().and_then(|u| u.get(&self.table)) {
                    pending = left.clone();
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Unstorable {
                    key: crate::redact::item_key("", ""),
                    reason: format!(
                        "{} requests stayed unprocessed by BatchWriteItem",
                        pending.len()
                    ),
                });
            }
        }
        Ok(())
    }
}

impl PersonalDataStore for DynamoStore {
    async fn contact_keys(
        &self,
        contact_id: &str,
        after: Option<ItemKey>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let start = after.map(|k| {
            let mut item = key(&k.pk, &k.sk);
            item.insert(
                "contact_id".to_owned(),
                AttributeValue::S(contact_id.to_owned()),
            );
            item
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CONTACT_INDEX)
            .key_condition_expression("contact_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(contact_id.to_owned()))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws("Query", e))?;
        Ok(KeyPage {
            keys: out.items().iter().filter_map(item_key).collect(),
            next: out
                .last_evaluated_key()
                .filter(|k| !k.is_empty())
                .and_then(item_key),
        })
    }

    async fn read_partition(&self, pk: &str) -> Result<Vec<Value>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws("Query", e))?;
            items.extend(out.items().iter().map(json));
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn read_items(&self, keys: &[ItemKey]) -> Result<Vec<Value>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(READ_BATCH) {
            let items = self
                .batch_get(chunk.iter().map(|k| (k.pk.clone(), k.sk.clone())).collect())
                .await?;
            out.extend(items.iter().map(json));
        }
        Ok(out)
    }

    async fn put_items(&self, items: &[(ItemKey, Value)]) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(items.len());
        for (k, value) in items {
            let put = PutRequest::builder()
                .set_item(Some(to_item(&k.pk, &k.sk, value)?))
                .build()
                .map_err(|e| StoreError::Build("BatchWriteItem", e))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(requests).await
    }

    async fn delete_items(&self, keys: &[ItemKey]) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(keys.len());
        for k in keys {
            let delete = DeleteRequest::builder()
                .set_key(Some(key(&k.pk, &k.sk)))
                .build()
                .map_err(|e| StoreError::Build("BatchWriteItem", e))?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests).await
    }
}
