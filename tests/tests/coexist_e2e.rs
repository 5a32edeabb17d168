//! End-to-end through the runner and simulator on a coexistence number (the WhatsApp Business
//! app and the API at once): what the business types in the app comes back as signed
//! `smb_message_echoes` and becomes `message.echo`, an answer that the next window alert
//! reflects (`awaiting_reply: false`) without moving the window; the app's past chats
//! (`history`) become `history.message` and open no window; its address book
//! (`smb_app_state_sync`) becomes `contact.synced`.

use std::time::Duration;

use e2e_tests::{customer_writes, of_type, send_commands, start_stack, CrmEvents, RunningStack};
use serde_json::{json, Value};
use shared::events::rfc3339;

const PN: &str = "106540352242922";
const BUSINESS: &str = "15550783881";
const PATIENCE: Duration = Duration::from_secs(120);
const HOUR: i64 = 3600;

/// Meta posts one change of `field` on the business number (signed, through the webhook).
async fn meta_posts(stack: &RunningStack, field: &str, mut value: Value) {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": BUSINESS, "phone_number_id": PN});
    e2e_tests::meta_posts(stack, field, value).await;
}

fn echo(to: &str, id: &str, at: i64, body: &str) -> Value {
    json!({"message_echoes": [{"from": BUSINESS, "to": to, "id": id, "timestamp": at.to_string(),
                               "type": "text", "text": {"body": body}}]})
}

fn text(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_text", "phone_number_id": PN, "to": to,
           "text": {"body": "Seguimos por aqui"}})
}

#[tokio::test]
async fn an_echo_after_a_customer_message_answers_it_and_leaves_the_window_where_it_was() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let customer = "5511987650081";
    let now = shared::now_ms() / 1000;
    let wrote = now - 20 * HOUR;
    let expires = wrote + 24 * HOUR;

    customer_writes(
        &stack,
        json!({"from": customer, "name": "Marta", "text": "Chegou meu pedido?", "timestamp": wrote}),
    )
    .await;
    let received = crm.until("message.received", 1, PATIENCE).await;
    let received = of_type(&received, "message.received");
    assert_eq!(received.len(), 1);

    // The business answers from the app; Meta echoes it, and retries the echo once.
    let answer = echo(
        customer,
        "wamid.E2EECHO1",
        now - 60,
        "Saiu para entrega hoje",
    );
    meta_posts(&stack, "smb_message_echoes", answer.clone()).await;
    meta_posts(&stack, "smb_message_echoes", answer).await;
    let events = crm.until("message.echo", 1, PATIENCE).await;
    let echoes = of_type(&events, "message.echo");
    assert_eq!(echoes.len(), 1, "{events:#?}");
    assert_eq!(echoes[0]["data"]["wamid"], "wamid.E2EECHO1");
    assert_eq!(echoes[0]["data"]["text"], "Saiu para entrega hoje");
    assert_eq!(echoes[0]["data"]["to"], customer);
    assert_eq!(echoes[0]["data"]["edited"], false);
    assert_eq!(echoes[0]["contact"]["id"], received[0]["contact"]["id"]);
    // The first agent message of the conversation the customer opened is its first response.
    let first = of_type(&events, "conversation.first_response");
    assert_eq!(first.len(), 1, "{events:#?}");
    assert_eq!(first[0]["data"]["by"], "app");
    assert!(
        events
            .iter()
            .all(|e| e["type"] == "message.echo" || e["type"] == "conversation.first_response"),
        "an echo emits nothing else: {events:#?}"
    );

    // The next alert: an hour before the close the customer wrote, answered.
    let alerts = e2e_tests::window_alerts_state(&stack).await;
    let report = window_alerts::run_once(&alerts, (expires - HOUR) * 1000)
        .await
        .expect("run");
    assert_eq!(report.expiring, 1, "{report:?}");
    let events = crm.until("window.expiring", 1, PATIENCE).await;
    let warning = of_type(&events, "window.expiring");
    assert_eq!(warning.len(), 1, "{events:#?}");
    assert_eq!(warning[0]["data"]["awaiting_reply"], false);
    assert_eq!(
        warning[0]["data"]["expires_at"],
        rfc3339(expires),
        "the echo did not move the window"
    );
    assert_eq!(warning[0]["data"]["lead_minutes"], 60);
    stack.shutdown().await;
}

