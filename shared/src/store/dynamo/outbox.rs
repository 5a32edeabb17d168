//! Outbox items on DynamoDB: the events are one deflated JSON array in a binary attribute
//! (`events_z`). An outbox item is paid three times by its size (put in a transaction, which
//! counts double, then updated once published) and a status or message event carries Meta's
//! original, so as plain JSON it is 1.3–1.9 KB: two write units each time. Deflated it stays
//! under the 1 KB unit. Items written before hold `events` as a list and are read as such.

use std::io::{Read, Write as _};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::{from_item, to_attr, to_item, Item};
use crate::store::{keys, OutboxRecord, StoreError};

/// The deflated events.
const EVENTS_Z: &str = "events_z";
/// The events as a list (items written before `events_z`).
const EVENTS: &str = "events";
/// Inflated events past this are refused: an item holds at most 400 KB, and the events of one
/// update are far below that even inflated.
const MAX_INFLATED_BYTES: u64 = 4 << 20;

/// The item of `outbox`, its events deflated.
pub(super) fn to_outbox_item(outbox: &OutboxRecord) -> Result<Item, StoreError> {
    let pk = keys::outbox_pk(&outbox.key);
    let corrupt = |source: serde_json::Error| StoreError::Corrupt {
        key: crate::redact::item_key(&pk, keys::OUTBOX),
        source: source.into(),
    };
    let mut value = serde_json::to_value(outbox).map_err(corrupt)?;
    let events = value
        .as_object_mut()
        .and_then(|o| o.remove(EVENTS))
        .unwrap_or_default();
    let json = serde_json::to_vec(&events).map_err(corrupt)?;
    let mut item = to_item(&pk, keys::OUTBOX, &value)?;
    item.insert(
        EVENTS_Z.into(),
        AttributeValue::B(Blob::new(deflate(&json).map_err(|e| unstorable(&pk, e))?)),
    );
    Ok(item)
}

/// The record of an outbox item, deflated or not.
pub(super) fn from_outbox_item(item: &Item) -> Result<OutboxRecord, StoreError> {
    let Some(AttributeValue::B(blob)) = item.get(EVENTS_Z) else {
        return from_item::<OutboxRecord>(item).map(|v| v.record);
    };
    let pk = super::attr_str(item, "pk");
    let json = inflate(blob.as_ref()).map_err(|e| unstorable(pk, e))?;
    let events: serde_json::Value =
        serde_json::from_slice(&json).map_err(|source| StoreError::Corrupt {
            key: crate::redact::item_key(pk, keys::OUTBOX),
            source: source.into(),
        })?;
    let mut plain = item.clone();
    plain.remove(EVENTS_Z);
    plain.insert(EVENTS.into(), to_attr(&events));
    from_item::<OutboxRecord>(&plain).map(|v| v.record)
}

fn deflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn inflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    DeflateDecoder::new(bytes)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "inflated events exceed the limit",
        ));
    }
    Ok(out)
}

fn unstorable(pk: &str, e: std::io::Error) -> StoreError {
    StoreError::Unstorable {
        key: crate::redact::item_key(pk, keys::OUTBOX),
        reason: format!("outbox events do not deflate or inflate: {}", e.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::PendingEvent;

    fn outbox(body: &str) -> OutboxRecord {
        OutboxRecord {
            key: "status:wamid.A:sent".into(),
            contact_id: Some("ct_1".into()),
            events: vec![PendingEvent {
                event_id: "evt_1".into(),
                event_type: "message.status".into(),
                group_id: "ct_1".into(),
                body: body.into(),
            }],
            published: false,
            created_at_ms: 1_000,
            ttl: 2,
        }
    }

    /// A `message.status` body as the processor builds it, Meta's original included (1.2 KB).
    fn status_body() -> String {
        let original = r#"{"id":"wamid.HBgNNTUxMTkwMDAwMDAwMBUCABEYEjQ2QjU4RjM3RTI1QzE0QTQ5MQA=","status":"delivered","timestamp":"1764500000","recipient_id":"5511900000000","conversation":{"id":"CONVERSATION_ID","origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"PMP","category":"service","type":"regular"}}"#;
        serde_json::json!({
            "event_id": "evt_0123456789abcdef0123456789abcdef", "type": "message.status",
            "schema_version": 1, "occurred_at": "2026-11-30T11:00:00Z",
            "received_at": "2026-11-30T11:00:01Z", "phone_number_id": "106540352242922",
            "waba_id": "102290129340398", "contact": {"id": "ct_0123456789abcdef01234567",
            "wa_id": "5511900000000", "phone": "+5511900000000", "name": null},
            "data": {"wamid": "wamid.HBgNNTUxMTkwMDAwMDAwMBUCABEYEjQ2QjU4RjM3RTI1QzE0QTQ5MQA=",
            "status": "delivered", "previous_status": "sent", "timestamp": "2026-11-30T11:00:00Z",
            "recipient_id": "5511900000000", "recipient_user_id": null,
            "command_id": "cmd-0123456789", "template": null, "origin": "bridge", "group": null,
            "errors": [], "pricing": {"billable": true, "pricing_model": "PMP",
            "category": "service", "type": "regular"}, "conversation": null,
            "biz_opaque_callback_data": null, "original": original}
        })
        .to_string()
    }

    #[test]
    fn an_outbox_round_trips_through_its_deflated_item() {
        let record = outbox(&status_body());
        let item = to_outbox_item(&record).unwrap();
        assert!(matches!(item.get(EVENTS_Z), Some(AttributeValue::B(_))));
        assert!(!item.contains_key(EVENTS));
        assert_eq!(from_outbox_item(&item).unwrap(), record);
    }

    #[test]
    fn a_status_events_outbox_item_fits_one_write_unit() {
        let record = outbox(&status_body());
        assert!(record.events[0].body.len() > 1024);
        let item = to_outbox_item(&record).unwrap();
        let size: usize = item
            .iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                        AttributeValue::B(b) => b.as_ref().len(),
                        _ => 1,
                    }
            })
            .sum();
        assert!(size < 1024, "{size} bytes");
    }

    #[test]
    fn an_item_written_before_with_its_events_as_a_list_is_still_read() {
        let record = outbox("{}");
        let value = serde_json::to_value(&record).unwrap();
        let item = to_item(&keys::outbox_pk(&record.key), keys::OUTBOX, &value).unwrap();
        assert_eq!(from_outbox_item(&item).unwrap(), record);
    }

    #[test]
    fn events_that_do_not_inflate_are_an_error_naming_no_content() {
        let mut item = to_outbox_item(&outbox("{}")).unwrap();
        item.insert(
            EVENTS_Z.into(),
            AttributeValue::B(Blob::new(vec![0xff; 16])),
        );
        let err = from_outbox_item(&item).unwrap_err();
        assert!(matches!(err, StoreError::Unstorable { .. }), "{err:?}");
    }

    #[test]
    fn events_that_inflate_past_the_limit_are_refused() {
        let huge = vec![b' '; (MAX_INFLATED_BYTES + 10) as usize];
        let mut item = to_outbox_item(&outbox("{}")).unwrap();
        item.insert(
            EVENTS_Z.into(),
            AttributeValue::B(Blob::new(deflate(&huge).unwrap())),
        );
        assert!(matches!(
            from_outbox_item(&item),
            Err(StoreError::Unstorable { .. })
        ));
    }
}
