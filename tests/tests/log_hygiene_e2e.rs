//! End-to-end: the errors customer input causes are logged without that input. Each case puts a
//! phone number or a text where an error message would quote it; the suite's log scan
//! (`make test`, `log-scan`) fails if any of them reaches a log line. The tests themselves check
//! that each error really happened and that the rest of the flow went on.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{customer_writes, of_type, send_commands, sqs, start_stack, CrmEvents};
use serde_json::json;
use shared::queue::{MessageSink, OutboundMessage, SqsSink};

const PATIENCE: Duration = Duration::from_secs(180);
const PN: &str = "106540352242922";

#[tokio::test]
async fn errors_about_customer_input_are_logged_without_it() {
    let stack = start_stack(&[]).await;
    let table = stack
        .provisioned
        .table_name("StateTable")
        .unwrap()
        .to_owned();
    let dynamo = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);

    // A store error naming a key with a phone in it: this customer's alias item is unreadable.
    let corrupt = "5511987650097";
    dynamo
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(format!("ALIAS#{PN}#wa:{corrupt}")))
        .item("sk", AttributeValue::S("ALIAS".into()))
        .item("contact_id", AttributeValue::N("7".into()))
        .send()
        .await
        .expect("PutItem");
    customer_writes(
        &stack,
        json!({"from": corrupt, "name": "Rafaela", "text": "Meu CPF é 123"}),
    )
    .await;

    // A serde error quoting a phone: an inbound record whose waba_id is the customer's number.
    let inbound = stack
        .provisioned
        .queue_url("InboundQueue")
        .unwrap()
        .to_owned();
    SqsSink::new(sqs().await, inbound)
        .send_all(vec![OutboundMessage {
            body: json!({"kind": "message", "field": "messages", "waba_id": 5511987650098u64,
                         "contact": {"wa_id": "5511987650098"}})
            .to_string(),
            ..OutboundMessage::default()
        }])
        .await
        .expect("poison record enqueued");

    // A schema error quoting a text: a command whose body is one character over Meta's limit.
    let long_text = format!(
        "Olá Marina, seu pedido 4521 saiu para entrega {}",
        "x".repeat(4096)
    );
    send_commands(
        &stack,
        &[
            json!({"command_id": "cmd-hygiene-1", "type": "send_text", "phone_number_id": PN,
                 "to": "+5511987650096", "text": {"body": long_text}}),
        ],
    )
    .await;

    // Everyone else is served meanwhile.
    customer_writes(
        &stack,
        json!({"from": "5511987650095", "name": "Otávio", "text": "Bom dia"}),
    )
    .await;

    let crm = CrmEvents::of(&stack).await;
    let mut events = crm.until("command.rejected", 1, PATIENCE).await;
    if of_type(&events, "message.received").is_empty() {
        events.extend(crm.until("message.received", 1, PATIENCE).await);
    }
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["reason"], "limit_exceeded");
    let message = rejected[0]["data"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("/text/body: "), "{message}");
    assert!(
        !message.contains("Marina"),
        "the rejection quotes the text: {message}"
    );
    let received: Vec<_> = of_type(&events, "message.received")
        .into_iter()
        .map(|e| {
            e["contact"]["phone"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        received,
        ["+5511987650095"],
        "only the readable customer: {events:#?}"
    );
    stack.shutdown().await;
}