#[tokio::test]
async fn an_echo_or_a_recent_past_message_opens_no_window_and_the_address_book_syncs() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let (echoed, past, unknown) = ("5511987650082", "5511987650083", "5511987650084");
    let now = shared::now_ms() / 1000;

    // The business writes first from the app: no window for a free-form reply from the bridge.
    meta_posts(
        &stack,
        "smb_message_echoes",
        echo(echoed, "wamid.E2EECHO2", now - 30, "Oi, tudo bem?"),
    )
    .await;
    crm.until("message.echo", 1, PATIENCE).await;

    // A chat from a minute ago arrives as history: the past, not a customer writing now.
    meta_posts(
        &stack,
        "history",
        json!({"history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
            "threads": [{"id": past, "messages": [
                {"from": past, "id": "wamid.E2EPAST1", "timestamp": (now - 60).to_string(), "type": "text",
                 "text": {"body": "Vocês abrem domingo?"}, "history_context": {"status": "READ"}},
                {"from": BUSINESS, "to": past, "id": "wamid.E2EPAST2", "timestamp": (now - 50).to_string(),
                 "type": "text", "text": {"body": "Abrimos das 9h às 13h"}, "history_context": {"status": "READ"}}]}]}]}),
    )
    .await;
    let events = crm.until("history.message", 2, PATIENCE).await;
    let mut history = of_type(&events, "history.message");
    assert_eq!(history.len(), 2, "{events:#?}");
    // Each past message is its own update: they may arrive in any order; Meta's time orders them.
    history.sort_by_key(|e| e["data"]["timestamp"].as_str().map(str::to_owned));
    assert_eq!(history[0]["data"]["wamid"], "wamid.E2EPAST1");
    assert_eq!(history[0]["occurred_at"], rfc3339(now - 60));
    assert_eq!(history[0]["data"]["direction"], "inbound");
    assert_eq!(history[1]["data"]["direction"], "outbound");
    assert_eq!(history[1]["occurred_at"], rfc3339(now - 50));
    assert!(history.iter().all(|e| e["data"]["sync"]["progress"] == 100));
    assert!(of_type(&events, "window.expiring").is_empty());

    send_commands(
        &stack,
        &[
            text("cmd-after-echo", &format!("+{echoed}")),
            text("cmd-after-history", &format!("+{past}")),
        ],
    )
    .await;
    let events = crm.until("command.rejected", 2, PATIENCE).await;
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 2, "{events:#?}");
    assert!(
        rejected
            .iter()
            .all(|r| r["data"]["reason"] == "window_closed"),
        "{rejected:#?}"
    );

    // The app's address book: one addition (a known contact), one removal of a stranger.
    meta_posts(
        &stack,
        "smb_app_state_sync",
        json!({"state_sync": [
            {"type": "contact", "contact": {"full_name": "Cliente Domingo", "first_name": "Cliente",
                                            "phone_number": past}, "action": "add",
             "metadata": {"timestamp": now.to_string()}},
            {"type": "contact", "contact": {"phone_number": unknown}, "action": "remove",
             "metadata": {"timestamp": now.to_string()}}]}),
    )
    .await;
    let events = crm.until("contact.synced", 2, PATIENCE).await;
    let synced = of_type(&events, "contact.synced");
    assert_eq!(synced.len(), 2, "{events:#?}");
    assert_eq!(synced[0]["data"]["action"], "add");
    assert_eq!(synced[0]["data"]["full_name"], "Cliente Domingo");
    assert_eq!(synced[0]["contact"]["id"], history[0]["contact"]["id"]);
    assert_eq!(synced[1]["data"]["action"], "remove");
    assert_eq!(synced[1]["contact"], Value::Null);
    stack.shutdown().await;
}
