//! Meta's status object and the `errors[]` entries of statuses and messages, as lenient typed
//! models: each field is read on its own (see [`crate::lenient`]), so an odd one leaves the rest.

use serde::Deserialize;
use serde_json::Value;

use crate::lenient;

/// One element of `value.statuses[]`. Every field is optional, as it may be in Meta's payloads:
/// `recipient_id` is omitted for sends to a business-scoped user id, `conversation` from v24.0
/// on, `pricing` on `failed` statuses; group statuses carry `recipient_type: group`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetaStatus {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub recipient_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub recipient_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub parent_recipient_user_id: Option<String>,
    /// `individual` or `group`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub recipient_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default, deserialize_with = "lenient::json_object")]
    pub conversation: Option<Value>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub pricing: Option<MetaPricing>,
    #[serde(default, deserialize_with = "meta_errors")]
    pub errors: Vec<super::MetaError>,
}

/// A status's `pricing` block: Meta's only per-message cost signal (every reply is billed
/// since 2026-10-01). `billable` is deprecated and not read; the CRM gets these three fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct MetaPricing {
    #[serde(default, deserialize_with = "lenient::text")]
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(default, deserialize_with = "lenient::text", rename = "type")]
    pub kind: Option<String>,
    /// `PMP` (`CBP` before 2025-07-01).
    #[serde(default, deserialize_with = "lenient::text")]
    pub pricing_model: Option<String>,
}

/// One `errors[]` entry as Meta sends it.
#[derive(Debug, Clone, Default, Deserialize)]
struct RawError {
    #[serde(default, deserialize_with = "lenient::int")]
    code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    title: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    error_data: Option<ErrorData>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ErrorData {
    #[serde(default, deserialize_with = "lenient::text")]
    details: Option<String>,
}

impl From<RawError> for super::MetaError {
    fn from(e: RawError) -> Self {
        Self {
            code: e.code,
            title: e.title,
            message: e.message,
            details: e.error_data.and_then(|d| d.details),
        }
    }
}

/// `errors[]`: one entry per item, odd items with empty fields (the CRM still sees how many
/// errors Meta reported); not a list, none.
pub fn meta_errors<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::MetaError>, D::Error> {
    Ok(lenient::values(d)?
        .into_iter()
        .map(|v| {
            v.is_object()
                .then(|| RawError::deserialize(v).ok())
                .flatten()
                .unwrap_or_default()
                .into()
        })
        .collect())
}
