//! Business metrics as EMF documents: one per dimension set, every metric with its unit,
//! within EMF's limits.

use serde_json::{json, Map, Value};

use super::*;

/// CloudWatch's unit of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Seconds => "Seconds",
            Self::None => "None",
        }
    }
}

/// EMF takes at most 100 values of one metric in one document.
const MAX_VALUES_PER_DOCUMENT: usize = 100;

impl Tally {
    /// The EMF documents of this tally: one per business number, one per (number, template) and
    /// one per (number, pricing category, type); more only when a metric has over 100 values.
    /// `function` is context (not a dimension).
    pub fn documents(&self, function: &str, timestamp_ms: i64) -> Vec<Value> {
        let mut docs = Vec::new();
        for (number, n) in &self.numbers {
            docs.extend(number_documents(number, n, function, timestamp_ms));
        }
        for ((number, template), t) in &self.templates {
            let metrics = counts(&[
                (TEMPLATES_SENT, t.sent),
                (TEMPLATES_DELIVERED, t.delivered),
                (TEMPLATES_READ, t.read),
                (TEMPLATES_FAILED, t.failed),
            ]);
            let dims = [(NUMBER, number.as_str()), (TEMPLATE, template.as_str())];
            docs.push(document(&dims, &metrics, function, timestamp_ms));
        }
        for ((number, category, kind), count) in &self.pricing {
            let dims = [
                (NUMBER, number.as_str()),
                (PRICING_CATEGORY, category.as_str()),
                (PRICING_TYPE, kind.as_str()),
            ];
            let metrics = counts(&[(PRICED_MESSAGES, *count)]);
            docs.push(document(&dims, &metrics, function, timestamp_ms));
        }
        docs
    }
}

/// A number's documents: the first carries its counts and up to 100 values of each value metric,
/// further ones only the values left.
fn number_documents(
    number: &str,
    n: &NumberTally,
    function: &str,
    timestamp_ms: i64,
) -> Vec<Value> {
    let dims = [(NUMBER, number)];
    let values = [
        (
            FIRST_RESPONSE_SECONDS,
            Unit::Seconds,
            &n.first_response_seconds,
        ),
        (RATING_SCORE, Unit::None, &n.rating_scores),
    ];
    let mut metrics = counts(&[
        (MESSAGES_IN, n.messages_in),
        (MESSAGES_OUT, n.messages_out),
        (CONVERSATIONS_OPENED, n.opened),
        (CONVERSATIONS_CLOSED, n.closed),
        (CONVERSATIONS_ABANDONED, n.abandoned),
        (RATINGS, n.ratings),
    ]);
    let mut docs = Vec::new();
    for chunk in 0.. {
        for (name, unit, all) in values {
            let part = all
                .chunks(MAX_VALUES_PER_DOCUMENT)
                .nth(chunk)
                .unwrap_or_default();
            if !part.is_empty() {
                metrics.push((name, unit, json!(part)));
            }
        }
        if metrics.is_empty() {
            break;
        }
        docs.push(document(&dims, &metrics, function, timestamp_ms));
        metrics.clear();
    }
    docs
}

/// The counts that are not zero, as metrics.
fn counts(all: &[(&'static str, u64)]) -> Vec<(&'static str, Unit, Value)> {
    all.iter()
        .filter(|(_, c)| *c > 0)
        .map(|(name, c)| (*name, Unit::Count, json!(c)))
        .collect()
}

/// One EMF document: one dimension set (`dims`, whose values are members of the document) and
/// its metrics.
fn document(
    dims: &[(&str, &str)],
    metrics: &[(&str, Unit, Value)],
    function: &str,
    timestamp_ms: i64,
) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": crate::metrics::NAMESPACE,
                "Dimensions": [dims.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() }))
                    .collect::<Vec<_>>(),
            }]
        }),
    );
    for (name, value) in dims {
        doc.insert((*name).to_owned(), json!(value));
    }
    for (name, _, value) in metrics {
        doc.insert((*name).to_owned(), value.clone());
    }
    doc.insert("function".to_owned(), json!(function));
    Value::Object(doc)
}
