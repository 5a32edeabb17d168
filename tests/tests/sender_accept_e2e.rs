//! End-to-end through the runner, the simulator and the local moto: what the CRM hears about a
//! command once Meta accepted it, whether a template may go to a contact who opted out, and what
//! an agent's reply does to the next window alert.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::faults::{self, AwsError, Target};
use e2e_tests::{
    customer_writes, deliver_statuses, of_type, send_commands, start_stack, start_stack_with,
    CrmEvents, RunningStack,
};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const PATIENCE: Duration = Duration::from_secs(120);

fn template(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_template", "phone_number_id": PN, "to": to,
           "template": {"name": "weekly_offers", "language": {"code": "pt_BR"}}})
}

/// The simulator's answers to sends whose `to` has these digits.
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

/// Polls `check` every 100 ms until it holds or `timeout` passes; returns whether it held.
async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// How many statuses are parked for `wamid` (its message is not stored yet).
async fn parked(ddb: &aws_sdk_dynamodb::Client, table: &str, wamid: &str) -> usize {
    ddb.query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :parked)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("MSG#{wamid}")))
        .expression_attribute_values(":parked", AttributeValue::S("PARKED#".into()))
        .consistent_read(true)
        .send()
        .await
        .map(|out| out.items().len())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_send_meta_accepted_whose_outcome_commit_failed_ends_accepted_and_its_statuses_reach_the_crm(
) {
    // Statuses come only from the test; a failed record comes back after 5–10 s, time enough
    // for the statuses to be parked before the redelivery.
    let stack = start_stack_with(&[], |o| {
        o.simulated_statuses = false;
        o.function_env
            .insert("RETRY_BASE_SECONDS".into(), "10".into());
    })
    .await;
    let crm = CrmEvents::of(&stack).await;
    let table = stack
        .provisioned
        .table_name("StateTable")
        .expect("state table")
        .to_owned();
    let ddb = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);
    // The outcome commit is the first transaction on this stack's table: throttled as often as
    // the SDK tries, so it fails after Meta accepted the message.
    faults::inject(
        Target::dynamodb(Some("TransactWriteItems"), &table),
        &AwsError::dynamodb_throttling(),
        3,
    )
    .await;

    send_commands(&stack, &[template("cmd-commit-lost", "+5511987650031")]).await;
    let refused = eventually(PATIENCE, || async { faults::remaining(&table).await == 0 }).await;
    assert!(refused, "the sender never attempted its outcome commit");
    let sends = sends_to(&stack, "5511987650031");
    assert_eq!(sends.len(), 1, "{sends:#?}");
    let wamid = sends[0].wamid.clone().expect("Meta accepted the send");
    // Meta reports the message while its outcome is not recorded: the processor parks them.
    let now = shared::now_ms() / 1000;
    let status = |s: &str, at: i64| {
        json!({"id": wamid, "status": s, "timestamp": at.to_string(),
               "recipient_id": "5511987650031", "biz_opaque_callback_data": "cmd-commit-lost"})
    };
    deliver_statuses(
        &stack,
        json!([status("sent", now), status("delivered", now + 1)]),
    )
    .await;
    let was_parked = eventually(Duration::from_secs(30), || async {
        parked(&ddb, &table, &wamid).await == 2
    })
    .await;
    let events = crm.until("message.status", 2, PATIENCE).await;
    faults::clear(&table).await;

    assert!(
        was_parked,
        "the statuses were never parked: the redelivery came first"
    );
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted.len(), 1, "{events:#?}");
    assert_eq!(accepted[0]["data"]["wamid"], wamid.as_str());
    assert_eq!(accepted[0]["data"]["command_id"], "cmd-commit-lost");
    assert!(of_type(&events, "command.failed").is_empty(), "{events:#?}");
    let statuses = of_type(&events, "message.status");
    let seen: Vec<&str> = statuses
        .iter()
        .filter_map(|s| s["data"]["status"].as_str())
        .collect();
    assert_eq!(seen, ["sent", "delivered"], "{events:#?}");
    assert!(statuses
        .iter()
        .all(|s| s["data"]["wamid"] == wamid.as_str()
            && s["data"]["command_id"] == "cmd-commit-lost"));
    assert_eq!(parked(&ddb, &table, &wamid).await, 0, "nothing left parked");
    assert_eq!(sends_to(&stack, "5511987650031").len(), 1, "sent once");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_template_whose_category_was_never_learned_is_not_sent_to_a_contact_who_opted_out() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    customer_writes(
        &stack,
        json!({"from": "5511987650032", "name": "Rita", "text": "PARAR"}),
    )
    .await;
    let opted = crm.until("contact.opted_out", 1, PATIENCE).await;
    assert_eq!(of_type(&opted, "contact.opted_out").len(), 1, "{opted:#?}");

    // No template update ever named `weekly_offers`, and the CRM declares no category.
    send_commands(&stack, &[template("cmd-never-learned", "+5511987650032")]).await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;

    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["reason"], "opted_out");
    assert_eq!(rejected[0]["data"]["command_id"], "cmd-never-learned");
    assert!(
        rejected[0]["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("never learned")),
        "{:#}",
        rejected[0]
    );
    assert!(
        sends_to(&stack, "5511987650032").is_empty(),
        "the simulator saw no send"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn after_an_agents_reply_the_next_window_alert_says_the_customer_is_not_awaiting_one() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    // Two customers wrote 22 h ago: their windows close in 2 h, the 60-minute alert is due in
    // 1 h (the running schedule does not reach it). The agent answers only the first.
    let written = stack.now_ms() / 1000 - 22 * 3600;
    for from in ["5511987650033", "5511987650034"] {
        customer_writes(
            &stack,
            json!({"from": from, "name": "Cliente", "text": "Oi", "timestamp": written}),
        )
        .await;
    }
    let received = crm.until("message.received", 2, PATIENCE).await;
    assert_eq!(
        of_type(&received, "message.received").len(),
        2,
        "{received:#?}"
    );
    send_commands(
        &stack,
        &[
            json!({"command_id": "cmd-agent-reply", "type": "send_text", "phone_number_id": PN,
                 "to": "+5511987650033", "text": {"body": "Olá! Como posso ajudar?"}}),
        ],
    )
    .await;
    let replied = crm.until("command.accepted", 1, PATIENCE).await;
    assert_eq!(
        of_type(&replied, "command.accepted").len(),
        1,
        "{replied:#?}"
    );

    // An hour passes: the schedule's next tick runs the 60-minute alerts.
    stack
        .travel_in_time(Duration::from_secs(3600))
        .expect("the functions' clock moves");
    let events = crm.until("window.expiring", 2, PATIENCE).await;

    let expiring = of_type(&events, "window.expiring");
    let awaiting = |phone: &str| {
        expiring
            .iter()
            .find(|e| e["contact"]["phone"] == phone)
            .map(|e| e["data"]["awaiting_reply"].clone())
    };
    assert_eq!(
        awaiting("+5511987650033"),
        Some(json!(false)),
        "{events:#?}"
    );
    assert_eq!(awaiting("+5511987650034"), Some(json!(true)), "{events:#?}");
    stack.shutdown().await;
}
