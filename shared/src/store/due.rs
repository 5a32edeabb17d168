//! Port: what window-alerts reads — the conversations the `due-index` says are due, one bucket
//! and one page at a time, and a due contact's window read consistently.
//!
//! The index is eventually consistent and only says where to look: every decision is made on the
//! consistent read of [`DueStore::load_window`] and committed with "version is still what I read".
//! Each page reports how many index items it read, so the cost of a run can be checked: it grows
//! with what is due, not with the number of contacts.

use std::future::Future;

use super::{ContactState, OutboxStore, StoreError};

/// One index entry: whose window is due, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    pub business: String,
    pub contact_id: String,
    pub due_at: i64,
}

/// Where the next page of a bucket starts (the index position of the last entry read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCursor {
    pub due_at: i64,
    pub pk: String,
    pub sk: String,
}

/// One page of a bucket, oldest `due_at` first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuePage {
    pub entries: Vec<DueEntry>,
    /// Index items the query read (DynamoDB's `ScannedCount`).
    pub items_read: usize,
    /// `None` when the bucket has nothing more due.
    pub next: Option<DueCursor>,
}

/// Port: the `due-index` and the windows it points at.
pub trait DueStore: OutboxStore {
    /// Up to `limit` entries of `bucket` with `due_at <= now`, after `after`.
    fn due_page(
        &self,
        bucket: &str,
        now: i64,
        after: Option<DueCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send;

    /// The contact's profile and conversation, read consistently.
    fn load_window(
        &self,
        business: &str,
        contact_id: &str,
    ) -> impl Future<Output = Result<ContactState, StoreError>> + Send;
}
