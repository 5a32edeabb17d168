//! [`ItemStore`] on DynamoDB: `GetItem` (consistent) and a `PutItem` conditioned on the version
//! for single records; `UpdateItem` with a condition for the clocks, whose refusal returns the
//! clock as found (`ReturnValuesOnConditionCheckFailure`), so the next try is the right one.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{applied, aws, from_item, key, to_item, DynamoStore, Item, VERSION};
use crate::store::items::{ClockTake, ItemStore, CLOCK_TTL_SECS};
use crate::store::{Expect, StoreError, Versioned};

/// Writes one place in a waiting line may take when other instances move it in between.
const LINE_ATTEMPTS: usize = 4;

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn conditional_failed<R>(e: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>) -> bool {
    e.as_service_error()
        .is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

/// The `next_us` of an item, if it has one.
fn clock(pk: &str, sk: &str, item: Option<&Item>) -> Result<Option<i64>, StoreError> {
    match item.and_then(|i| i.get("next_us")) {
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| StoreError::Unstorable {
            key: crate::redact::item_key(pk, sk),
            reason: "the clock is not an integer".into(),
        }),
        _ => Ok(None),
    }
}

impl ItemStore for DynamoStore {
    async fn load_item<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws("GetItem", e))?;
        out.item().map(from_item).transpose()
    }

    async fn save_item<T: Serialize + Sync>(
        &self,
        pk: &str,
        sk: &str,
        record: &T,
        expect: Expect,
    ) -> Result<bool, StoreError> {
        let value = serde_json::to_value(record).map_err(|source| StoreError::Corrupt {
            key: crate::redact::item_key(pk, sk),
            source: source.into(),
        })?;
        let mut item = to_item(pk, sk, &value)?;
        let next = match expect {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        };
        item.insert(VERSION.into(), AttributeValue::N(next.to_string()));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expect {
            Expect::Absent => request.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => request
                .condition_expression("#ver = :ver")
                .expression_attribute_names("#ver", VERSION)
                .expression_attribute_values(":ver", AttributeValue::N(v.to_string())),
        };
        applied("PutItem", request.send().await)
    }

    async fn take_clock_span(
        &self,
        pk: &str,
        sk: &str,
        take: ClockTake,
        span_us: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .expression_attribute_names("#next", "next_us")
            .expression_attribute_names("#ttl", "ttl")
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match take {
            ClockTake::Restart { now_us, start_us } => {
                let end = start_us.saturating_add(span_us);
                request
                    .update_expression("SET #next = :end, #ttl = :ttl")
                    .condition_expression("attribute_not_exists(#next) OR #next < :now")
                    .expression_attribute_values(":end", n(end))
                    .expression_attribute_values(":now", n(now_us))
                    .expression_attribute_values(":ttl", n(end / 1_000_000 + CLOCK_TTL_SECS))
            }
            ClockTake::Extend { now_us, until_us } => request
                .update_expression("ADD #next :span SET #ttl = :ttl")
                .condition_expression("#next >= :now AND #next < :until")
                .expression_attribute_values(":span", n(span_us))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":until", n(until_us))
                .expression_attribute_values(
                    ":ttl",
                    n(until_us.saturating_add(span_us) / 1_000_000 + CLOCK_TTL_SECS),
                ),
        };
        match request.send().await {
            Ok(out) => match clock(pk, sk, out.attributes.as_ref())? {
                Some(after) => Ok(Ok(after)),
                None => Err(StoreError::Unstorable {
                    key: crate::redact::item_key(pk, sk),
                    reason: "UpdateItem returned no clock".into(),
                }),
            },
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Err(clock(pk, sk, c.item.as_ref())?))
                }
                _ => Err(aws("UpdateItem", e)),
            },
        }
    }

    async fn take_line_place(
        &self,
        pk: &str,
        sk: &str,
        floor_us: i64,
        spacing_us: i64,
    ) -> Result<i64, StoreError> {
        let ttl = n(floor_us / 1_000_000 + CLOCK_TTL_SECS);
        for _ in 0..LINE_ATTEMPTS {
            // The line is at or past the floor: one place more.
            let extended = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression("ADD #next :spacing SET #ttl = :ttl")
                .condition_expression("#next >= :floor")
                .expression_attribute_names("#next", "next_us")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":spacing", n(spacing_us))
                .expression_attribute_values(":floor", n(floor_us))
                .expression_attribute_values(":ttl", ttl.clone())
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match extended {
                Ok(out) => {
                    return clock(pk, sk, out.attributes.as_ref())?.ok_or_else(|| {
                        StoreError::Unstorable {
                            key: crate::redact::item_key(pk, sk),
                            reason: "UpdateItem returned no clock".into(),
                        }
                    })
                }
                Err(e) if conditional_failed(&e) => {}
                Err(e) => return Err(aws("UpdateItem", e)),
            }
            // Nobody waits (or the line fell behind): it restarts at the floor.
            let target = floor_us.saturating_add(spacing_us);
            let restarted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression("SET #next = :target, #ttl = :ttl")
                .condition_expression("attribute_not_exists(#next) OR #next < :floor")
                .expression_attribute_names("#next", "next_us")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":target", n(target))
                .expression_attribute_values(":floor", n(floor_us))
                .expression_attribute_values(":ttl", ttl.clone())
                .send()
                .await;
            match restarted {
                Ok(_) => return Ok(target),
                Err(e) if conditional_failed(&e) => {}
                Err(e) => return Err(aws("UpdateItem", e)),
            }
        }
        Err(StoreError::Unstorable {
            key: crate::redact::item_key(pk, sk),
            reason: "the waiting line kept moving; try again".into(),
        })
    }
}
