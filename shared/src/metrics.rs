//! Metrics as CloudWatch embedded metric format (EMF): one JSON document per line on stdout,
//! which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics, all in
//! [`NAMESPACE`]. Alarm-worthy counts ([`count`]) have no dimensions, which is what the
//! template's alarms watch; business metrics per business number are derived from committed
//! CRM events ([`business`]) and written once per invocation ([`invocation`]).

use std::io::Write as _;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

pub mod business;
pub mod invocation;

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
    write_lines(&[document(metric, function, fields, crate::now_ms())]);
}

/// Writes EMF documents, one a line, where log lines go: stdout (EMF must be the whole log line,
/// not a field of a tracing event), or the test suite's capture file when
/// [`crate::telemetry::CAPTURE_FILE_VAR`] is set, so its scan for personal data covers metrics
/// too. All lines go out in one write, so they never interleave with another process's.
pub(crate) fn write_lines(docs: &[Value]) {
    let mut text = String::new();
    for doc in docs {
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    if text.is_empty() {
        return;
    }
    static CAPTURE: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        std::env::var_os(crate::telemetry::CAPTURE_FILE_VAR).map(std::path::PathBuf::from)
    });
    let written = match capture {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes())),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    };
    if let Err(err) = written {
        // Metrics are never worth failing an invocation for.
        tracing::warn!(error = %err, "could not write EMF metrics");
    }
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
