//! Port: everything the state table holds about one person, for erasure and export.
//!
//! Most of a person's items live outside their contact's partition (messages at `MSG#<wamid>`,
//! outbox items, aliases). Every item that belongs to a contact carries `contact_id` as a
//! top-level attribute, and the sparse GSI `contact-index` (KEYS_ONLY, `template.yaml`) lists
//! them; items under a message's or a command's partition (parked statuses, send attempts,
//! scheduled commands) are found through the partition of an indexed item.

use std::future::Future;

use serde_json::Value;

use super::StoreError;

/// The GSI on `contact_id` (KEYS_ONLY).
pub const CONTACT_INDEX: &str = "contact-index";

/// The key of one item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    /// The key of an item as [`PersonalDataStore`] returns it (with `pk` and `sk`).
    pub fn of(item: &Value) -> Option<Self> {
        Some(Self::new(
            item.get("pk")?.as_str()?,
            item.get("sk")?.as_str()?,
        ))
    }

    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One page of `contact-index`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<ItemKey>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<ItemKey>,
}

/// Port: a person's items, found, read, copied and deleted.
pub trait PersonalDataStore: Send + Sync {
    /// Up to `limit` keys of items whose `contact_id` is `contact_id`, after `after` (the index is
    /// eventually consistent: an item written a moment ago may be missing).
    fn contact_keys(
        &self,
        contact_id: &str,
        after: Option<ItemKey>,
        limit: usize,
    ) -> impl Future<Output = Result<KeyPage, StoreError>> + Send;

    /// Every item of partition `pk` (a message with its parked statuses, a command's items, a
    /// kept consent ledger), each as JSON with its `pk` and `sk`, read consistently.
    fn read_partition(
        &self,
        pk: &str,
    ) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;

    /// The items at `keys` that exist, each as JSON with its `pk` and `sk` (read consistently).
    fn read_items(
        &self,
        keys: &[ItemKey],
    ) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;

    /// Puts `items` (JSON objects) at their keys, replacing what is there.
    fn put_items(
        &self,
        items: &[(ItemKey, Value)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the items at `keys` (absent ones are not an error).
    fn delete_items(&self, keys: &[ItemKey])
        -> impl Future<Output = Result<(), StoreError>> + Send;
}
