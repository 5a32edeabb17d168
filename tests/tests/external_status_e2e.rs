//! End-to-end through the runner and simulator: statuses of messages the bridge did not send
//! (the WhatsApp Business app on the same number, another tool) reach the CRM as
//! `message.status` with `origin: "external"` once `EXTERNAL_STATUS_PARK_SECONDS` is over;
//! statuses that reach the bridge before the sender has Meta's answer (so before it stores the
//! wamid) are the bridge's, emitted once each with the command id. (A publish that fails after
//! the sender's store is covered against the state table in window-alerts' external_statuses
//! tests.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e_tests::{
    customer_writes, deliver_statuses, of_type, send_commands, start_stack_with, CrmEvents,
    RunningStack,
};
use graph_sim::late::LateAnswer;
use serde_json::{json, Value};

const PNID: &str = "106540352242922";
/// A short park time, so the test waits seconds, not minutes.
const PARK_SECS: u64 = 3;
/// Long enough that a status forwarded only once its park time is over shows as late.
const LONG_PARK_SECS: u64 = 30;
const CUSTOMER: &str = "5511987650077";
/// How late Meta's answer to the reply comes (its statuses do not wait).
const ANSWER_AFTER_MS: u64 = 2_000;

async fn stack(park_secs: u64) -> RunningStack {
    start_stack_with(&[], |o| {
        o.simulated_statuses = false;
        o.function_env
            .insert("EXTERNAL_STATUS_PARK_SECONDS".into(), park_secs.to_string());
    })
    .await
}

fn status(wamid: &str, status: &str) -> Value {
    let now = shared::now_ms() / 1000;
    json!({"id": wamid, "status": status, "timestamp": now.to_string(),
           "recipient_id": "5511987650002",
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "service",
                       "type": "free_customer_service"}})
}

#[tokio::test]
async fn fifty_statuses_of_messages_never_sent_become_fifty_external_events_within_the_park_time_and_a_minute(
) {
    let stack = stack(PARK_SECS).await;
    let statuses: Vec<Value> = (0..50)
        .map(|i| status(&format!("wamid.ELSEWHERE{i:03}=="), "delivered"))
        .collect();
    let started = Instant::now();
    deliver_statuses(&stack, Value::Array(statuses)).await;
    let events = CrmEvents::of(&stack)
        .await
        .until("message.status", 50, Duration::from_secs(PARK_SECS + 60))
        .await;
    let forwarded = of_type(&events, "message.status");
    let wamids: BTreeSet<&str> = forwarded
        .iter()
        .map(|e| e["data"]["wamid"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(wamids.len(), 50, "every status once: {forwarded:#?}");
    assert_eq!(forwarded.len(), 50, "and none twice");
    for e in &forwarded {
        assert_eq!(e["data"]["origin"], "external", "{e}");
        assert_eq!(e["data"]["command_id"], Value::Null, "{e}");
        assert_eq!(e["data"]["status"], "delivered", "{e}");
    }
    println!(
        "50 external statuses forwarded; last read {:?} after delivery (park {PARK_SECS} s)",
        started.elapsed()
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn statuses_that_beat_the_senders_answer_are_the_bridges_emitted_once_with_the_command_id() {
    // Arrange: statuses simulated; parked ones would be forwarded after 30 s.
    let stack = start_stack_with(&[], |o| {
        o.function_env.insert(
            "EXTERNAL_STATUS_PARK_SECONDS".into(),
            LONG_PARK_SECS.to_string(),
        );
    })
    .await;
    let crm = CrmEvents::of(&stack).await;
    customer_writes(
        &stack,
        json!({"from": CUSTOMER, "name": "Cliente", "text": "Oi"}),
    )
    .await;
    crm.until("message.received", 1, Duration::from_secs(60))
        .await;
    // Meta accepts the reply at once and its statuses go out, but its answer takes 2 s.
    stack
        .simulator
        .add_late_answer(LateAnswer {
            to: CUSTOMER.into(),
            after_ms: ANSWER_AFTER_MS,
            times: 1,
        })
        .expect("late answer rule");

    // Act
    let sent = Instant::now();
    send_commands(
        &stack,
        &[
            json!({"command_id": "crm-cmd-77", "type": "send_text", "phone_number_id": PNID,
                 "to": format!("+{CUSTOMER}"), "text": {"body": "Olá!"}}),
        ],
    )
    .await;
    // Well before the park time is over: the sender applies them when it stores the wamid.
    let events = crm
        .until("message.status", 3, Duration::from_secs(LONG_PARK_SECS / 2))
        .await;

    // Assert: every status reached the bridge before the sender had Meta's answer…
    let request = stack
        .simulator
        .requests()
        .into_iter()
        .find(|r| r.wamid.is_some())
        .expect("the send reached the simulator");
    let answered_at = request.time + ANSWER_AFTER_MS;
    let statuses: Vec<_> = stack
        .simulator
        .webhooks()
        .into_iter()
        .filter(|w| w.body.contains("\"statuses\""))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:#?}");
    for w in &statuses {
        assert_eq!(w.status, Some(200), "{w:?}");
        assert!(w.time < answered_at, "delivered before the answer: {w:?}");
    }
    // …and each became one event of the bridge's, with the command id.
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted.len(), 1, "{events:#?}");
    assert_eq!(accepted[0]["data"]["wamid"], json!(request.wamid));
    let forwarded = of_type(&events, "message.status");
    let kinds: Vec<&str> = forwarded
        .iter()
        .map(|e| e["data"]["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["sent", "delivered", "read"], "{events:#?}");
    for e in &forwarded {
        assert_eq!(e["data"]["origin"], "bridge", "{e}");
        assert_eq!(e["data"]["command_id"], "crm-cmd-77", "{e}");
        assert_eq!(e["data"]["wamid"], json!(request.wamid), "{e}");
    }
    // Past the park time: none is forwarded a second time.
    let wait = Duration::from_secs(LONG_PARK_SECS + 5).saturating_sub(sent.elapsed());
    let later = crm.until("message.status", 1, wait).await;
    assert!(of_type(&later, "message.status").is_empty(), "{later:#?}");
    stack.shutdown().await;
}
