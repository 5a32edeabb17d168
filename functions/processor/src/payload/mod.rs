//! Meta's webhook payloads as lenient typed models, one module per kind: an inbound
//! [`message`] (its type-specific [`content`], the [`system`] notice), the [`contact`] block
//! beside it, and the [`change`] fields other than `messages` ([`preferences`], [`call`] and
//! [`user_id_update`] and [`group`] among them; the coexistence fields [`echo`], [`history`] and
//! [`state_sync`]).
//! Statuses are typed in `shared::delivery` (the sender applies parked ones too).
//!
//! Each update's JSON is parsed once, after [`shared::lenient::repair_lone_surrogates`]; every
//! field reads leniently, so one odd field never blanks the others, and fields Meta adds are
//! ignored here and still reach the CRM in `original`. Fields Meta sends only to some
//! integrators (`user_id`, `username`, `group_id`, parent user ids) are optional throughout.

pub mod call;
pub mod change;
pub mod contact;
pub mod content;
pub mod echo;
pub mod group;
pub mod history;
pub mod message;
pub mod preferences;
pub mod state_sync;
pub mod system;
pub mod user_id_update;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use shared::lenient;

/// `metadata` of a `messages` change (and of some other fields): which business number.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "lenient::text")]
    pub phone_number_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub display_phone_number: Option<String>,
}

/// One list entry: typed, and as Meta sent it (the event's `original`).
#[derive(Debug, Clone)]
pub struct Item<T> {
    pub typed: T,
    pub raw: Box<RawValue>,
}

/// The objects of `value[list]`, each typed and raw; entries that are not objects (or do not
/// read as `T`) are left out.
pub(crate) fn items<T: DeserializeOwned>(value: &Value, list: &str) -> Vec<Item<T>> {
    let entries = value.get(list).and_then(Value::as_array);
    entries
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
        .filter_map(|v| {
            Some(Item {
                typed: T::deserialize(v).ok()?,
                raw: serde_json::value::to_raw_value(v).ok()?,
            })
        })
        .collect()
}
