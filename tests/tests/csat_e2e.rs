//! End-to-end through the runner and the Graph API simulator: the CRM's side of the helpdesk
//! conversation. A customer writes and an agent replies by command →
//! `conversation.first_response`; `close_conversation` (by contact, or by conversation id alone)
//! → `conversation.closed` with its tags (and `conversation.abandoned` when nobody answered);
//! `request_rating` → the simulator receives the choices, and the customer's tap (Meta
//! delivering it 3×) or typed `4` → one `conversation.rated`. A redelivered command adds no
//! lifecycle event.

use std::time::Duration;

use e2e_tests::{customer_writes, of_type, sqs, CrmEvents, RunningStack};
use serde_json::{json, Value};
use shared::queue::{MessageSink, OutboundMessage, SqsSink};

const PN: &str = "106540352242922";
const BUSINESS: &str = "15550783881";
const PATIENCE: Duration = Duration::from_secs(120);

/// Puts commands on `crm-commands.fifo` as a CRM would (group = recipient, else the
/// conversation), each with its own
/// deduplication id: `<command_id>` the first time, `<command_id>#again` to play a CRM retry
/// after SQS's 5-minute deduplication interval (a true redelivery of the command).
async fn crm_sends(stack: &RunningStack, commands: &[&Value], again: bool) {
    let url = stack
        .provisioned
        .queue_url("CrmCommandsQueue")
        .expect("commands queue");
    let sink = SqsSink::new(sqs().await, url);
    let messages = commands
        .iter()
        .map(|c| {
            let id = c["command_id"].as_str().unwrap_or("none");
            OutboundMessage {
                body: c.to_string(),
                group_id: c["to"]
                    .as_str()
                    .or(c["conversation_id"].as_str())
                    .map(str::to_owned),
                dedup_id: Some(if again {
                    format!("{id}#again")
                } else {
                    id.into()
                }),
                attributes: Vec::new(),
            }
        })
        .collect();
    sink.send_all(messages).await.expect("commands enqueued");
}

fn reply(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_text", "phone_number_id": PN, "to": to,
           "text": {"body": "Claro, já verifico"}})
}

fn close(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "close_conversation", "phone_number_id": PN, "to": to,
           "reason": "solved", "tags": ["billing", "refund"], "actor": "agent-7"})
}

fn request_rating(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "request_rating", "phone_number_id": PN, "to": to,
           "question": "Como foi o atendimento?"})
}

/// A customer writes and the processor opens their conversation; returns its id.
async fn customer_opens(stack: &RunningStack, crm: &CrmEvents, customer: &str) -> String {
    customer_writes(
        stack,
        json!({"from": customer, "name": "Bia", "text": "Meu boleto?"}),
    )
    .await;
    let events = crm.until("conversation.opened", 1, PATIENCE).await;
    let opened = of_type(&events, "conversation.opened");
    assert_eq!(opened.len(), 1, "{events:#?}");
    opened[0]["data"]["conversation_id"]
        .as_str()
        .expect("a conversation id")
        .to_owned()
}

/// The customer taps a choice: Meta's signed `interactive` list reply, posted `times` times.
async fn customer_taps(stack: &RunningStack, customer: &str, option_id: &str, times: usize) {
    let now = shared::now_ms() / 1000 + 1;
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PN},
        "contacts": [{"profile": {"name": "Bia"}, "wa_id": customer}],
        "messages": [{"from": customer, "id": format!("wamid.TAP{customer}"),
                      "timestamp": now.to_string(), "type": "interactive",
                      "interactive": {"type": "list_reply",
                                      "list_reply": {"id": option_id, "title": "4"}}}]
    });
    for _ in 0..times {
        e2e_tests::meta_posts(stack, "messages", value.clone()).await;
    }
}

/// Waits until the commands queue holds nothing, visible or in flight (the sender finished).
async fn commands_consumed(stack: &RunningStack) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let url = stack
        .provisioned
        .queue_url("CrmCommandsQueue")
        .expect("commands queue");
    let sqs = sqs().await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes");
        let count = |name: &A| {
            out.attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if count(&A::ApproximateNumberOfMessages) + count(&A::ApproximateNumberOfMessagesNotVisible)
            == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the sender did not consume the commands");
}

