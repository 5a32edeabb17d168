//! Coexistence (a number used in the WhatsApp Business app and the API at once) through the
//! real batch handler with the in-memory state table: echoes of what the business typed in the
//! app, the app's past chats (`history`) and its address book (`smb_app_state_sync`). Every
//! event is validated against its JSON Schema.

mod common;

use common::*;
use serde_json::Value;
use shared::store::{keys, ConversationRecord, ProcessorStore};

const PNID: &str = "106540352242922";
const CUSTOMER_TEXT_AT: i64 = 1_749_416_383;
const ECHO_AT: i64 = 1_749_416_450;
const HELLO_BODY: &str = "Temos sim, em azul e verde \\ud83d\\udc4d";

async fn conversation(state: &TestState, contact_id: &str) -> Option<ConversationRecord> {
    state
        .store
        .load_contact(PNID, contact_id)
        .await
        .unwrap()
        .conversation
        .map(|c| c.record)
}

fn contact_id(event: &Value) -> String {
    event["contact"]["id"].as_str().unwrap().to_owned()
}

fn consent_entries(state: &TestState, contact_id: &str) -> usize {
    state
        .store
        .scan_prefix(&keys::contact_pk(PNID, contact_id))
        .iter()
        .filter(|(_, sk, _)| sk.starts_with("CONSENT#"))
        .count()
}

