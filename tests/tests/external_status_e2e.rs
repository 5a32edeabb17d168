//! End-to-end through the runner and simulator: statuses of messages the bridge did not send
//! (the WhatsApp Business app on the same number, another tool) reach the CRM as
//! `message.status` with `origin: "external"` once `EXTERNAL_STATUS_PARK_SECONDS` is over;
//! a status that waited for the sender's store is the bridge's, emitted once, even when the
//! publish after that store fails.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e_tests::faults::{self, AwsError, Target};
use e2e_tests::{deliver_statuses, of_type, start_stack_with, CrmEvents, RunningStack};
use serde_json::{json, Value};
use shared::delivery::{self, StatusContext};
use shared::store::{Commit, Direction, Expect, MessageRecord, ProcessorStore, Write};

const PNID: &str = "106540352242922";
/// A short park time, so the test waits seconds, not minutes.
const PARK_SECS: u64 = 3;

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
async fn a_status_that_arrives_before_the_sender_stores_its_message_is_one_bridge_event_with_the_command_id(
) {
    let stack = stack().await;
    let wamid = "wamid.OURS0001==";
    deliver_statuses(&stack, json!([status(wamid, "delivered")])).await;
    let alerts = e2e_tests::window_alerts_state(&stack).await;
    until_parked(&alerts.store, wamid).await;
    let ctx = sender_stores(&alerts.store, wamid).await;
    delivery::apply_parked(&alerts.store, &alerts.events, &ctx, wamid)
        .await
        .expect("parked applied");
    // Past the park time and several ticks: nothing more may come for it.
    let events = CrmEvents::of(&stack)
        .await
        .until("message.status", 2, Duration::from_secs(PARK_SECS + 5))
        .await;
    let statuses = of_type(&events, "message.status");
    assert_eq!(statuses.len(), 1, "{events:#?}");
    assert_eq!(statuses[0]["data"]["origin"], "bridge");
    assert_eq!(statuses[0]["data"]["command_id"], "crm-cmd-77");
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
