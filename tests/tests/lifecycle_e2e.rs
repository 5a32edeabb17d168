//! End-to-end through the runner and simulator: the helpdesk conversation as a CRM sees it.
//! A customer's message opens one conversation however often Meta delivers the webhook; a
//! message typed in the WhatsApp Business app is its first response (`by: app`); with the
//! functions' clock moved past a day (`RunningStack::travel_in_time`), the window-alerts binary
//! closes both conversations as idle and reports the unanswered one abandoned, once; a message
//! after the close opens a new conversation.

use std::time::Duration;

use e2e_tests::{customer_writes, of_type, post_signed, start_stack, CrmEvents, RunningStack};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const BUSINESS: &str = "15550783881";
const PATIENCE: Duration = Duration::from_secs(120);
const MIN: i64 = 60;
const HOUR: i64 = 3600;

/// Meta's webhook for one customer text, exactly as it would be delivered again on a retry.
fn customer_text(from: &str, wamid: &str, at: i64) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PN},
        "contacts": [{"profile": {"name": "Cliente"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": at.to_string(), "type": "text",
                      "text": {"body": "Meu pedido não chegou"}}]
    }}]}]})
    .to_string()
}

async fn app_answers(stack: &RunningStack, to: &str, wamid: &str, at: i64) {
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PN},
        "message_echoes": [{"from": BUSINESS, "to": to, "id": wamid, "timestamp": at.to_string(),
                            "type": "text", "text": {"body": "Já verifico"}}]
    });
    e2e_tests::meta_posts(stack, "smb_message_echoes", value).await;
}

fn for_contact<'a>(events: &'a [Value], kind: &str, contact_id: &Value) -> Vec<&'a Value> {
    of_type(events, kind)
        .into_iter()
        .filter(|e| &e["contact"]["id"] == contact_id)
        .collect()
}

#[tokio::test]
async fn conversations_open_once_answer_by_app_close_idle_abandon_once_and_reopen_anew() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let now = stack.now_ms() / 1000;
    let (answered, waiting) = ("5511987650131", "5511987650132");

    // Meta delivers the first customer's message three times.
    let body = customer_text(answered, "wamid.E2ELIFE1", now - 10 * MIN);
    for _ in 0..3 {
        assert_eq!(post_signed(&stack, &body).await, 200);
    }
    customer_writes(
        &stack,
        json!({"from": waiting, "name": "Rita", "text": "Alguém aí?", "timestamp": now - 5 * MIN}),
    )
    .await;
    let events = crm.until("conversation.opened", 2, PATIENCE).await;
    let opened = of_type(&events, "conversation.opened");
    assert_eq!(opened.len(), 2, "one per customer: {events:#?}");
    assert_eq!(of_type(&events, "message.received").len(), 2, "{events:#?}");
    let by_phone = |phone: &str| {
        opened
            .iter()
            .find(|e| e["contact"]["wa_id"] == phone)
            .copied()
            .unwrap_or_else(|| panic!("{phone} opened: {events:#?}"))
    };
    let (first, second) = (by_phone(answered), by_phone(waiting));
    assert_eq!(first["data"]["first_message_wamid"], "wamid.E2ELIFE1");
    assert_eq!(first["data"]["entry"], "organic");
    let first_id = first["data"]["conversation_id"].clone();
    let second_id = second["data"]["conversation_id"].clone();
    assert_ne!(first_id, second_id);
    let (answered_contact, waiting_contact) = (
        first["contact"]["id"].clone(),
        second["contact"]["id"].clone(),
    );

    // The business answers the first from the WhatsApp Business app; Meta retries the echo.
    for _ in 0..2 {
        app_answers(&stack, answered, "wamid.E2ELIFEECHO1", now - 2 * MIN).await;
    }
    let events = crm.until("conversation.first_response", 1, PATIENCE).await;
    let first_response = of_type(&events, "conversation.first_response");
    assert_eq!(first_response.len(), 1, "{events:#?}");
    let data = &first_response[0]["data"];
    assert_eq!(data["conversation_id"], first_id);
    assert_eq!(data["by"], "app");
    assert_eq!(data["command_id"], Value::Null);
    assert_eq!(data["response_seconds"], 8 * MIN);

    // A day passes without a message either way: both windows expire and both conversations
    // close as idle (CONVERSATION_IDLE_MINUTES' default, 1440); only the unanswered customer is
    // abandoned, once.
    stack
        .travel_in_time(Duration::from_secs((24 * HOUR + MIN) as u64))
        .expect("the functions' clock moves");
    let events = crm.until("conversation.closed", 2, PATIENCE).await;
    let closed = of_type(&events, "conversation.closed");
    assert_eq!(closed.len(), 2, "{events:#?}");
    assert!(closed.iter().all(|e| e["data"]["closed_by"] == "idle"));
    let answered_closed = for_contact(&events, "conversation.closed", &answered_contact);
    assert_eq!(answered_closed.len(), 1);
    assert_eq!(answered_closed[0]["data"]["conversation_id"], first_id);
    assert_eq!(answered_closed[0]["data"]["messages_in"], 1);
    assert_eq!(answered_closed[0]["data"]["messages_out"], 1);
    let abandoned = of_type(&events, "conversation.abandoned");
    assert_eq!(abandoned.len(), 1, "{events:#?}");
    assert_eq!(abandoned[0]["contact"]["id"], waiting_contact);
    assert_eq!(abandoned[0]["data"]["conversation_id"], second_id);
    assert_eq!(abandoned[0]["data"]["unanswered_messages"], 1);
    assert_eq!(abandoned[0]["data"]["waited_seconds"], 24 * HOUR);
    assert_eq!(of_type(&events, "window.expired").len(), 2, "{events:#?}");
    assert!(of_type(&events, "conversation.opened").is_empty());

    // The waiting customer writes again: a new conversation with a new id; nothing repeats.
    let later = stack.now_ms() / 1000;
    customer_writes(
        &stack,
        json!({"from": waiting, "name": "Rita", "text": "Oi de novo", "timestamp": later}),
    )
    .await;
    let events = crm.until("conversation.opened", 1, PATIENCE).await;
    let reopened = of_type(&events, "conversation.opened");
    assert_eq!(reopened.len(), 1, "{events:#?}");
    assert_eq!(reopened[0]["contact"]["id"], waiting_contact);
    assert_ne!(reopened[0]["data"]["conversation_id"], second_id);
    assert!(
        of_type(&events, "conversation.abandoned").is_empty()
            && of_type(&events, "conversation.closed").is_empty(),
        "{events:#?}"
    );
    stack.shutdown().await;
}