#[tokio::test]
async fn an_echo_after_a_customer_message_is_an_answer_that_leaves_the_window_alone() {
    let state = state();
    run(&state, &fixture("text")).await;
    let received = state.events.of_type("message.received");
    let id = contact_id(&received[0]);
    let before = conversation(&state, &id).await.unwrap();
    assert!(before.awaiting_reply);

    assert!(run(&state, &fixture("echo-text")).await.is_empty());
    let echoes = state.events.of_type("message.echo");
    assert_eq!(echoes.len(), 1);
    let e = &echoes[0];
    assert_eq!(contact_id(e), id, "the customer the business wrote to");
    assert_eq!(e["data"]["wamid"], "wamid.HBgNECHOTEXTAA==");
    assert_eq!(e["data"]["type"], "text");
    assert_eq!(e["data"]["text"], "Temos sim, em azul e verde 👍");
    assert_eq!(e["data"]["from"], "15550783881");
    assert_eq!(e["data"]["to"], "5511987654321");
    assert_eq!(
        (&e["data"]["edited"], &e["data"]["revoked"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(e["data"]["original_message_id"], Value::Null);
    assert_eq!(e["occurred_at"], shared::events::rfc3339(ECHO_AT));
    assert_eq!(e["data"]["original"]["id"], "wamid.HBgNECHOTEXTAA==");

    let after = conversation(&state, &id).await.unwrap();
    assert!(!after.awaiting_reply);
    assert_eq!(after.last_outbound_at, Some(ECHO_AT));
    assert_eq!(
        (
            after.window_expires_at,
            after.last_inbound_at,
            after.due_at,
            &after.alerted_leads
        ),
        (
            before.window_expires_at,
            before.last_inbound_at,
            before.due_at,
            &before.alerted_leads
        ),
        "the echo neither opens nor extends the window"
    );
    assert_eq!(after.window_expires_at, Some(CUSTOMER_TEXT_AT + 86_400));
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn an_echo_older_than_the_customers_last_message_leaves_them_waiting() {
    let state = state();
    run(&state, &with(&fixture("text"), "1749416383", "1749416500")).await;
    run(&state, &fixture("echo-text")).await; // typed at …450, before the customer's …500
    let id = contact_id(&state.events.of_type("message.echo")[0]);
    assert!(conversation(&state, &id).await.unwrap().awaiting_reply);
}

#[tokio::test]
async fn an_echo_to_someone_who_never_wrote_opens_no_window() {
    let state = state();
    run(&state, &fixture("echo-text")).await;
    let echoes = state.events.of_type("message.echo");
    assert_eq!(echoes.len(), 1);
    assert_eq!(echoes[0]["contact"]["phone"], "+5511987654321");
    assert!(conversation(&state, &contact_id(&echoes[0]))
        .await
        .is_none());
}

#[tokio::test]
async fn an_echo_saying_stop_opts_nobody_out() {
    let state = state();
    run(&state, &fixture("text")).await;
    run(&state, &with(&fixture("echo-text"), HELLO_BODY, "STOP")).await;
    let echoes = state.events.of_type("message.echo");
    assert_eq!(echoes[0]["data"]["text"], "STOP");
    assert!(state.events.of_type("contact.opted_out").is_empty());
    let id = contact_id(&echoes[0]);
    let contact = state
        .store
        .load_contact(PNID, &id)
        .await
        .unwrap()
        .contact
        .unwrap()
        .record;
    assert!(!contact.marketing_opt_out);
    assert_eq!(consent_entries(&state, &id), 0);
}

#[tokio::test]
async fn a_redelivered_echo_emits_nothing_new() {
    let state = state();
    for _ in 0..3 {
        assert!(run(&state, &fixture("echo-text")).await.is_empty());
    }
    assert_eq!(state.events.events().len(), 1);
}

#[tokio::test]
async fn an_edit_and_a_revoke_say_so_and_answer_nothing() {
    let state = state();
    run(&state, &with(&fixture("text"), "1749416383", "1749416460")).await;
    run(&state, &fixture("echo-edit")).await;
    let edit = &state.events.of_type("message.echo")[0];
    assert_eq!(edit["data"]["edited"], true);
    assert_eq!(edit["data"]["revoked"], false);
    assert_eq!(edit["data"]["type"], "text");
    assert_eq!(edit["data"]["unknown_type"], false);
    assert_eq!(edit["data"]["text"], "Temos sim, em azul, verde e preto");
    assert_eq!(edit["data"]["wamid"], "wamid.HBgNECHOEDITAA==");
    assert_eq!(
        edit["data"]["original_message_id"],
        "wamid.HBgNECHOTEXTAA=="
    );
    assert_eq!(edit["data"]["original"]["type"], "edit");
    // Editing an earlier message is not an answer to the customer's newer one.
    let id = contact_id(edit);
    assert!(conversation(&state, &id).await.unwrap().awaiting_reply);

    run(&state, &fixture("echo-revoke")).await;
    let revoke = &state.events.of_type("message.echo")[1];
    assert_eq!(revoke["data"]["revoked"], true);
    assert_eq!(revoke["data"]["edited"], false);
    assert_eq!(revoke["data"]["type"], "revoke");
    assert_eq!(revoke["data"]["unknown_type"], false);
    assert_eq!(
        revoke["data"]["original_message_id"],
        "wamid.HBgNECHOTEXTAA=="
    );
    assert!(conversation(&state, &id).await.unwrap().awaiting_reply);
    Schemas::load().check_all(&state.events.messages());
}

fn echo_status(status: &str) -> String {
    with(
        &with(
            &fixture(&format!("status-{status}")),
            "wamid.HBgNOUTBOUNDAA==",
            "wamid.HBgNECHOTEXTAA==",
        ),
        "1749416383",
        "1749416455",
    )
}

#[tokio::test]
async fn statuses_of_an_echoed_message_apply_at_once_as_external() {
    let state = state();
    run(&state, &fixture("echo-text")).await;
    run(&state, &echo_status("delivered")).await;
    let statuses = state.events.of_type("message.status");
    assert_eq!(statuses.len(), 1, "{:#?}", state.events.events());
    assert_eq!(statuses[0]["data"]["origin"], "external");
    assert_eq!(statuses[0]["data"]["command_id"], Value::Null);
    assert_eq!(
        statuses[0]["contact"]["id"],
        state.events.of_type("message.echo")[0]["contact"]["id"]
    );
}

#[tokio::test]
async fn a_status_parked_before_its_echo_is_applied_by_the_echo_once() {
    let state = state();
    run(&state, &echo_status("sent")).await;
    assert!(state.events.events().is_empty(), "parked");
    run(&state, &fixture("echo-text")).await;
    run(&state, &fixture("echo-text")).await;
    let statuses = state.events.of_type("message.status");
    assert_eq!(statuses.len(), 1, "{:#?}", state.events.events());
    assert_eq!(statuses[0]["data"]["status"], "sent");
    assert_eq!(statuses[0]["data"]["origin"], "external");
    let stored = state
        .store
        .load_message("wamid.HBgNECHOTEXTAA==")
        .await
        .unwrap();
    assert!(stored.parked.is_empty());
}

#[tokio::test]
async fn history_gives_one_event_per_message_with_meta_s_time_and_touches_no_window() {
    let state = state();
    for _ in 0..2 {
        assert!(run(&state, &fixture("history")).await.is_empty());
    }
    let past = state.events.of_type("history.message");
    assert_eq!(past.len(), 2, "{:#?}", state.events.events());
    assert_eq!(state.events.events().len(), 2);
    // Each past message is its own update: order them by Meta's time.
    let mut past = past;
    past.sort_by_key(|e| e["data"]["timestamp"].as_str().map(str::to_owned));
    let (inbound, outbound) = (&past[0], &past[1]);
    assert_eq!(inbound["occurred_at"], "2025-03-10T20:53:20Z");
    assert_eq!(inbound["data"]["timestamp"], "2025-03-10T20:53:20Z");
    assert_eq!(inbound["data"]["direction"], "inbound");
    assert_eq!(inbound["data"]["status"], "read");
    assert_eq!(inbound["data"]["text"], "Vocês entregam no sábado?");
    assert_eq!(inbound["data"]["thread_id"], "5511987654321");
    assert_eq!(
        inbound["data"]["sync"],
        serde_json::json!({"phase": 1, "chunk_order": 2, "progress": 55})
    );
    assert_eq!(outbound["data"]["direction"], "outbound");
    assert_eq!(outbound["data"]["to"], "5511987654321");
    assert_eq!(outbound["data"]["status"], "delivered");
    assert_eq!(outbound["occurred_at"], "2025-03-10T20:55:00Z");
    assert_eq!(contact_id(inbound), contact_id(outbound));
    assert_eq!(inbound["contact"]["phone"], "+5511987654321");
    assert!(conversation(&state, &contact_id(inbound)).await.is_none());
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_past_stop_opts_nobody_out_and_a_recent_past_message_opens_no_window() {
    let state = state();
    let body = with(
        &with(
            &fixture("history"),
            "Voc\\u00eas entregam no s\\u00e1bado?",
            "PARAR",
        ),
        "1741640000",
        "1749416380",
    );
    run(&state, &body).await;
    let past = state.events.of_type("history.message");
    let stop = past
        .iter()
        .find(|e| e["data"]["wamid"] == "wamid.HBgNHISTORYINAA==")
        .unwrap();
    assert_eq!(stop["data"]["text"], "PARAR");
    assert!(state.events.of_type("contact.opted_out").is_empty());
    let id = contact_id(stop);
    assert_eq!(consent_entries(&state, &id), 0);
    assert!(conversation(&state, &id).await.is_none());
}

#[tokio::test]
async fn a_media_placeholder_and_its_media_later_are_two_events() {
    let state = state();
    let placeholder = fixture("history").replace(
        r#""type":"text","text":{"body":"Voc\u00eas entregam no s\u00e1bado?"}"#,
        r#""type":"media_placeholder""#,
    );
    let media = fixture("history").replace(
        r#""type":"text","text":{"body":"Voc\u00eas entregam no s\u00e1bado?"}"#,
        r#""type":"image","image":{"id":"1037543291543636","mime_type":"image/jpeg","sha256":"x"}"#,
    );
    assert_ne!(placeholder, fixture("history"));
    run(&state, &placeholder).await;
    run(&state, &media).await;
    let types: Vec<Value> = state
        .events
        .of_type("history.message")
        .iter()
        .filter(|e| e["data"]["wamid"] == "wamid.HBgNHISTORYINAA==")
        .map(|e| e["data"]["type"].clone())
        .collect();
    assert_eq!(types, ["media_placeholder", "image"]);
}

#[tokio::test]
async fn a_declined_history_is_forwarded_as_whatsapp_error() {
    let state = state();
    run(&state, &fixture("history-declined")).await;
    let errors = state.events.of_type("whatsapp.error");
    assert_eq!(errors.len(), 1, "{:#?}", state.events.events());
    assert_eq!(errors[0]["data"]["field"], "history");
    assert_eq!(
        errors[0]["data"]["original"]["history"][0]["errors"][0]["code"],
        2_593_109
    );
}

#[tokio::test]
async fn the_address_book_gives_contact_synced_once_and_keeps_the_profile_name() {
    let state = state();
    run(&state, &fixture("text")).await; // profile name "João Silva"
    let id = contact_id(&state.events.of_type("message.received")[0]);
    let book = fixture("app-state-sync").replace(
        r#""full_name":"Jo\u00e3o Silva","first_name":"Jo\u00e3o""#,
        r#""full_name":"Jo\u00e3o (fornecedor)","first_name":"Jo\u00e3o""#,
    );
    for _ in 0..2 {
        assert!(run(&state, &book).await.is_empty());
    }
    let synced = state.events.of_type("contact.synced");
    assert_eq!(synced.len(), 2, "{:#?}", state.events.events());
    let (added, removed) = (&synced[0], &synced[1]);
    assert_eq!(added["data"]["action"], "add");
    assert_eq!(added["data"]["full_name"], "João (fornecedor)");
    assert_eq!(added["data"]["first_name"], "João");
    assert_eq!(added["data"]["phone_number"], "5511987654321");
    assert_eq!(contact_id(added), id);
    assert_eq!(
        added["contact"]["name"], "João Silva",
        "the profile name stays"
    );
    assert_eq!(added["occurred_at"], "2025-06-08T20:59:43Z");
    // A number the bridge never stored: no contact is created for its removal.
    assert_eq!(removed["data"]["action"], "remove");
    assert_eq!(removed["data"]["full_name"], Value::Null);
    assert_eq!(removed["contact"], Value::Null);
    let aliases = state
        .store
        .find_aliases(
            PNID,
            &shared::identity::Identity::new(Some("5511987650999"), None).alias_keys(),
        )
        .await
        .unwrap();
    assert!(aliases.is_empty(), "{aliases:?}");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn an_address_book_addition_creates_the_contact_and_odd_entries_are_forwarded_raw() {
    let state = state();
    let body = fixture("app-state-sync").replace(
        r#"{"type":"contact","contact":{"phone_number":"5511987650999"},"action":"remove""#,
        r#"{"type":"label","action":"add"},{"type":"contact","contact":{"phone_number":"5511987650999"},"action":"remove""#,
    );
    run(&state, &body).await;
    let synced = state.events.of_type("contact.synced");
    assert_eq!(synced.len(), 2);
    assert_eq!(synced[0]["contact"]["phone"], "+5511987654321");
    assert!(state
        .store
        .load_contact(PNID, &contact_id(&synced[0]))
        .await
        .unwrap()
        .contact
        .is_some());
    let unknown = state.events.of_type("whatsapp.unknown");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["data"]["field"], "smb_app_state_sync");
}

#[tokio::test]
async fn a_history_of_a_thousand_messages_in_one_webhook_gives_a_thousand_events() {
    let messages: Vec<Value> = (0..1000)
        .map(|i| {
            serde_json::json!({"from": "5511987654321", "id": format!("wamid.BIG{i:04}"),
                "timestamp": (1_741_640_000 + i).to_string(), "type": "text",
                "text": {"body": format!("mensagem {i} {}", "x".repeat(1100))},
                "history_context": {"status": "READ"}})
        })
        .collect();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "history", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
            "history": [{"metadata": {"phase": 2, "chunk_order": 1, "progress": 100},
                         "threads": [{"id": "5511987654321", "messages": messages}]}]}}]}]})
    .to_string();
    assert!(
        body.len() > shared::queue::BATCH_BYTES,
        "more than one queue message holds"
    );
    let buffered = bodies(&body);
    assert_eq!(buffered.len(), 1000);
    assert!(buffered.iter().all(|b| b.len() < 2048));

    let state = state();
    assert!(run(&state, &body).await.is_empty());
    let past = state.events.of_type("history.message");
    assert_eq!(past.len(), 1000);
    let mut wamids: Vec<&str> = past
        .iter()
        .filter_map(|e| e["data"]["wamid"].as_str())
        .collect();
    wamids.sort_unstable();
    wamids.dedup();
    assert_eq!(wamids.len(), 1000);
    assert!(past.iter().all(|e| e["data"]["sync"]["progress"] == 100));
}

#[tokio::test]
async fn a_history_with_messages_and_an_erring_chunk_gives_both_once() {
    let state = state();
    let body = fixture("history").replace(
        r#"]}]}]},"field":"history""#,
        r#"]}]},{"errors":[{"code":131000,"title":"Something went wrong"}]}]},"field":"history""#,
    );
    assert_ne!(body, fixture("history"));
    for _ in 0..2 {
        assert!(run(&state, &body).await.is_empty());
    }
    assert_eq!(state.events.of_type("history.message").len(), 2);
    let errors = state.events.of_type("whatsapp.error");
    assert_eq!(errors.len(), 1, "{:#?}", state.events.events());
    assert_eq!(errors[0]["data"]["field"], "history");
    Schemas::load().check_all(&state.events.messages());
}
