//! Port: single items outside a commit — a record read and written back with "version is still
//! what I read", and clocks moved forward in one conditional write. The sender keeps its send
//! attempts, pair-rate buckets and the per-number send clock and waiting line here; the records
//! are the caller's (any serde type), the adapters are the state table's.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Expect, StoreError, Versioned};

/// A clock item lives this long past the last time it covers.
pub const CLOCK_TTL_SECS: i64 = 86_400;

/// Where a clock must stand for [`ItemStore::take_clock_span`] to move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockTake {
    /// Absent or behind `now_us` (nobody is using it): the clock restarts at `start_us` + span.
    Restart { now_us: i64, start_us: i64 },
    /// At or past `now_us` and before `until_us`: the span is taken from where it stands.
    Extend { now_us: i64, until_us: i64 },
}

/// Port: versioned single items and clocks (attribute `next_us`, Unix µs).
pub trait ItemStore: Send + Sync {
    /// The record at `(pk, sk)` with its version, read consistently.
    fn load_item<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>, StoreError>> + Send;

    /// Writes `record` at `(pk, sk)` if `expect` holds; `false` when another writer got there
    /// first.
    fn save_item<T: Serialize + Sync>(
        &self,
        pk: &str,
        sk: &str,
        record: &T,
        expect: Expect,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves the clock `span_us` forward if it stands where `take` says, in one conditional
    /// write: `Ok(clock after)`, or `Err(clock as found)` (`None`: no clock yet).
    fn take_clock_span(
        &self,
        pk: &str,
        sk: &str,
        take: ClockTake,
        span_us: i64,
    ) -> impl Future<Output = Result<Result<i64, Option<i64>>, StoreError>> + Send;

    /// Moves the clock to `max(clock, floor_us) + spacing_us` and returns where it stands then
    /// (usually one write: `ADD` when it is at or past the floor, else a restart at the floor).
    fn take_line_place(
        &self,
        pk: &str,
        sk: &str,
        floor_us: i64,
        spacing_us: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
}
