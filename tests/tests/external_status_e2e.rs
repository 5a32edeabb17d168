//! End-to-end through the runner and simulator: statuses of messages the bridge did not send
//! (the WhatsApp Business app on the same number, another tool) reach the CRM as
//! `message.status` with `origin: "external"` once `EXTERNAL_STATUS_PARK_SECONDS` is over;
//! statuses that reach the bridge before the sender has Meta's answer (so before it stores the
//! wamid) are the bridge's, emitted once each with the command id, even when the publish after
//! that store fails.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e_tests::faults::{self, AwsError, Target};
use e2e_tests::{
    customer_writes, deliver_statuses, of_type, send_commands, start_stack_with, CrmEvents,
    RunningStack,
};
use graph_sim::late::LateAnswer;
use serde_json::{json, Value};
use shared::delivery::{self, StatusContext};
use shared::store::{Commit, Direction, Expect, MessageRecord, ProcessorStore, Write};

const PNID: &str = "106540352242922";
/// A short park time, so the test waits seconds, not minutes.
const PARK_SECS: u64 = 3;
/// Long enough that a status forwarded only once its park time is over shows as late.
const LONG_PARK_SECS: u64 = 30;
const CUSTOMER: &str = "5511987650077";
/// How late Meta's answer to the reply comes (its statuses do not wait).
const ANSWER_AFTER_MS: u64 = 2_000;

async fn stack() -> RunningStack {
    start_stack_with(&[], |o| {
        o.simulated_statuses = false;
        o.function_env
            .insert("EXTERNAL_STATUS_PARK_SECONDS".into(), PARK_SECS.to_string());
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
    let stack = stack().await;
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

#[tokio::test]
async fn a_parked_status_whose_publish_fails_after_the_sender_s_store_still_reaches_the_crm_once() {
    let stack = stack().await;
    let wamid = "wamid.OURS0002==";
    deliver_statuses(&stack, json!([status(wamid, "delivered")])).await;
    let alerts = e2e_tests::window_alerts_state(&stack).await;
    until_parked(&alerts.store, wamid).await;
    let ctx = sender_stores(&alerts.store, wamid).await;
    // SQS throttles every attempt of the publish that follows the committed status event.
    let queue = stack
        .provisioned
        .queue_url("CrmEventsQueue")
        .expect("events queue")
        .to_owned();
    faults::inject(
        Target::sqs(Some("SendMessageBatch"), &queue),
        &AwsError::sqs_throttled(),
        3,
    )
    .await;
    let failed = delivery::apply_parked(&alerts.store, &alerts.events, &ctx, wamid).await;
    faults::clear(&queue).await;
    assert!(failed.is_err(), "the publish was refused: {failed:?}");
    // Nobody retries the sender's call: the schedule's release finds the status still parked.
    let events = CrmEvents::of(&stack)
        .await
        .until("message.status", 2, Duration::from_secs(PARK_SECS + 10))
        .await;
    let statuses = of_type(&events, "message.status");
    assert_eq!(statuses.len(), 1, "{events:#?}");
    assert_eq!(statuses[0]["data"]["origin"], "bridge");
    assert_eq!(statuses[0]["data"]["command_id"], "crm-cmd-77");
    assert!(alerts
        .store
        .load_message(wamid)
        .await
        .expect("load")
        .parked
        .is_empty());
    stack.shutdown().await;
}

/// Waits until the processor parked a status for `wamid` (the sender has not stored it yet).
async fn until_parked<S: ProcessorStore>(store: &S, wamid: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while store
        .load_message(wamid)
        .await
        .expect("load")
        .parked
        .is_empty()
    {
        assert!(Instant::now() < deadline, "status never parked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the sender does after Meta accepted its send: store the wamid (command `crm-cmd-77`).
async fn sender_stores<S: ProcessorStore>(store: &S, wamid: &str) -> StatusContext {
    let now_ms = shared::now_ms();
    let stored = store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Message(
                MessageRecord {
                    wamid: wamid.into(),
                    business: PNID.into(),
                    direction: Direction::Outbound,
                    contact_id: None,
                    message_type: "text".into(),
                    timestamp: now_ms / 1000,
                    status: None,
                    status_at: None,
                    command_id: Some("crm-cmd-77".into()),
                    raw: None,
                    ttl: None,
                },
                Expect::Absent,
            )],
        })
        .await
        .expect("stored");
    assert_eq!(stored, shared::store::CommitOutcome::Applied);
    StatusContext {
        business: PNID.into(),
        waba_id: None,
        now_ms,
        retention_secs: 8 * 86_400,
    }
}
