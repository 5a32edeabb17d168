use serde_json::{json, Value};

use super::*;
use crate::events::{ContactRef, EventSource, EventType, PendingEvent};

const NUMBER_A: &str = "106540352242922";
const NUMBER_B: &str = "106540352242923";

/// An event as the bridge builds it (envelope, contact with personal data, `data`).
fn built(number: &str, event_type: EventType, data: Value) -> PendingEvent {
    let source = EventSource {
        update_key: format!("test:{data}"),
        phone_number_id: Some(number.to_owned()),
        waba_id: Some("102290129340398".into()),
    };
    let contact = ContactRef {
        id: "ct_1".into(),
        wa_id: Some("5511987654321".into()),
        phone: Some("+5511987654321".into()),
        name: Some("João Silva".into()),
        ..ContactRef::default()
    };
    source
        .event(
            event_type,
            0,
            1_764_248_712,
            Some(contact),
            serde_json::value::to_raw_value(&data).unwrap(),
        )
        .unwrap()
}

/// An event of a type this branch does not build yet, by its type string.
fn by_name(number: &str, event_type: &str, data: Value) -> PendingEvent {
    PendingEvent {
        event_id: "ev_x".into(),
        event_type: event_type.into(),
        group_id: "ct_1".into(),
        body: json!({
            "event_id": "ev_x", "type": event_type, "schema_version": 1,
            "occurred_at": "2026-11-27T13:05:12Z", "phone_number_id": number,
            "waba_id": null, "contact": {"id": "ct_1", "phone": "+5511987654321"}, "data": data,
        })
        .to_string(),
    }
}

fn status(number: &str, template: Option<&str>, previous: Option<&str>, now: &str) -> PendingEvent {
    built(
        number,
        EventType::MessageStatus,
        json!({
            "wamid": "wamid.X", "status": now, "previous_status": previous, "template": template,
            "pricing": {"category": "marketing", "type": "regular", "pricing_model": "PMP"},
            "recipient_id": "5511987654321",
        }),
    )
}

fn docs(events: &[PendingEvent]) -> Vec<Value> {
    Tally::of(events).documents("processor", 1_764_248_712_000)
}

/// The one document whose dimension values are `dims`.
fn doc_for(docs: &[Value], dims: &[(&str, &str)]) -> Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            let names = &d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
            names.as_array().map(Vec::len) == Some(dims.len())
                && dims.iter().all(|(k, v)| d[*k] == *v)
        })
        .collect();
    assert_eq!(found.len(), 1, "one document for {dims:?} in {docs:#?}");
    found[0].clone()
}

