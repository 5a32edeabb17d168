//! End-to-end through the runner and simulator: customer messages become exactly one CRM event
//! each on `crm-events`, whatever Meta retries, and one contact per person. Every event read is
//! checked against the published contract.

use std::time::Duration;

use e2e_tests::{customer_writes, of_type, post_signed, start_stack, CrmEvents};
use serde_json::json;

/// How long to wait for events; only a failing test waits this long.
const PATIENCE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_customer_message_gives_exactly_one_message_received_with_meta_s_object_inside() {
    let stack = start_stack(&[]).await;
    let sent = customer_writes(
        &stack,
        json!({"from": "5511987654321", "name": "João", "text": "Olá 👋"}),
    )
    .await;
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 1, PATIENCE)
        .await;
    let received = of_type(&events, "message.received");
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
        assert_eq!(post_signed(&stack, &body).await, 200);
    }
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 1, PATIENCE)
        .await;
    assert_eq!(of_type(&events, "message.received").len(), 1, "{events:#?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_100_updates_gives_100_events() {
    let stack = start_stack(&[]).await;
    assert_eq!(
        post_signed(&stack, &shared::testkit::text_batch(100, 40)).await,
        200
    );
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 100, PATIENCE)
        .await;
    let received = of_type(&events, "message.received");
    let mut ids: Vec<&str> = received
        .iter()
        .map(|e| e["data"]["original"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100, "every message once");
    assert_eq!(received.len(), 100, "and no message twice");
    stack.shutdown().await;
}

#[tokio::test]
async fn brazilian_numbers_with_and_without_the_ninth_digit_are_one_contact() {
    let stack = start_stack(&[]).await;
    customer_writes(
        &stack,
        json!({"from": "5511987654321", "name": "Ana", "text": "oi"}),
    )
    .await;
    customer_writes(
        &stack,
        json!({"from": "551187654321", "name": "Ana", "text": "oi de novo"}),
    )
    .await;
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 2, PATIENCE)
        .await;
    let contacts: Vec<_> = of_type(&events, "message.received")
        .iter()
        .map(|e| e["contact"]["id"].clone())
        .collect();
    assert_eq!(contacts.len(), 2, "{events:#?}");
    assert_eq!(contacts[0], contacts[1]);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_stop_message_gives_contact_opted_out() {
    let stack = start_stack(&[]).await;
    customer_writes(
        &stack,
        json!({"from": "5215512345678", "name": "Luis", "text": "STOP"}),
    )
    .await;
    let events = CrmEvents::of(&stack)
        .await
        .until("contact.opted_out", 1, PATIENCE)
        .await;
    assert_eq!(
        of_type(&events, "contact.opted_out").len(),
        1,
        "{events:#?}"
    );
    assert_eq!(of_type(&events, "message.received").len(), 1);
    stack.shutdown().await;
}

#[tokio::test]
async fn statuses_delivered_shuffled_end_at_the_highest_with_no_backward_event() {
    // The simulator's own statuses are off: this test delivers them, out of order, twice.
    let stack = e2e_tests::start_stack_with(&[], |o| o.simulated_statuses = false).await;
    let crm = CrmEvents::of(&stack).await;
    customer_writes(
        &stack,
        json!({"from": "5511987650077", "name": "Bia", "text": "Oi"}),
    )
    .await;
    crm.until("message.received", 1, PATIENCE).await;
    e2e_tests::send_commands(
        &stack,
        &[json!({"command_id": "cmd-shuffle-1", "type": "send_text", "phone_number_id": "106540352242922",
                 "to": "+5511987650077", "text": {"body": "Temos sim!"}})],
    )
    .await;
    let accepted = crm.until("command.accepted", 1, PATIENCE).await;
    let wamid = of_type(&accepted, "command.accepted")[0]["data"]["wamid"]
        .as_str()
        .expect("wamid")
        .to_owned();

    let status = |s: &str, ts: i64| json!({"id": wamid, "status": s, "timestamp": ts.to_string(), "recipient_id": "5511987650077"});
    let now = shared::now_ms() / 1000;
    for order in [["delivered", "sent", "read"], ["sent", "read", "delivered"]] {
        let batch: Vec<_> = order
            .iter()
            .enumerate()
            .map(|(i, s)| status(s, now + i as i64))
            .collect();
        deliver_statuses_one_by_one(&stack, batch).await;
    }
    let events = crm.until("message.status", 2, PATIENCE).await;
    let statuses: Vec<&str> = of_type(&events, "message.status")
        .iter()
        .map(|e| e["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["delivered", "read"],
        "a late sent and the repeats move nothing back: {events:#?}"
    );
    let read = of_type(&events, "message.status")[1];
    assert_eq!(read["data"]["command_id"], "cmd-shuffle-1");
    stack.shutdown().await;
}

async fn deliver_statuses_one_by_one(
    stack: &e2e_tests::RunningStack,
    statuses: Vec<serde_json::Value>,
) {
    for s in statuses {
        e2e_tests::deliver_statuses(stack, json!([s])).await;
    }
}

#[tokio::test]
async fn a_text_with_a_lone_surrogate_arrives_with_its_wamid_type_and_u_fffd_in_place() {
    let stack = start_stack(&[]).await;
    // Meta escapes non-ASCII; a client that cut an emoji in half leaves `\ud800` alone.
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"5511987650001"}],"messages":[{"from":"5511987650001","id":"wamid.SURROGATE==","timestamp":"1749416383","type":"text","text":{"body":"cortado \ud800 aqui"}}]},"field":"messages"}]}]}"#;
    assert_eq!(post_signed(&stack, body).await, 200);
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 1, PATIENCE)
        .await;
    let received = of_type(&events, "message.received");
    assert_eq!(received.len(), 1, "{events:#?}");
    let data = &received[0]["data"];
    assert_eq!(data["wamid"], "wamid.SURROGATE==");
    assert_eq!(data["type"], "text");
    assert_eq!(data["text"], "cortado \u{fffd} aqui");
    assert_eq!(data["original"]["text"]["body"], "cortado \u{fffd} aqui");
    assert_eq!(received[0]["contact"]["phone"], "+5511987650001");
    stack.shutdown().await;
}
