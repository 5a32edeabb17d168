//! Alarm-worthy counts as CloudWatch embedded metric format (EMF): one JSON document per line
//! on stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into a metric. The
//! template's `CredentialErrorsAlarm` watches `WaCrmBridge/CredentialErrors` without dimensions.

use serde_json::json;

pub const NAMESPACE: &str = "WaCrmBridge";

/// Meta refused our access token (after one refresh of the secret).
pub fn credential_error(code: i64) {
    emit("CredentialErrors", code);
}

/// Meta reported the business account restricted.
pub fn account_error(code: i64) {
    emit("AccountErrors", code);
}

/// The EMF document for one count of `metric`.
pub fn document(metric: &str, code: i64, timestamp_ms: i64) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }]
            }]
        },
        metric: 1,
        "meta_error_code": code,
        "function": "sender"
    })
}

fn emit(metric: &str, code: i64) {
    // Straight to stdout: EMF must be the whole log line, not a field of a tracing event.
    println!("{}", document(metric, code, shared::now_ms()));
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_an_emf_document_without_dimensions() {
        let d = super::document("CredentialErrors", 190, 1);
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "WaCrmBridge"
        );
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([[]])
        );
        assert_eq!(d["CredentialErrors"], 1);
    }
}
