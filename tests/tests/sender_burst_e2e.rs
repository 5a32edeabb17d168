//! The 500-command burst, in a test binary of its own: cargo runs test binaries one after
//! another, so this load on the local emulator does not slow the other end-to-end tests past
//! their queues' visibility timeouts.

use std::time::Duration;

use e2e_tests::{of_type, send_commands, start_stack_with, CrmEvents};
use serde_json::json;

#[tokio::test]
async fn a_burst_of_500_commands_stays_within_the_rate_without_throughput_errors() {
    // Statuses are off: three webhooks per send would triple the load on the local emulator,
    // which (at ~50 requests/s) is already slower than Meta's 80 sends/s.
    let stack = start_stack_with(&[], |o| o.simulated_statuses = false).await;
    let commands: Vec<_> = (0..500)
        .map(|i| {
            json!({"command_id": format!("cmd-burst-{i}"), "type": "send_template",
                   "phone_number_id": "106540352242922", "to": format!("+55119{i:08}"),
                   "template": {"name": "order_update", "language": {"code": "pt_BR"}}})
        })
        .collect();
    send_commands(&stack, &commands).await;
    let events = CrmEvents::of(&stack)
        .await
        .until("command.accepted", 500, Duration::from_secs(420))
        .await;

    let requests = stack.simulator.requests();
    let refused: Vec<_> = requests.iter().filter_map(|r| r.error_code).collect();
    assert!(refused.is_empty(), "Meta refused: {refused:?}");
    assert_eq!(of_type(&events, "command.accepted").len(), 500);
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
    println!("burst: 500 sends in {secs:.1} s, peak {peak} in a sliding second");
    assert!(peak <= 80, "peak {peak} sends in one second");
    stack.shutdown().await;
}
