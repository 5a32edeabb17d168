//! End-to-end through the runner and simulator: a signed `calls` webhook becomes `call.connected`
//! and `call.terminated` on crm-events.fifo, and a user-initiated call opens the service window
//! (a free-form text to the caller is then accepted) while a business-initiated call does not.

use std::time::Duration;

use e2e_tests::{of_type, send_commands, start_stack, CrmEvents, RunningStack};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const PATIENCE: Duration = Duration::from_secs(120);

fn text(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_text", "phone_number_id": PN, "to": to,
           "text": {"body": "Obrigado pela ligação"}})
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Meta posts one `calls` change with this call (signed, through the webhook).
async fn meta_posts_call(stack: &RunningStack, call: Value, customer: &str) {
    let value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PN},
        "contacts": [{"profile": {"name": "Rui"}, "wa_id": customer}],
        "calls": [call]});
    e2e_tests::meta_posts(stack, "calls", value).await;
}

#[tokio::test]
async fn a_user_call_connects_terminates_and_opens_the_window_a_business_call_does_not() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let (caller, callee) = ("5511987650071", "5511987650072");
    let t = now();

    // The business calls a customer: events, but no window.
    meta_posts_call(
        &stack,
        json!({"id": "wacid.BUSINESS1", "from": "15550783881", "to": callee, "event": "connect",
               "timestamp": t.to_string(), "direction": "BUSINESS_INITIATED"}),
        callee,
    )
    .await;
    crm.until("call.connected", 1, PATIENCE).await;
    send_commands(&stack, &[text("cmd-to-callee", &format!("+{callee}"))]).await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["reason"], "window_closed");

    // A customer calls, talks 95 s, hangs up.
    let call = |event: &str, ts: u64| {
        json!({"id": "wacid.USER1", "from": caller, "to": "15550783881", "event": event,
               "timestamp": ts.to_string(), "direction": "USER_INITIATED"})
    };
    meta_posts_call(&stack, call("connect", t), caller).await;
    let mut end = call("terminate", t + 95);
    end["status"] = json!("COMPLETED");
    end["start_time"] = json!(t.to_string());
    end["end_time"] = json!((t + 95).to_string());
    end["duration"] = json!(95);
    meta_posts_call(&stack, end.clone(), caller).await;
    meta_posts_call(&stack, end, caller).await; // Meta retries: still one event
    let events = crm.until("call.terminated", 1, PATIENCE).await;
    let connected = of_type(&events, "call.connected");
    let terminated = of_type(&events, "call.terminated");
    assert_eq!((connected.len(), terminated.len()), (1, 1), "{events:#?}");
    assert_eq!(connected[0]["data"]["call_id"], "wacid.USER1");
    assert_eq!(connected[0]["data"]["direction"], "user_initiated");
    assert_eq!(connected[0]["contact"]["phone"], format!("+{caller}"));
    assert_eq!(terminated[0]["data"]["duration"], 95);
    assert_eq!(terminated[0]["data"]["status"], "completed");
    assert_eq!(
        terminated[0]["contact"]["id"],
        connected[0]["contact"]["id"]
    );

    // The call opened the window: a free-form text to the caller is sent.
    send_commands(&stack, &[text("cmd-to-caller", &format!("+{caller}"))]).await;
    let events = crm.until("command.accepted", 1, PATIENCE).await;
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted.len(), 1, "{events:#?}");
    assert_eq!(accepted[0]["data"]["command_id"], "cmd-to-caller");
    stack.shutdown().await;
}
