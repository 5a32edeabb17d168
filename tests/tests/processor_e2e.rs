//! End-to-end through the runner and simulator: customer messages become exactly one CRM event
//! each on `crm-events`, whatever Meta retries, and one contact per person.

use std::time::Duration;

use e2e_tests::{drain, meta_signature, sqs, start_stack, RunningStack};
use serde_json::{json, Value};

async fn inbound(stack: &RunningStack, body: Value) -> Value {
    let res: Value = reqwest::Client::new()
        .post(format!("{}/_sim/inbound", stack.sim_url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["webhook_status"], 200, "{res}");
    res
}

async fn post_signed(stack: &RunningStack, body: &str) {
    let res = reqwest::Client::new()
        .post(stack.webhook_url())
        .header("content-type", "application/json")
        .header(
            "X-Hub-Signature-256",
            meta_signature(body.as_bytes(), "local-app-secret"),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

fn events_url(stack: &RunningStack) -> String {
    stack
        .provisioned
        .queue_url("CrmEventsQueue")
        .unwrap()
        .to_owned()
}

/// Drains until `want` events of type `kind` arrived (or a minute passed), then listens a little
/// longer so that duplicates would show; returns every event seen.
async fn events(stack: &RunningStack, kind: &str, want: usize) -> Vec<Value> {
    let sqs = sqs().await;
    let url = events_url(stack);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got
        .iter()
        .filter(|(_, b): &&(Option<String>, Value)| b["type"] == kind)
        .count()
        < want
        && std::time::Instant::now() < deadline
    {
        got.extend(drain(&sqs, &url, 1, Duration::from_secs(1)).await);
    }
    got.extend(drain(&sqs, &url, usize::MAX, Duration::from_secs(3)).await);
    for (attr, body) in &got {
        assert_eq!(
            attr.as_deref(),
            body["type"].as_str(),
            "type attribute matches the body"
        );
    }
    got.into_iter().map(|(_, b)| b).collect()
}

#[tokio::test]
async fn a_customer_message_gives_exactly_one_message_received_with_meta_s_object_inside() {
    let stack = start_stack(&[]).await;
    let sent = inbound(
        &stack,
        json!({"from": "5511987654321", "name": "João", "text": "Olá 👋"}),
    )
    .await;
    let events = events(&stack, "message.received", 1).await;
    let received: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message.received")
        .collect();
    assert_eq!(received.len(), 1, "{events:#?}");
    let event = received[0];
    assert_eq!(event["data"]["original"]["id"], sent["wamid"]);
    assert_eq!(event["data"]["original"]["text"]["body"], "Olá 👋");
    assert_eq!(event["contact"]["phone"], "+5511987654321");
    assert_eq!(event["contact"]["name"], "João");
    assert_eq!(event["phone_number_id"], "106540352242922");
    stack.shutdown().await;
}

#[tokio::test]
async fn the_same_signed_webhook_posted_three_times_gives_one_event() {
    let stack = start_stack(&[]).await;
    let body = shared::testkit::text_batch(1, 30);
    for _ in 0..3 {
        post_signed(&stack, &body).await;
    }
    let events = events(&stack, "message.received", 1).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "message.received")
            .count(),
        1,
        "{events:#?}"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_100_updates_gives_100_events() {
    let stack = start_stack(&[]).await;
    post_signed(&stack, &shared::testkit::text_batch(100, 40)).await;
    let events = events(&stack, "message.received", 100).await;
    let mut ids: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "message.received")
        .map(|e| e["data"]["original"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "message.received")
            .count(),
        100
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn brazilian_numbers_with_and_without_the_ninth_digit_are_one_contact() {
    let stack = start_stack(&[]).await;
    inbound(
        &stack,
        json!({"from": "5511987654321", "name": "Ana", "text": "oi"}),
    )
    .await;
    inbound(
        &stack,
        json!({"from": "551187654321", "name": "Ana", "text": "oi de novo"}),
    )
    .await;
    let events = events(&stack, "message.received", 2).await;
    let contacts: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message.received")
        .map(|e| &e["contact"]["id"])
        .collect();
    assert_eq!(contacts.len(), 2, "{events:#?}");
    assert_eq!(contacts[0], contacts[1]);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_stop_message_gives_contact_opted_out() {
    let stack = start_stack(&[]).await;
    inbound(
        &stack,
        json!({"from": "5215512345678", "name": "Luis", "text": "STOP"}),
    )
    .await;
    let events = events(&stack, "contact.opted_out", 1).await;
    let opted_out: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "contact.opted_out")
        .collect();
    assert_eq!(opted_out.len(), 1, "{events:#?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "message.received")
            .count(),
        1
    );
    stack.shutdown().await;
}