fn metric_names(doc: &Value) -> Vec<String> {
    doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn messages_in_are_counted_per_business_number_in_one_document_each() {
    let received = |n| {
        built(
            n,
            EventType::MessageReceived,
            json!({"text": {"body": "Olá"}}),
        )
    };
    let docs = docs(&[received(NUMBER_A), received(NUMBER_A), received(NUMBER_B)]);
    assert_eq!(docs.len(), 2);
    let a = doc_for(&docs, &[(NUMBER, NUMBER_A)]);
    assert_eq!(a["MessagesIn"], 2);
    assert_eq!(
        a["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "WaCrmBridge"
    );
    assert_eq!(
        a["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["phone_number_id"]])
    );
    assert_eq!(
        a["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        json!([{"Name": "MessagesIn", "Unit": "Count"}])
    );
    assert_eq!(a["_aws"]["Timestamp"], 1_764_248_712_000_i64);
    assert_eq!(a["function"], "processor");
    assert_eq!(doc_for(&docs, &[(NUMBER, NUMBER_B)])["MessagesIn"], 1);
}

#[test]
fn no_document_carries_the_customer_s_phone_name_or_text() {
    let docs = docs(&[
        built(
            NUMBER_A,
            EventType::MessageReceived,
            json!({"text": {"body": "Olá"}}),
        ),
        status(NUMBER_A, Some("promo"), None, "read"),
    ]);
    for doc in &docs {
        let line = doc.to_string();
        for personal in ["5511987654321", "João", "Olá", "wamid.X", "ct_1"] {
            assert!(!line.contains(personal), "{personal} in {line}");
        }
        let mut keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.retain(|k| !["_aws", "function"].contains(k));
        let declared: Vec<String> = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .chain(metric_names(doc))
            .collect();
        assert_eq!(
            keys.len(),
            declared.len(),
            "only dimensions and metrics: {line}"
        );
    }
}

#[test]
fn messages_out_are_accepted_commands_with_a_wamid() {
    let accepted = |wamid: Value| {
        built(
            NUMBER_A,
            EventType::CommandAccepted,
            json!({"command_id": "c", "wamid": wamid, "to": "+5511987654321"}),
        )
    };
    let docs = docs(&[
        accepted(json!("wamid.A")),
        accepted(json!("wamid.B")),
        accepted(Value::Null), // mark_read, close_conversation
        accepted(json!("")),
    ]);
    let a = doc_for(&docs, &[(NUMBER, NUMBER_A)]);
    assert_eq!(a["MessagesOut"], 2);
    assert_eq!(metric_names(&a), ["MessagesOut"]);
}

#[test]
fn a_number_with_only_an_accepted_command_without_wamid_writes_nothing() {
    let e = built(
        NUMBER_A,
        EventType::CommandAccepted,
        json!({"command_id": "c", "wamid": null}),
    );
    assert!(Tally::of(&[e]).is_empty());
}

#[test]
fn first_response_seconds_are_values_of_one_metric() {
    let first = |seconds: Value| {
        by_name(
            NUMBER_A,
            "conversation.first_response",
            json!({"conversation_id": "cv_1", "response_seconds": seconds, "by": "command", "command_id": "c"}),
        )
    };
    let docs = docs(&[
        first(json!(42)),
        first(json!(7.5)),
        first(json!(-1)),
        first(json!("9")),
    ]);
    let a = doc_for(&docs, &[(NUMBER, NUMBER_A)]);
    assert_eq!(a["FirstResponseSeconds"], json!([42.0, 7.5]));
    assert_eq!(
        a["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        json!([{"Name": "FirstResponseSeconds", "Unit": "Seconds"}])
    );
}

#[test]
fn conversations_opened_closed_and_abandoned_are_counted() {
    let docs = docs(&[
        by_name(
            NUMBER_A,
            "conversation.opened",
            json!({"conversation_id": "cv_1", "entry": "organic"}),
        ),
        by_name(
            NUMBER_A,
            "conversation.opened",
            json!({"conversation_id": "cv_2", "entry": "ad"}),
        ),
        by_name(
            NUMBER_A,
            "conversation.closed",
            json!({"closed_by": "idle", "duration_seconds": 60, "messages_in": 2, "messages_out": 0}),
        ),
        by_name(
            NUMBER_A,
            "conversation.abandoned",
            json!({"waited_seconds": 60, "unanswered_messages": 2}),
        ),
    ]);
    let a = doc_for(&docs, &[(NUMBER, NUMBER_A)]);
    assert_eq!(a["ConversationsOpened"], 2);
    assert_eq!(a["ConversationsClosed"], 1);
    assert_eq!(a["ConversationsAbandoned"], 1);
    assert_eq!(
        metric_names(&a),
        [
            "ConversationsOpened",
            "ConversationsClosed",
            "ConversationsAbandoned"
        ]
    );
}

#[test]
fn ratings_count_and_carry_their_scores() {
    let rated = |score: Value| {
        by_name(
            NUMBER_A,
            "conversation.rated",
            json!({"conversation_id": "cv_1", "score": score, "scale": "1-5", "comment": "ótimo"}),
        )
    };
    let docs = docs(&[rated(json!(4)), rated(json!(2)), rated(Value::Null)]);
    let a = doc_for(&docs, &[(NUMBER, NUMBER_A)]);
    assert_eq!(a["Ratings"], 3);
    assert_eq!(a["RatingScore"], json!([4.0, 2.0]));
    assert!(!a.to_string().contains("ótimo"));
    let units: Vec<&str> = a["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["Count", "None"]);
}

#[test]
fn template_statuses_count_every_step_a_message_reached_once() {
    let docs = docs(&[
        // Message 1: sent, delivered, read, then a played that adds no step.
        status(NUMBER_A, Some("promo"), None, "sent"),
        status(NUMBER_A, Some("promo"), Some("sent"), "delivered"),
        status(NUMBER_A, Some("promo"), Some("delivered"), "read"),
        status(NUMBER_A, Some("promo"), Some("read"), "played"),
        // Message 2: its first status is `read` (Meta skips `delivered` when both happen).
        status(NUMBER_A, Some("promo"), None, "read"),
        // Message 3: sent, then failed.
        status(NUMBER_A, Some("promo"), None, "sent"),
        status(NUMBER_A, Some("promo"), Some("sent"), "failed"),
        // Another template.
        status(NUMBER_A, Some("welcome"), None, "delivered"),
    ]);
    let promo = doc_for(&docs, &[(NUMBER, NUMBER_A), (TEMPLATE, "promo")]);
    assert_eq!(promo["TemplatesSent"], 3);
    assert_eq!(promo["TemplatesDelivered"], 2);
    assert_eq!(promo["TemplatesRead"], 2);
    assert_eq!(promo["TemplatesFailed"], 1);
    assert_eq!(
        promo["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["phone_number_id", "template"]])
    );
    let welcome = doc_for(&docs, &[(NUMBER, NUMBER_A), (TEMPLATE, "welcome")]);
    assert_eq!(welcome["TemplatesSent"], 1);
    assert_eq!(welcome["TemplatesDelivered"], 1);
    assert_eq!(
        metric_names(&welcome),
        ["TemplatesSent", "TemplatesDelivered"]
    );
}

#[test]
fn statuses_of_messages_that_are_not_templates_count_no_template() {
    let docs = docs(&[status(NUMBER_A, None, None, "delivered")]);
    assert!(docs.iter().all(|d| d.get(TEMPLATE).is_none()));
}

#[test]
fn pricing_counts_each_message_once_when_it_reaches_delivered() {
    let priced = |previous: Option<&str>, now: &str, category: Value, kind: Value| {
        built(
            NUMBER_A,
            EventType::MessageStatus,
            json!({"status": now, "previous_status": previous, "template": null,
                   "pricing": {"category": category, "type": kind, "pricing_model": "PMP"}}),
        )
    };
    let docs = docs(&[
        // Message 1: the sent status's pricing does not count, the delivered one does, read not.
        priced(None, "sent", json!("marketing"), json!("regular")),
        priced(
            Some("sent"),
            "delivered",
            json!("marketing"),
            json!("regular"),
        ),
        priced(
            Some("delivered"),
            "read",
            json!("marketing"),
            json!("regular"),
        ),
        // Message 2: first heard of as read.
        priced(None, "read", json!("marketing"), json!("regular")),
        // Message 3: a free service reply.
        priced(
            None,
            "delivered",
            json!("service"),
            json!("free_customer_service"),
        ),
        // Message 4: a category Meta may add, and one that is not an identifier.
        priced(None, "delivered", Value::Null, json!("regular")),
        priced(None, "delivered", json!("new category!"), json!("regular")),
        // A failure carries no cost.
        priced(None, "failed", json!("marketing"), json!("regular")),
    ]);
    let count = |category: &str, kind: &str| {
        doc_for(
            &docs,
            &[
                (NUMBER, NUMBER_A),
                (PRICING_CATEGORY, category),
                (PRICING_TYPE, kind),
            ],
        )["PricedMessages"]
            .clone()
    };
    assert_eq!(count("marketing", "regular"), 2);
    assert_eq!(count("service", "free_customer_service"), 1);
    assert_eq!(count(OTHER, "regular"), 2);
    let marketing = doc_for(
        &docs,
        &[
            (NUMBER, NUMBER_A),
            (PRICING_CATEGORY, "marketing"),
            (PRICING_TYPE, "regular"),
        ],
    );
    assert_eq!(
        marketing["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["phone_number_id", "pricing_category", "pricing_type"]])
    );
}

#[test]
fn a_status_without_pricing_counts_no_price() {
    let e = built(
        NUMBER_A,
        EventType::MessageStatus,
        json!({"status": "delivered", "previous_status": null, "template": null, "pricing": null}),
    );
    assert!(Tally::of(&[e]).is_empty());
}

#[test]
fn a_template_name_that_is_not_an_identifier_counts_as_other() {
    let docs = docs(&[status(NUMBER_A, Some("promo de natal"), None, "sent")]);
    assert_eq!(
        doc_for(&docs, &[(NUMBER, NUMBER_A), (TEMPLATE, OTHER)])["TemplatesSent"],
        1
    );
}

#[test]
fn events_without_a_usable_business_number_or_envelope_count_nothing() {
    let mut no_number = built(NUMBER_A, EventType::MessageReceived, json!({}));
    no_number.body = no_number.body.replace(NUMBER_A, "");
    let mut odd_number = built(NUMBER_A, EventType::MessageReceived, json!({}));
    odd_number.body = odd_number.body.replace(NUMBER_A, "+55 11 98765-4321");
    let mut not_json = built(NUMBER_A, EventType::MessageReceived, json!({}));
    not_json.body = "{".into();
    let other_types = [
        built(NUMBER_A, EventType::WindowExpiring, json!({})),
        by_name(NUMBER_A, "conversation.unknown_future_kind", json!({})),
    ];
    let mut events = vec![no_number, odd_number, not_json];
    events.extend(other_types);
    assert!(Tally::of(&events).is_empty());
}

#[test]
fn more_than_a_hundred_values_go_out_in_further_documents() {
    let events: Vec<PendingEvent> = (0..250)
        .map(|i| {
            by_name(
                NUMBER_A,
                "conversation.first_response",
                json!({"response_seconds": i}),
            )
        })
        .chain([built(NUMBER_A, EventType::MessageReceived, json!({}))])
        .collect();
    let docs = docs(&events);
    assert_eq!(docs.len(), 3);
    let sizes: Vec<usize> = docs
        .iter()
        .map(|d| d["FirstResponseSeconds"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(docs[0]["MessagesIn"], 1);
    assert!(docs[1].get("MessagesIn").is_none());
    let all: Vec<f64> = docs
        .iter()
        .flat_map(|d| {
            d["FirstResponseSeconds"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
}

#[test]
fn merged_tallies_add_up_as_one() {
    let a = [
        built(NUMBER_A, EventType::MessageReceived, json!({})),
        status(NUMBER_A, Some("promo"), None, "delivered"),
    ];
    let b = [
        built(NUMBER_A, EventType::MessageReceived, json!({})),
        status(NUMBER_A, Some("promo"), Some("delivered"), "read"),
        by_name(
            NUMBER_A,
            "conversation.first_response",
            json!({"response_seconds": 3}),
        ),
    ];
    let mut merged = Tally::of(&a);
    merged.merge(Tally::of(&b));
    let all: Vec<PendingEvent> = a.iter().chain(b.iter()).cloned().collect();
    assert_eq!(merged, Tally::of(&all));
}
