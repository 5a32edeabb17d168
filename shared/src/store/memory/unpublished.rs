//! [`StatusStore`] in memory: the `unpublished` map kept in the `MESSAGE` record's JSON, as the
//! DynamoDB adapter keeps it in the item.

use serde_json::Value;

use super::{MemoryStore, Stored};
use crate::delivery::DeliveryStatus;
use crate::store::unpublished::{StatusStore, Unpublished, UNPUBLISHED};
use crate::store::{keys, MessageRecord, StoreError};

/// The unpublished statuses of a stored `MESSAGE` record.
pub(super) fn unpublished_of(pk: &str, value: &Value) -> Result<Unpublished, StoreError> {
    match value.get(UNPUBLISHED) {
        None => Ok(Unpublished::new()),
        Some(map) => serde_json::from_value(map.clone()).map_err(|source| StoreError::Corrupt {
            key: crate::redact::item_key(pk, keys::MESSAGE),
            source: source.into(),
        }),
    }
}

impl StatusStore for MemoryStore {
    async fn record_status(
        &self,
        message: &MessageRecord,
        unpublished: &Unpublished,
        version: u64,
    ) -> Result<bool, StoreError> {
        self.fail_if_injected()?;
        let key = (keys::message_pk(&message.wamid), keys::MESSAGE.to_owned());
        let corrupt = |source: serde_json::Error| StoreError::Corrupt {
            key: crate::redact::item_key(&key.0, &key.1),
            source: source.into(),
        };
        let mut value = serde_json::to_value(message).map_err(corrupt)?;
        if let Value::Object(fields) = &mut value {
            if !unpublished.is_empty() {
                fields.insert(
                    UNPUBLISHED.into(),
                    serde_json::to_value(unpublished).map_err(corrupt)?,
                );
            }
        }
        let mut items = self.lock();
        if items.get(&key).and_then(|s| s.version) != Some(version) {
            return Ok(false);
        }
        items.insert(
            key,
            Stored {
                value,
                version: Some(version.saturating_add(1)),
            },
        );
        Ok(true)
    }

    async fn clear_unpublished(
        &self,
        wamid: &str,
        status: DeliveryStatus,
    ) -> Result<(), StoreError> {
        self.fail_if_injected()?;
        let mut items = self.lock();
        let key = (keys::message_pk(wamid), keys::MESSAGE.to_owned());
        let Some(stored) = items.get_mut(&key) else {
            return Ok(());
        };
        let removed = stored
            .value
            .get_mut(UNPUBLISHED)
            .and_then(Value::as_object_mut)
            .and_then(|map| map.remove(status.as_str()));
        if removed.is_some() {
            stored.version = stored.version.map(|v| v.saturating_add(1));
        }
        Ok(())
    }
}