/// The interactive messages the simulator received for `customer`.
fn interactive_sent_to(stack: &RunningStack, customer: &str) -> Vec<Value> {
    stack
        .simulator
        .requests()
        .into_iter()
        .filter(|r| r.body["type"] == "interactive")
        .filter(|r| {
            r.body["to"].as_str().is_some_and(|t| {
                t.chars().filter(char::is_ascii_digit).collect::<String>() == customer
            })
        })
        .map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn an_agents_reply_is_the_first_response_and_the_crms_close_carries_its_tags() {
    let stack = e2e_tests::start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let customer = "5511987650131";
    let conversation_id = customer_opens(&stack, &crm, customer).await;

    let answer = reply("e2e-reply-1", customer);
    crm_sends(&stack, &[&answer], false).await;
    let events = crm.until("conversation.first_response", 1, PATIENCE).await;
    let first = of_type(&events, "conversation.first_response");
    assert_eq!(first.len(), 1, "{events:#?}");
    assert_eq!(
        first[0]["data"]["conversation_id"],
        conversation_id.as_str()
    );
    assert_eq!(first[0]["data"]["by"], "command");
    assert_eq!(first[0]["data"]["command_id"], "e2e-reply-1");
    let seconds = first[0]["data"]["response_seconds"].as_i64();
    assert!(
        seconds.is_some_and(|s| (0..120).contains(&s)),
        "{seconds:?}"
    );

    // The CRM sends the same command again past SQS's deduplication: the sender republishes
    // its outcome with the same event ids (the events queue drops them as duplicates), adds no
    // lifecycle event and sends nothing twice.
    crm_sends(&stack, &[&answer], true).await;
    commands_consumed(&stack).await;
    let again = crm
        .until("conversation.first_response", 1, Duration::from_secs(5))
        .await;
    assert!(again.is_empty(), "nothing new: {again:#?}");
    let sends = stack
        .simulator
        .requests()
        .into_iter()
        .filter(|r| r.body["biz_opaque_callback_data"] == "e2e-reply-1")
        .count();
    assert_eq!(sends, 1);

    let closing = close("e2e-close-1", customer);
    crm_sends(&stack, &[&closing], false).await;
    let events = crm.until("conversation.closed", 1, PATIENCE).await;
    let closed = of_type(&events, "conversation.closed");
    assert_eq!(closed.len(), 1, "{events:#?}");
    let data = &closed[0]["data"];
    assert_eq!(data["conversation_id"], conversation_id.as_str());
    assert_eq!(data["closed_by"], "crm");
    assert_eq!(data["reason"], "solved");
    assert_eq!(data["tags"], json!(["billing", "refund"]));
    assert_eq!(
        (data["messages_in"].as_i64(), data["messages_out"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(
        of_type(&events, "conversation.abandoned").is_empty(),
        "it was answered"
    );
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["data"]["wamid"], Value::Null);

    // Redelivered: the outcome republished with its ids (dropped as duplicates), no second close.
    crm_sends(&stack, &[&closing], true).await;
    commands_consumed(&stack).await;
    let again = crm
        .until("conversation.closed", 1, Duration::from_secs(5))
        .await;
    assert!(again.is_empty(), "nothing new: {again:#?}");
    let sent_to_customer = stack
        .simulator
        .requests()
        .into_iter()
        .filter(|r| r.body["biz_opaque_callback_data"] == "e2e-close-1")
        .count();
    assert_eq!(sent_to_customer, 0, "a close sends nothing");
}

#[tokio::test]
async fn closing_a_conversation_nobody_answered_by_its_id_alone_reports_it_abandoned() {
    let stack = e2e_tests::start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let customer = "5511987650132";
    let conversation_id = customer_opens(&stack, &crm, customer).await;

    let mut closing = close("e2e-close-2", customer);
    closing["conversation_id"] = conversation_id.clone().into();
    closing.as_object_mut().map(|c| c.remove("to"));
    crm_sends(&stack, &[&closing], false).await;
    let events = crm.until("conversation.abandoned", 1, PATIENCE).await;
    let abandoned = of_type(&events, "conversation.abandoned");
    assert_eq!(abandoned.len(), 1, "{events:#?}");
    assert_eq!(
        abandoned[0]["data"]["conversation_id"],
        conversation_id.as_str()
    );
    assert_eq!(abandoned[0]["data"]["unanswered_messages"], 1);
    assert_eq!(of_type(&events, "conversation.closed").len(), 1);
}

#[tokio::test]
async fn a_tap_on_the_rating_list_delivered_three_times_rates_the_conversation_once() {
    let stack = e2e_tests::start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let customer = "5511987650133";
    let conversation_id = customer_opens(&stack, &crm, customer).await;

    crm_sends(&stack, &[&request_rating("e2e-rate-1", customer)], false).await;
    let events = crm.until("command.accepted", 1, PATIENCE).await;
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted.len(), 1, "{events:#?}");
    let sent = interactive_sent_to(&stack, customer);
    assert_eq!(sent.len(), 1, "the simulator received the choices");
    let rows = sent[0]["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 5);
    let four = rows[3]["id"].as_str().expect("an option id").to_owned();
    assert!(four.contains(accepted[0]["data"]["request_id"].as_str().unwrap_or("?")));

    customer_taps(&stack, customer, &four, 3).await;
    let events = crm.until("conversation.rated", 1, PATIENCE).await;
    let rated = of_type(&events, "conversation.rated");
    assert_eq!(rated.len(), 1, "{events:#?}");
    assert_eq!(
        rated[0]["data"]["conversation_id"],
        conversation_id.as_str()
    );
    assert_eq!(rated[0]["data"]["score"], 4);
    assert_eq!(rated[0]["data"]["scale"], "1-5");
    assert_eq!(
        rated[0]["data"]["rated_wamid"],
        format!("wamid.TAP{customer}")
    );
    assert_eq!(
        of_type(&events, "message.received").len(),
        1,
        "the tap, once"
    );
    assert!(
        of_type(&events, "conversation.opened").is_empty(),
        "not a new request"
    );
}

#[tokio::test]
async fn a_score_typed_after_a_rating_request_rates_the_conversation() {
    let stack = e2e_tests::start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let customer = "5511987650134";
    let conversation_id = customer_opens(&stack, &crm, customer).await;

    crm_sends(&stack, &[&request_rating("e2e-rate-2", customer)], false).await;
    crm.until("command.accepted", 1, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    customer_writes(
        &stack,
        json!({"from": customer, "name": "Bia", "text": "4"}),
    )
    .await;

    let events = crm.until("conversation.rated", 1, PATIENCE).await;
    let rated = of_type(&events, "conversation.rated");
    assert_eq!(rated.len(), 1, "{events:#?}");
    assert_eq!(
        rated[0]["data"]["conversation_id"],
        conversation_id.as_str()
    );
    assert_eq!(rated[0]["data"]["score"], 4);
}
