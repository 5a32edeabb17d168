//! [`ItemStore`] in memory, with the DynamoDB adapter's conditions.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::{MemoryStore, Stored};
use crate::store::items::{ClockTake, ItemStore};
use crate::store::{Expect, StoreError, Versioned};

type Items = std::collections::BTreeMap<(String, String), Stored>;

fn clock_at(items: &Items, key: &(String, String)) -> Option<i64> {
    items
        .get(key)
        .and_then(|s| s.value.get("next_us").and_then(Value::as_i64))
}

fn set_clock(items: &mut Items, key: (String, String), next_us: i64) {
    items.insert(
        key,
        Stored {
            value: json!({ "next_us": next_us }),
            version: None,
        },
    );
}

impl ItemStore for MemoryStore {
    async fn load_item<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let items = self.lock();
        Self::versioned(&items, pk.to_owned(), sk)
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
        let mut items = self.lock();
        let key = (pk.to_owned(), sk.to_owned());
        let current = items.get(&key).map(|s| s.version.unwrap_or(0));
        let next = match (expect, current) {
            (Expect::Absent, None) => 1,
            (Expect::Version(v), Some(c)) if v == c => v + 1,
            _ => return Ok(false),
        };
        items.insert(
            key,
            Stored {
                value,
                version: Some(next),
            },
        );
        Ok(true)
    }

    async fn take_clock_span(
        &self,
        pk: &str,
        sk: &str,
        take: ClockTake,
        span_us: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        let mut items = self.lock();
        let key = (pk.to_owned(), sk.to_owned());
        let current = clock_at(&items, &key);
        let after = match (take, current) {
            (ClockTake::Restart { start_us, .. }, None) => start_us.saturating_add(span_us),
            (ClockTake::Restart { now_us, start_us }, Some(c)) if c < now_us => {
                start_us.saturating_add(span_us)
            }
            (ClockTake::Extend { now_us, until_us }, Some(c)) if c >= now_us && c < until_us => {
                c.saturating_add(span_us)
            }
            _ => return Ok(Err(current)),
        };
        set_clock(&mut items, key, after);
        Ok(Ok(after))
    }

    async fn take_line_place(
        &self,
        pk: &str,
        sk: &str,
        floor_us: i64,
        spacing_us: i64,
    ) -> Result<i64, StoreError> {
        let mut items = self.lock();
        let key = (pk.to_owned(), sk.to_owned());
        let after = clock_at(&items, &key)
            .unwrap_or(floor_us)
            .max(floor_us)
            .saturating_add(spacing_us);
        set_clock(&mut items, key, after);
        Ok(after)
    }
}
