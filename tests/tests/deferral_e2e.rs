//! End-to-end: a command that must wait long leaves its customer's FIFO group. Meta answers a
//! marketing template with 131049 (the person's marketing cap): the CRM hears
//! `command.deferred` at once, an agent's in-window text to the same person — same group, sent
//! after — goes out within seconds, and a day later (the functions' clock travelled through the
//! runner's local clock; the schedule's tick puts the template back) the template is tried once
//! more and ends with one outcome event.

use std::time::{Duration, Instant};

use e2e_tests::{customer_writes, of_type, send_commands, start_stack, CrmEvents};
use serde_json::json;

const PN: &str = "106540352242922";
const WA_ID: &str = "5511987650041";
const TO: &str = "+5511987650041";

#[tokio::test]
async fn a_marketing_capped_template_waits_a_day_out_of_the_queue_while_replies_go_out() {
    // Arrange: the customer writes, so the window is open.
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    customer_writes(&stack, json!({"from": WA_ID, "text": "Oi!"})).await;
    let opened = crm
        .until("message.received", 1, Duration::from_secs(60))
        .await;
    assert_eq!(of_type(&opened, "message.received").len(), 1);
    stack
        .simulator
        .add_fault(
            serde_json::from_value(json!({"to": WA_ID, "code": 131049, "times": 1})).unwrap(),
        )
        .unwrap();
    let now_s = shared::now_ms() / 1000;
    let promo = json!({
        "command_id": "cmd-cap-promo", "type": "send_template", "phone_number_id": PN, "to": TO,
        "template": {"name": "black_friday", "language": {"code": "pt_BR"}, "category": "marketing"},
        // The campaign lives three days, so Meta's day is worth waiting.
        "expires_at": shared::events::rfc3339(now_s + 3 * 86_400)
    });

    // Act 1: the template meets the cap.
    send_commands(&stack, &[promo]).await;
    let deferred = crm
        .until("command.deferred", 1, Duration::from_secs(60))
        .await;

    // Assert 1: told at once, with when it will be tried again.
    let deferred = of_type(&deferred, "command.deferred");
    assert_eq!(deferred.len(), 1, "{deferred:#?}");
    let data = &deferred[0]["data"];
    assert_eq!(data["command_id"], "cmd-cap-promo");
    assert_eq!(data["reason"], "marketing_cap");
    assert_eq!(data["code"], 131049);
    assert_eq!(data["attempt"], 1);
    let not_before = shared::events::parse_rfc3339_ms(data["not_before"].as_str().unwrap())
        .expect("an RFC 3339 not_before")
        / 1000;
    assert!(
        (not_before - (now_s + 86_400)).abs() < 120,
        "not_before ≈ 24 h ahead: {not_before} vs {now_s}"
    );

    // Act 2: the agent answers in the window; same customer, same FIFO group, sent after.
    let asked = Instant::now();
    let reply = json!({"command_id": "cmd-cap-reply", "type": "send_text", "phone_number_id": PN,
                       "to": TO, "text": {"body": "Seu pedido saiu para entrega."}});
    send_commands(&stack, &[reply]).await;
    let answered = crm
        .until("command.accepted", 1, Duration::from_secs(60))
        .await;

    // Assert 2: the reply went out within seconds, not behind the template.
    let accepted = of_type(&answered, "command.accepted");
    assert_eq!(accepted.len(), 1, "{answered:#?}");
    assert_eq!(accepted[0]["data"]["command_id"], "cmd-cap-reply");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "the reply waited {:?}",
        asked.elapsed()
    );

    // Act 3: a day passes; the schedule's tick puts the template back.
    stack
        .travel_in_time(Duration::from_secs(86_400 + 120))
        .expect("the functions' clock moves");
    let later = crm
        .until("command.accepted", 1, Duration::from_secs(60))
        .await;

    // Assert 3: tried once more, one outcome for the template.
    let outcomes: Vec<_> = later
        .iter()
        .filter(|e| {
            e["data"]["command_id"] == "cmd-cap-promo"
                && ["command.accepted", "command.rejected", "command.failed"]
                    .contains(&e["type"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(outcomes.len(), 1, "{later:#?}");
    assert_eq!(outcomes[0]["type"], "command.accepted");
    let templates: Vec<_> = stack
        .simulator
        .requests()
        .into_iter()
        .filter(|r| r.body["type"] == "template")
        .map(|r| r.error_code)
        .collect();
    assert_eq!(templates, [Some(131049), None], "capped once, then sent");
    assert!(
        of_type(&later, "command.deferred").is_empty(),
        "no second deferral: {later:#?}"
    );
    stack.shutdown().await;
}
