//! `calls`: WhatsApp voice calls between a customer and the business number. `calls[]` carries
//! a call's lifecycle (`event`: `connect`, `terminate`), `statuses[]` (`type: "call"`) how a
//! business-initiated call is progressing (`RINGING`, `ACCEPTED`, `REJECTED`). Call ids are
//! `wacid.…`; the SDP of `session` stays in `original` only.

use serde::Deserialize;
use serde_json::Value;
use shared::lenient;

use super::contact::ContactBlock;
use super::{items, Item};

/// The value of a `calls` change.
#[derive(Debug, Clone, Default)]
pub struct CallsValue {
    pub contacts: Vec<ContactBlock>,
    pub calls: Vec<Item<Call>>,
    /// Only statuses of `type: "call"` (or with no type).
    pub statuses: Vec<Item<CallStatus>>,
}

impl CallsValue {
    /// Reads a `calls` change value; entries that are not objects are left out.
    pub fn from_value(value: &Value) -> Self {
        let mut statuses: Vec<Item<CallStatus>> = items(value, "statuses");
        statuses.retain(|s| s.typed.kind.as_deref().is_none_or(|k| k == "call"));
        Self {
            contacts: items::<ContactBlock>(value, "contacts")
                .into_iter()
                .map(|i| i.typed)
                .collect(),
            calls: items(value, "calls"),
            statuses,
        }
    }

    /// Whether there is anything to turn into call events.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.statuses.is_empty()
    }
}

/// Who placed the call, as Meta says it in `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    /// `USER_INITIATED`: the customer called the business; it opens the service window.
    User,
    /// `BUSINESS_INITIATED`: the business called the customer.
    Business,
}

/// One entry of `calls[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Call {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub from_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub to_user_id: Option<String>,
    /// `connect` or `terminate`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub event: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
    /// On `terminate`: `COMPLETED` or `FAILED`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub start_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub end_time: Option<i64>,
    /// Seconds the call lasted (on `terminate`).
    #[serde(default, deserialize_with = "lenient::int")]
    pub duration: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub biz_opaque_callback_data: Option<String>,
    /// Why a call failed, as Meta's error objects (`code`, `title`, `message`, …).
    #[serde(default, deserialize_with = "lenient::values")]
    pub errors: Vec<Value>,
}

impl Call {
    pub fn direction(&self) -> Option<CallDirection> {
        match self.direction.as_deref()? {
            "USER_INITIATED" => Some(CallDirection::User),
            "BUSINESS_INITIATED" => Some(CallDirection::Business),
            _ => None,
        }
    }

    /// The customer's side of the call: the caller of a user-initiated call, the callee of a
    /// business-initiated one; `None` when the direction is not known.
    pub fn customer(&self) -> Option<(Option<&str>, Option<&str>)> {
        Some(match self.direction()? {
            CallDirection::User => (self.from.as_deref(), self.from_user_id.as_deref()),
            CallDirection::Business => (self.to.as_deref(), self.to_user_id.as_deref()),
        })
    }
}

/// One entry of `statuses[]` in a `calls` change (a business-initiated call's progress).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallStatus {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    /// `call` for call statuses.
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    pub kind: Option<String>,
    /// `RINGING`, `ACCEPTED` or `REJECTED`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub recipient_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub recipient_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub biz_opaque_callback_data: Option<String>,
}

impl CallsValue {
    /// The contact block for a customer: same `wa_id`, or same `user_id`.
    pub fn contact_of(&self, wa_id: Option<&str>, user_id: Option<&str>) -> Option<&ContactBlock> {
        self.contacts.iter().find(|c| {
            wa_id.is_some() && c.wa_id.as_deref() == wa_id
                || user_id.is_some() && c.user_id.as_deref() == user_id
        })
    }
}
