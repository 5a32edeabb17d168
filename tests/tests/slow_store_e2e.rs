//! A slow store slows the bridge down; it does not make invocations time out and redo batches.
//! Every DynamoDB call of the stack waits as long again as nine idle calls (the local moto's
//! latency injection: DynamoDB ~10× slower), the functions' timeouts are cut to seconds (sender
//! 15 s, processor 10 s) so the deadline is near, and 300 customer messages and 50 commands (ten
//! each to five customers: FIFO groups that run in order) go through. In a test binary of its
//! own, so the slowed table's load does not slow other end-to-end tests.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use e2e_tests::faults::{self, Target};
use e2e_tests::{depth, of_type, post_signed, send_commands, sqs, start_stack_with, CrmEvents};
use serde_json::json;

const MESSAGES: usize = 300;
const RECIPIENTS: usize = 5;
const COMMANDS_EACH: usize = 10;
const OUTCOMES: [&str; 3] = ["command.accepted", "command.rejected", "command.failed"];
/// Only a failing run waits this long.
const PATIENCE: Duration = Duration::from_secs(360);

/// The median time of 15 `GetItem`s on `table`.
async fn median_get_item(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Duration {
    let key = aws_sdk_dynamodb::types::AttributeValue::S("PROBE".into());
    let mut times = Vec::new();
    for _ in 0..15 {
        let began = Instant::now();
        ddb.get_item()
            .table_name(table)
            .key("pk", key.clone())
            .key("sk", key.clone())
            .send()
            .await
            .expect("GetItem");
        times.push(began.elapsed());
    }
    times.sort_unstable();
    times[times.len() / 2]
}

#[tokio::test]
async fn with_a_slow_store_no_invocation_times_out_and_everything_ends_once() {
    // Arrange: short timeouts, Graph and commit budgets to match (a send needs 1 + 1 + 3 + 1 s).
    let stack = start_stack_with(&[], |o| {
        o.simulated_statuses = false;
        o.function_timeouts = BTreeMap::from([
            ("sender".to_owned(), Duration::from_secs(15)),
            ("processor".to_owned(), Duration::from_secs(10)),
        ]);
        o.function_env
            .insert("GRAPH_TIMEOUT_SECONDS".into(), "1".into());
        o.function_env
            .insert("OUTCOME_COMMIT_SECONDS".into(), "3".into());
    })
    .await;
    let table = stack
        .provisioned
        .table_name("StateTable")
        .expect("state table")
        .to_owned();
    let ddb = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);
    let idle = median_get_item(&ddb, &table).await;
    let latency = (idle * 9).clamp(Duration::from_millis(20), Duration::from_millis(200));
    faults::slow(
        Target::dynamodb(None, &table),
        u64::try_from(latency.as_millis()).unwrap_or(200),
    )
    .await;
    let slowed = median_get_item(&ddb, &table).await;
    println!(
        "slow store: GetItem median {idle:?} idle, {slowed:?} with {latency:?} injected ({:.1}×)",
        slowed.as_secs_f64() / idle.as_secs_f64().max(1e-6)
    );
    let commands: Vec<_> = (0..RECIPIENTS * COMMANDS_EACH)
        .map(|i| {
            json!({"command_id": format!("cmd-slow-{i}"), "type": "send_template",
                   "phone_number_id": "106540352242922",
                   "to": format!("+55119{:08}", 90_000_000 + i % RECIPIENTS),
                   "template": {"name": "order_update", "language": {"code": "pt_BR"}}})
        })
        .collect();

    // Act
    let began = Instant::now();
    let body = shared::testkit::text_batch(MESSAGES, 30);
    assert_eq!(post_signed(&stack, &body).await, 200);
    send_commands(&stack, &commands).await;
    let crm = CrmEvents::of(&stack).await;
    let mut events = crm.until("message.received", MESSAGES, PATIENCE).await;
    let accepted = of_type(&events, "command.accepted").len();
    if accepted < commands.len() {
        events.extend(
            crm.until("command.accepted", commands.len() - accepted, PATIENCE)
                .await,
        );
    }
    println!(
        "slow store: {} events in {:.1} s",
        events.len(),
        began.elapsed().as_secs_f64()
    );

    // Assert: no invocation reached its timeout.
    assert_eq!(stack.timed_out_invocations("sender"), 0, "sender timeouts");
    assert_eq!(
        stack.timed_out_invocations("processor"),
        0,
        "processor timeouts"
    );
    // Every message once.
    let mut received: HashMap<&str, usize> = HashMap::new();
    for e in of_type(&events, "message.received") {
        *received
            .entry(e["data"]["original"]["id"].as_str().unwrap_or(""))
            .or_default() += 1;
    }
    assert_eq!(received.len(), MESSAGES, "every message");
    assert!(received.values().all(|n| *n == 1), "no message twice");
    // Every command one outcome, and that outcome an acceptance: a send Meta took, once.
    let mut outcomes: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| OUTCOMES.contains(&e["type"].as_str().unwrap_or("")))
    {
        outcomes
            .entry(e["data"]["command_id"].as_str().unwrap_or(""))
            .or_default()
            .push(e["type"].as_str().unwrap_or(""));
    }
    assert_eq!(outcomes.len(), commands.len(), "every command");
    for (id, kinds) in &outcomes {
        assert_eq!(kinds, &["command.accepted"], "{id}: one outcome, accepted");
    }
    let mut sends: HashMap<String, usize> = HashMap::new();
    for r in stack.simulator.requests() {
        *sends
            .entry(r.body["biz_opaque_callback_data"].to_string())
            .or_default() += 1;
    }
    assert_eq!(sends.len(), commands.len());
    assert!(sends.values().all(|n| *n == 1), "each command sent once");
    let sqs = sqs().await;
    for dlq in ["InboundDLQ", "CrmCommandsDLQ", "CrmEventsDLQ"] {
        let url = stack.provisioned.queue_url(dlq).expect("a DLQ");
        assert_eq!(depth(&sqs, url).await, 0, "{dlq} is empty");
    }

    faults::clear(&table).await;
    stack.shutdown().await;
}
