//! The 1,000-command burst on one business number, in a test binary of its own: cargo runs
//! test binaries one after another, so this load on the local emulator does not slow the other
//! end-to-end tests past their queues' visibility timeouts. The simulator enforces Meta's 80
//! messages per second: every command ends with exactly one outcome, nothing reaches a DLQ, and
//! at most 1 % of sends meet a throughput error.

use std::time::Duration;

use e2e_tests::{depth, of_type, send_commands, sqs, start_stack_with, CrmEvents};
use serde_json::json;

#[tokio::test]
async fn a_burst_of_1000_commands_ends_with_1000_outcomes_none_dead_lettered_within_the_rate() {
    const N: usize = 1000;
    // Statuses are off: three webhooks per send would triple the load on the local emulator,
    // which (at ~50 requests/s) is already slower than Meta's 80 sends/s.
    let stack = start_stack_with(&[], |o| o.simulated_statuses = false).await;
    let commands: Vec<_> = (0..N)
        .map(|i| {
            json!({"command_id": format!("cmd-burst-{i}"), "type": "send_template",
                   "phone_number_id": "106540352242922", "to": format!("+55119{i:08}"),
                   "template": {"name": "order_update", "language": {"code": "pt_BR"}}})
        })
        .collect();
    send_commands(&stack, &commands).await;
    let crm = CrmEvents::of(&stack).await;
    let mut events = Vec::new();
    let outcomes = |events: &[serde_json::Value]| {
        events
            .iter()
            .filter(|e| {
                ["command.accepted", "command.rejected", "command.failed"]
                    .contains(&e["type"].as_str().unwrap_or(""))
            })
            .count()
    };
    let give_up = std::time::Instant::now() + Duration::from_secs(900);
    while outcomes(&events) < N && std::time::Instant::now() < give_up {
        events.extend(
            crm.until("command.accepted", 1, Duration::from_secs(5))
                .await,
        );
    }

    let mut ids: Vec<_> = events
        .iter()
        .filter(|e| e["type"] != "command.deferred")
        .map(|e| e["data"]["command_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids.len(), N, "one outcome per command");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "no command has two outcomes");
    assert_eq!(of_type(&events, "command.accepted").len(), N);
    let sqs = sqs().await;
    for dlq in ["CrmCommandsDLQ", "CrmEventsDLQ"] {
        let url = stack.provisioned.queue_url(dlq).expect("dlq").to_owned();
        assert_eq!(depth(&sqs, &url).await, 0, "{dlq} is empty");
    }
    let requests = stack.simulator.requests();
    let refused = requests
        .iter()
        .filter(|r| r.error_code == Some(130429))
        .count();
    assert!(
        refused * 100 <= requests.len(),
        "{refused} of {} sends answered 130429",
        requests.len()
    );
    let mut times: Vec<u64> = requests.iter().map(|r| r.time).collect();
    times.sort_unstable();
    let peak = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t < times[i] + 1000)
                .count()
        })
        .max()
        .unwrap_or(0);
    let secs = (times.last().unwrap_or(&0) - times.first().unwrap_or(&0)) as f64 / 1000.0;
    let deferred = of_type(&events, "command.deferred").len();
    println!(
        "burst: {N} commands, {} sends in {secs:.1} s ({:.1}/s), peak {peak} in a sliding second, {refused} answered 130429, {deferred} deferred out of the queue",
        requests.len(),
        requests.len() as f64 / secs.max(0.001)
    );
    assert!(peak <= 80, "peak {peak} sends in one second");
    stack.shutdown().await;
}
