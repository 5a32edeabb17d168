//! End-to-end through the runner and the Graph API simulator: CRM commands on
//! `crm-commands.fifo` reach Meta once, within its rules, and end in one outcome event each.
//! The simulator plays Meta's limits (throughput, pair rate, the 24 h window, the token), so
//! these tests meet Meta's behaviour rather than the sender's assumptions.

use std::time::{Duration, Instant};

use e2e_tests::{customer_writes, drain, sqs, start_stack, RunningStack};
use serde_json::{json, Value};
use shared::queue::{MessageSink, OutboundMessage, SqsSink};

const PN: &str = "106540352242922";

fn url(stack: &RunningStack, queue: &str) -> String {
    stack.provisioned.queue_url(queue).unwrap().to_owned()
}

/// Puts commands on the FIFO queue as a CRM would: group = recipient, dedup id = command_id
/// (or `dedup` to play a CRM retry after SQS's 5-minute deduplication interval).
async fn enqueue(stack: &RunningStack, commands: &[(Value, Option<&str>)]) {
    let sink = SqsSink::new(sqs().await, url(stack, "CrmCommandsQueue"));
    let messages = commands
        .iter()
        .map(|(c, dedup)| OutboundMessage {
            body: c.to_string(),
            group_id: Some(c["to"].as_str().unwrap_or("none").to_owned()),
            dedup_id: Some(
                dedup
                    .map(str::to_owned)
                    .unwrap_or_else(|| c["command_id"].as_str().unwrap().to_owned()),
            ),
            attributes: Vec::new(),
        })
        .collect();
    sink.send_all(messages).await.expect("commands enqueued");
}

fn text(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_text", "phone_number_id": PN, "to": to, "text": {"body": "Olá!"}})
}

fn template(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_template", "phone_number_id": PN, "to": to,
           "template": {"name": "order_update", "language": {"code": "pt_BR"}}})
}

/// Opens the customer-service window the way a customer does: an inbound message through the
/// simulator, the webhook and the processor; waits for its `message.received`.
async fn open_window(stack: &RunningStack, wa_id: &str, collected: &mut Vec<Value>) {
    customer_writes(stack, json!({"from": wa_id, "text": "Oi, tudo bem?"})).await;
    // Generous: the processor shares moto with the other tests of this file (the burst).
    let received = wait_for(
        stack,
        collected,
        |e| e["type"] == "message.received",
        1,
        180,
    )
    .await;
    assert_eq!(
        received.len(),
        1,
        "the processor did not open the window: {collected:#?}"
    );
}

/// Drains CRM events into `collected` until `count` match `pred` (or the timeout).
async fn wait_for(
    stack: &RunningStack,
    collected: &mut Vec<Value>,
    pred: impl Fn(&Value) -> bool,
    count: usize,
    secs: u64,
) -> Vec<Value> {
    let sqs = sqs().await;
    let events = url(stack, "CrmEventsQueue");
    let contract = shared::contract::EventContract::load();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let matching: Vec<Value> = collected.iter().filter(|e| pred(e)).cloned().collect();
        if matching.len() >= count || Instant::now() > deadline {
            return matching;
        }
        for (_, body) in drain(&sqs, &events, 10, Duration::from_secs(1)).await {
            contract.check(&body);
            collected.push(body);
        }
    }
}

fn sends_to(stack: &RunningStack, digits: &str) -> Vec<graph_sim::RecordedRequest> {
    stack
        .simulator
        .requests()
        .into_iter()
        .filter(|r| {
            r.body["to"].as_str().is_some_and(|t| {
                t.chars().filter(char::is_ascii_digit).collect::<String>() == digits
            })
        })
        .collect()
}

