//! [`StatusStore`] on DynamoDB: the status recorded with one `PutItem` conditioned on the
//! version (no transaction: half the write units), cleared with one `UpdateItem` that removes
//! the map entry and moves the version. Both stay one write unit while the item is under 1 KB.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{applied, attr_str, aws, from_attr, key, to_attr, to_item, DynamoStore, Item, VERSION};
use crate::delivery::DeliveryStatus;
use crate::store::unpublished::{StatusStore, Unpublished, UNPUBLISHED};
use crate::store::{keys, MessageRecord, StoreError};

/// The unpublished statuses of a `MESSAGE` item (none without the attribute).
pub(super) fn unpublished_of(item: &Item) -> Result<Unpublished, StoreError> {
    match item.get(UNPUBLISHED) {
        None => Ok(Unpublished::new()),
        Some(map) => serde_json::from_value(from_attr(map)).map_err(|source| StoreError::Corrupt {
            key: crate::redact::item_key(attr_str(item, "pk"), attr_str(item, "sk")),
            source: source.into(),
        }),
    }
}

/// The `MESSAGE` item of `message` with its unpublished statuses, one version past `version`.
fn message_item(
    message: &MessageRecord,
    unpublished: &Unpublished,
    version: u64,
) -> Result<Item, StoreError> {
    let pk = keys::message_pk(&message.wamid);
    let corrupt = |source: serde_json::Error| StoreError::Corrupt {
        key: crate::redact::item_key(&pk, keys::MESSAGE),
        source: source.into(),
    };
    let mut item = to_item(
        &pk,
        keys::MESSAGE,
        &serde_json::to_value(message).map_err(corrupt)?,
    )?;
    if !unpublished.is_empty() {
        item.insert(
            UNPUBLISHED.into(),
            to_attr(&serde_json::to_value(unpublished).map_err(corrupt)?),
        );
    }
    item.insert(
        VERSION.into(),
        AttributeValue::N(version.saturating_add(1).to_string()),
    );
    Ok(item)
}

impl StatusStore for DynamoStore {
    async fn record_status(
        &self,
        message: &MessageRecord,
        unpublished: &Unpublished,
        version: u64,
    ) -> Result<bool, StoreError> {
        let item = message_item(message, unpublished, version)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#ver = :ver")
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_values(":ver", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_conditional_check_failed_exception()
                        || s.is_transaction_conflict_exception()
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws("PutItem", e)),
        }
    }

    async fn clear_unpublished(
        &self,
        wamid: &str,
        status: DeliveryStatus,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&keys::message_pk(wamid), keys::MESSAGE)))
            .update_expression("REMOVE #u.#s ADD #ver :one")
            .condition_expression("attribute_exists(#u.#s)")
            .expression_attribute_names("#u", UNPUBLISHED)
            .expression_attribute_names("#s", status.as_str())
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        // Refused: cleared by another run (or the message is gone), nothing left to do.
        applied("UpdateItem", result).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Direction;

    /// DynamoDB's item size: attribute names and values (a map's entries alike, plus 3 bytes
    /// and 1 per entry), numbers counted as their digits (an upper bound).
    fn size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + size(v) + 1).sum::<usize>(),
            _ => 1,
        }
    }

    #[test]
    fn an_outbound_message_with_its_marks_stays_under_one_write_unit() {
        let message = MessageRecord {
            wamid: "wamid.HBgNNTUxMTkwMDAwMDAwMBUCABEYEjQ2QjU4RjM3RTI1QzE0QTQ5MQA=".into(),
            business: "106540352242922".into(),
            direction: Direction::Outbound,
            contact_id: Some("ct_0123456789abcdef01234567".into()),
            message_type: "template".into(),
            timestamp: 1_764_500_000,
            status: Some(DeliveryStatus::Read),
            status_at: Some(1_764_500_100),
            command_id: Some("cmd-0123456789abcdef-0123456789abcdef".into()),
            template: Some("order_confirmation_with_tracking_v2".into()),
            raw: None,
            ttl: Some(1_772_276_000),
        };
        let marks = Unpublished::from([
            (DeliveryStatus::Delivered, Some(DeliveryStatus::Sent)),
            (DeliveryStatus::Read, Some(DeliveryStatus::Delivered)),
        ]);
        let item = message_item(&message, &marks, 41).unwrap();
        let bytes: usize = item.iter().map(|(k, v)| k.len() + size(v)).sum();
        assert!(bytes < 1024, "{bytes} bytes");
        assert_eq!(unpublished_of(&item).unwrap(), marks);
        assert_eq!(item.get(VERSION), Some(&AttributeValue::N("42".into())));
    }

    #[test]
    fn an_unreadable_mark_is_a_corrupt_item_naming_no_content() {
        let mut item = message_item(
            &MessageRecord {
                wamid: "wamid.X".into(),
                business: "1".into(),
                direction: Direction::Outbound,
                contact_id: None,
                message_type: "text".into(),
                timestamp: 1,
                status: None,
                status_at: None,
                command_id: None,
                template: None,
                raw: None,
                ttl: None,
            },
            &Unpublished::new(),
            0,
        )
        .unwrap();
        assert!(unpublished_of(&item).unwrap().is_empty());
        item.insert(
            UNPUBLISHED.into(),
            AttributeValue::M([("shipped".to_owned(), AttributeValue::Null(true))].into()),
        );
        let err = unpublished_of(&item).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }
}
