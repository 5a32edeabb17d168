//! The sender's alarm-worthy counts, as EMF through [`shared::metrics`]. The template's
//! `CredentialErrorsAlarm` watches `WaCrmBridge/CredentialErrors` without dimensions.

use serde_json::{Map, Value};

pub use shared::metrics::NAMESPACE;

/// Meta refused our access token (after one refresh of the secret).
pub fn credential_error(code: i64) {
    shared::metrics::count("CredentialErrors", "sender", code_field(code));
}

/// The sender's secret has no usable access token for a business number (unset or a
/// placeholder): counted with Meta's refusals, since the operator's fix is the same.
pub fn access_token_unset() {
    let mut fields = Map::new();
    fields.insert("reason".to_owned(), Value::from("access_token_unset"));
    shared::metrics::count("CredentialErrors", "sender", fields);
}

/// Meta reported the business account restricted.
pub fn account_error(code: i64) {
    shared::metrics::count("AccountErrors", "sender", code_field(code));
}

fn code_field(code: i64) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("meta_error_code".to_owned(), Value::from(code));
    fields
}
