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

use serde::Deserialize;
use shared::lenient;

/// `metadata` of a `messages` change (and of some other fields): which business number.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "lenient::text")]
    pub phone_number_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub display_phone_number: Option<String>,
}
