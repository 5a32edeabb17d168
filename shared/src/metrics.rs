//! Alarm-worthy counts as CloudWatch embedded metric format (EMF): one JSON document per line
//! on stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into a metric. Every
//! metric is in [`NAMESPACE`] without dimensions, which is what the template's alarms watch.

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "WaCrmBridge";

/// The EMF document for one count of `metric` from `function`, with `fields` as extra context
/// (never a secret or personal data: the line is a log line).
pub fn document(
    metric: &str,
    function: &str,
    fields: Map<String, Value>,
    timestamp_ms: i64,
) -> Value {
    let mut doc = fields;
    doc.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }]
            }]
        }),
    );
    doc.insert(metric.to_owned(), json!(1));
    doc.insert("function".to_owned(), json!(function));
    Value::Object(doc)
}

/// Writes one count of `metric` now.
pub fn count(metric: &str, function: &str, fields: Map<String, Value>) {
    // Straight to stdout: EMF must be the whole log line, not a field of a tracing event.
    println!("{}", document(metric, function, fields, crate::now_ms()));
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_an_emf_document_without_dimensions() {
        let mut fields = serde_json::Map::new();
        fields.insert("meta_error_code".into(), 190.into());
        let d = super::document("CredentialErrors", "sender", fields, 1);
        let metrics = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], "WaCrmBridge");
        assert_eq!(metrics["Dimensions"], serde_json::json!([[]]));
        assert_eq!(metrics["Metrics"][0]["Name"], "CredentialErrors");
        assert_eq!(d["CredentialErrors"], 1);
        assert_eq!(d["function"], "sender");
        assert_eq!(d["meta_error_code"], 190);
        assert_eq!(d["_aws"]["Timestamp"], 1);
    }
}