#[tokio::test]
async fn a_text_inside_the_window_is_sent_once_and_its_statuses_carry_the_command_id() {
    // Statuses half a second apart, as a phone acknowledges them: the processor's pollers work in
    // parallel, and a `read` that overtakes its `delivered` rightly leaves no `delivered` event.
    let stack =
        e2e_tests::start_stack_with(&[], |o| o.status_delay = Duration::from_millis(500)).await;
    let mut events = Vec::new();
    open_window(&stack, "5511987650001", &mut events).await;

    enqueue(&stack, &[(text("cmd-text-1", "+55 11 98765-0001"), None)]).await;
    let accepted = wait_for(
        &stack,
        &mut events,
        |e| e["type"] == "command.accepted",
        1,
        30,
    )
    .await;
    wait_for(
        &stack,
        &mut events,
        |e| e["type"] == "message.status" && e["data"]["status"] == "read",
        1,
        120,
    )
    .await;
    let statuses: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "message.status")
        .cloned()
        .collect();

    let requests = sends_to(&stack, "5511987650001");
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].response_status, 200);
    let wamid = requests[0].wamid.clone().unwrap();
    assert_eq!(accepted.len(), 1, "{events:#?}");
    assert_eq!(accepted[0]["data"]["command_id"], "cmd-text-1");
    assert_eq!(accepted[0]["data"]["wamid"], wamid.as_str());
    let seen: Vec<&str> = statuses
        .iter()
        .map(|s| s["data"]["status"].as_str().unwrap_or(""))
        .collect();
    // In arrival order each moves the message forward and the last is `read`; under load a
    // status may be overtaken (and then rightly gives no event), as Meta itself skips
    // `delivered` when delivery and reading coincide.
    let rank = |s: &str| ["sent", "delivered", "read"].iter().position(|x| *x == s);
    let ranks: Vec<_> = seen.iter().map(|s| rank(s)).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]) && seen.last() == Some(&"read"),
        "{statuses:#?}"
    );
    println!("statuses seen: {seen:?}");
    assert!(statuses
        .iter()
        .all(|s| s["data"]["wamid"] == wamid.as_str() && s["data"]["command_id"] == "cmd-text-1"));
    stack.shutdown().await;
}

#[tokio::test]
async fn the_same_command_enqueued_twice_is_sent_once_and_its_outcome_repeated() {
    let stack = start_stack(&[]).await;
    let mut events = Vec::new();
    let cmd = template("cmd-dup-1", "+5511987650002");
    // The second copy plays a CRM retry after SQS's deduplication interval.
    enqueue(
        &stack,
        &[(cmd.clone(), None), (cmd, Some("cmd-dup-1-retry"))],
    )
    .await;
    let accepted = wait_for(
        &stack,
        &mut events,
        |e| e["type"] == "command.accepted",
        2,
        30,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(sends_to(&stack, "5511987650002").len(), 1);
    assert!(!accepted.is_empty());
    // Repeats carry the same event_id (crm-events.fifo drops them within 5 minutes).
    assert!(accepted
        .iter()
        .all(|e| e["event_id"] == accepted[0]["event_id"]));
    stack.shutdown().await;
}

#[tokio::test]
async fn a_text_with_no_open_window_is_rejected_without_a_request() {
    let stack = start_stack(&[]).await;
    let mut events = Vec::new();
    enqueue(&stack, &[(text("cmd-closed-1", "+5511987650003"), None)]).await;
    let rejected = wait_for(
        &stack,
        &mut events,
        |e| e["type"] == "command.rejected",
        1,
        30,
    )
    .await;

    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["reason"], "window_closed");
    assert_eq!(rejected[0]["data"]["command_id"], "cmd-closed-1");
    assert!(sends_to(&stack, "5511987650003").is_empty());
    stack.shutdown().await;
}

#[tokio::test]
async fn two_throughput_errors_are_retried_and_the_command_accepted() {
    let stack = start_stack(&[]).await;
    let mut events = Vec::new();
    stack
        .simulator
        .add_fault(
            serde_json::from_value(json!({"to": "5511987650004", "code": 130429, "times": 2}))
                .unwrap(),
        )
        .unwrap();
    enqueue(&stack, &[(template("cmd-retry-1", "+5511987650004"), None)]).await;
    let accepted = wait_for(
        &stack,
        &mut events,
        |e| e["type"] == "command.accepted",
        1,
        60,
    )
    .await;

    assert_eq!(accepted.len(), 1, "{events:#?}");
    let codes: Vec<Option<u32>> = sends_to(&stack, "5511987650004")
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, [Some(130429), Some(130429), None]);
    stack.shutdown().await;
}

#[tokio::test]
async fn an_undeliverable_recipient_fails_the_command_with_metas_code() {
    let stack = start_stack(&[]).await;
    let mut events = Vec::new();
    stack
        .simulator
        .add_fault(serde_json::from_value(json!({"to": "5511987650005", "code": 131026})).unwrap())
        .unwrap();
    enqueue(&stack, &[(template("cmd-fail-1", "+5511987650005"), None)]).await;
    let failed = wait_for(
        &stack,
        &mut events,
        |e| e["type"] == "command.failed",
        1,
        30,
    )
    .await;

    assert_eq!(failed.len(), 1, "{events:#?}");
    assert_eq!(failed[0]["data"]["code"], 131026);
    assert_eq!(failed[0]["data"]["reason"], "meta_error");
    assert_eq!(failed[0]["data"]["title"], "Message undeliverable");
    assert_eq!(sends_to(&stack, "5511987650005").len(), 1);
    stack.shutdown().await;
}
