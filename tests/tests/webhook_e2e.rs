//! End-to-end through the local runner: Meta's handshake and signed POSTs reach the inbound
//! queue exactly as the webhook function buffers them. The processor is paused so the inbound
//! queue can be read before it is consumed.

use std::time::Duration;

use e2e_tests::{customer_writes, depth, drain, meta_signature, post_signed, sqs, start_stack};

#[tokio::test]
async fn answers_the_handshake_with_the_challenge_and_refuses_a_wrong_token() {
    let stack = start_stack(&["processor"]).await;
    let http = reqwest::Client::new();
    let ok = http
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=local-verify-token&hub.challenge=123",
            stack.webhook_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "123");
    let wrong = http
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=123",
            stack.webhook_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_signed_post_of_1000_updates_leaves_all_1000_on_the_inbound_queue() {
    let stack = start_stack(&["processor"]).await;
    let sqs = sqs().await;
    let inbound = stack
        .provisioned
        .queue_url("InboundQueue")
        .unwrap()
        .to_owned();
    let body = shared::testkit::text_batch(1000, 900);
    assert!(
        body.len() > 900_000,
        "the batch should be about 1 MB, is {}",
        body.len()
    );
    assert_eq!(post_signed(&stack, &body).await, 200);
    assert_eq!(depth(&sqs, &inbound).await, 1000);
    let items = drain(&sqs, &inbound, 1000, Duration::from_secs(240)).await;
    let mut ids: Vec<String> = items
        .iter()
        .map(|(_, b)| b["update"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "every update once");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_forged_post_leaves_the_queue_untouched() {
    let stack = start_stack(&["processor"]).await;
    let sqs = sqs().await;
    let inbound = stack
        .provisioned
        .queue_url("InboundQueue")
        .unwrap()
        .to_owned();
    let body = shared::testkit::text_batch(3, 20);
    let res = reqwest::Client::new()
        .post(stack.webhook_url())
        .header(
            "X-Hub-Signature-256",
            meta_signature(body.as_bytes(), "a-forger"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(depth(&sqs, &inbound).await, 0);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_message_from_the_simulator_is_buffered_with_meta_s_escapes_intact() {
    let stack = start_stack(&["processor"]).await;
    let sqs = sqs().await;
    let inbound = stack
        .provisioned
        .queue_url("InboundQueue")
        .unwrap()
        .to_owned();
    let res = customer_writes(
        &stack,
        serde_json::json!({"from": "5511987654321", "name": "João", "text": "Olá 👋"}),
    )
    .await;
    let items = drain(&sqs, &inbound, 1, Duration::from_secs(10)).await;
    assert_eq!(items.len(), 1);
    let item = &items[0].1;
    assert_eq!(item["kind"], "message");
    assert_eq!(item["update"]["text"]["body"], "Olá 👋");
    assert_eq!(item["update"]["id"], res["wamid"]);
    assert_eq!(item["contact"]["profile"]["name"], "João");
    stack.shutdown().await;
}
