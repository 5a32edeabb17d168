//! End-to-end through the runner and simulator: a customer message with an old Meta timestamp
//! becomes a conversation (processor) whose window alerts reach `crm-events` (the window-alerts
//! binary on the runner's 1 s schedule). Later deadlines are reached by moving the functions'
//! clock forward (`RunningStack::travel_in_time`), so every alert comes from the deployed binary.

use std::time::{Duration, Instant};

use e2e_tests::{customer_writes, sqs, start_stack, CrmEvents, RunningStack};
use serde_json::{json, Value};
use shared::events::rfc3339;

const MIN: i64 = 60;
const HOUR: i64 = 3600;

async fn inbound(stack: &RunningStack, from: &str, timestamp: i64) -> Value {
    customer_writes(
        stack,
        json!({"from": from, "name": "Cliente", "text": "Oi", "timestamp": timestamp}),
    )
    .await
}

fn events_url(stack: &RunningStack) -> String {
    stack
        .provisioned
        .queue_url("CrmEventsQueue")
        .unwrap()
        .to_owned()
}

/// Events until `want` of `kind` arrived (checked against the contract), plus 3 s of quiet.
async fn events(stack: &RunningStack, kind: &str, want: usize) -> Vec<Value> {
    CrmEvents::of(stack)
        .await
        .until(kind, want, Duration::from_secs(120))
        .await
}

/// Like [`CrmEvents::until`], with the time SQS accepted each one (ms), to measure the schedule's delay.
async fn timed_events(stack: &RunningStack, want: usize) -> Vec<(i64, Value)> {
    let sqs = sqs().await;
    let url = events_url(stack);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = Vec::new();
    let mut quiet_until = None;
    loop {
        let now = Instant::now();
        if now > deadline || quiet_until.is_some_and(|q| now > q) {
            break;
        }
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .send()
            .await
            .expect("ReceiveMessage");
        for m in out.messages() {
            let sent = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            got.push((
                sent,
                serde_json::from_str(m.body().unwrap_or("null")).unwrap(),
            ));
            sqs.delete_message()
                .queue_url(&url)
                .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                .send()
                .await
                .expect("DeleteMessage");
        }
        if got.len() >= want && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + Duration::from_secs(3));
        }
    }
    got
}

/// `(type, lead_minutes, expires_at)` of the window events among `events`.
fn alerts(events: &[Value]) -> Vec<(String, u64, String)> {
    events
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("window.")))
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["lead_minutes"].as_u64().unwrap(),
                e["data"]["expires_at"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Moves the functions' clock `seconds` forward; the next schedule tick runs at the new time.
fn travel(stack: &RunningStack, seconds: i64) {
    stack
        .travel_in_time(Duration::from_secs(seconds.max(0) as u64))
        .expect("the functions' clock moves");
}

fn of_kind(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

fn expiring(lead: u64, expires: i64) -> (String, u64, String) {
    ("window.expiring".into(), lead, rfc3339(expires))
}

fn expired(expires: i64) -> (String, u64, String) {
    ("window.expired".into(), 0, rfc3339(expires))
}

#[tokio::test]
async fn a_message_23h30_old_is_warned_at_60_then_15_then_expired_once_each_and_a_newer_one_rearms()
{
    let stack = start_stack(&[]).await;
    let written = stack.now_ms() / 1000 - 23 * HOUR - 30 * MIN;
    let expires = written + 24 * HOUR;

    let sent = inbound(&stack, "5511987650001", written).await;
    let timed = timed_events(&stack, 2).await;
    let sent_at = |t: &str| {
        timed
            .iter()
            .find(|(_, e)| e["type"] == t)
            .map(|(at, _)| *at)
    };
    let first: Vec<Value> = timed.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(alerts(&first), vec![expiring(60, expires)], "{first:#?}");
    // The conversation is stored with message.received; the next 1 s tick alerts on it. The
    // bound is loose on purpose (a shared machine): it tells "on the next ticks" from "never
    // until something else happened", not how fast a tick is.
    let delay = sent_at("window.expiring").unwrap() - sent_at("message.received").unwrap();
    println!("window.expiring {delay} ms after message.received (alert interval 1 s)");
    assert!(
        delay <= 10_000,
        "window.expiring came {delay} ms after message.received"
    );
    let warning = first
        .iter()
        .find(|e| e["type"] == "window.expiring")
        .unwrap();
    assert_eq!(warning["data"]["last_inbound_wamid"], sent["wamid"]);
    assert_eq!(warning["data"]["awaiting_reply"], true);
    assert_eq!(warning["contact"]["phone"], "+5511987650001");
    assert_eq!(warning["phone_number_id"], "106540352242922");

    // The clock moves on: lead 15, then the close, once each however often the schedule runs.
    travel(&stack, 15 * MIN);
    let fifteen = events(&stack, "window.expiring", 1).await;
    assert_eq!(
        alerts(&fifteen),
        vec![expiring(15, expires)],
        "{fifteen:#?}"
    );
    travel(&stack, 15 * MIN);
    let closed = events(&stack, "window.expired", 1).await;
    assert_eq!(alerts(&closed), vec![expired(expires)], "{closed:#?}");
    travel(&stack, HOUR);
    let quiet = events(&stack, "window.expired", 0).await;
    assert_eq!(
        alerts(&quiet),
        vec![],
        "an hour later nothing repeats: {quiet:#?}"
    );

    // The customer writes again: a new window, alerted on its own deadlines only.
    let again = stack.now_ms() / 1000 - 5 * MIN;
    let new_expires = again + 24 * HOUR;
    inbound(&stack, "5511987650001", again).await;
    let received = events(&stack, "message.received", 1).await;
    assert_eq!(of_kind(&received, "message.received"), 1, "{received:#?}");
    assert_eq!(
        alerts(&received),
        vec![],
        "the old deadlines stay silent: {received:#?}"
    );
    travel(&stack, new_expires - HOUR - stack.now_ms() / 1000);
    let rearmed = events(&stack, "window.expiring", 1).await;
    assert_eq!(
        alerts(&rearmed),
        vec![expiring(60, new_expires)],
        "{rearmed:#?}"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_message_24h10_old_gives_window_expired_and_no_warning() {
    let stack = start_stack(&[]).await;
    let written = shared::now_ms() / 1000 - 24 * HOUR - 10 * MIN;
    inbound(&stack, "5511987650002", written).await;
    // The conversation it opened was never answered and is a day old: abandoned with the
    // window's close, then closed as idle (CONVERSATION_IDLE_MINUTES, default 1440).
    let got = events(&stack, "conversation.closed", 1).await;
    let kinds: Vec<_> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message.received",
            "conversation.opened",
            "window.expired",
            "conversation.abandoned",
            "conversation.closed"
        ],
        "{got:#?}"
    );
    assert_eq!(alerts(&got), vec![expired(written + 24 * HOUR)], "{got:#?}");
    stack.shutdown().await;
}
