//! The helpdesk conversation as the processor sees it, through the real batch handler with the
//! in-memory state table: customer messages open and count, an app echo answers by `app`, each
//! lifecycle event once whatever Meta repeats. Every event is validated against its schema.

mod common;

use common::*;
use serde_json::Value;
use shared::conversation::{conversation_id, Entry, OpenConversation};
use shared::store::{
    Commit, CommitOutcome, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore, Write,
};

const PNID: &str = "106540352242922";
const TEXT_AT: i64 = 1_749_416_383;
const ECHO_AT: i64 = 1_749_416_450;
const TEXT_WAMID: &str = "wamid.HBgNTEXTAA==";

async fn open_conversation(state: &TestState, contact_id: &str) -> Option<OpenConversation> {
    state
        .store
        .load_contact(PNID, contact_id)
        .await
        .unwrap()
        .conversation
        .and_then(|c| c.record.open)
}

fn contact_id(state: &TestState) -> String {
    state.events.of_type("message.received")[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A second customer message, one minute after the first.
fn second_text() -> String {
    let body = with(&fixture("text"), TEXT_WAMID, "wamid.HBgNSECOND==");
    with(&body, "\"1749416383\"", "\"1749416443\"")
}

#[tokio::test]
async fn a_customer_message_opens_one_conversation_however_often_meta_delivers_it() {
    let state = state();
    for _ in 0..3 {
        assert!(run(&state, &fixture("text")).await.is_empty());
    }
    let opened = state.events.of_type("conversation.opened");
    assert_eq!(opened.len(), 1, "{:?}", state.events.events());
    let contact = contact_id(&state);
    let id = conversation_id(PNID, &contact, TEXT_WAMID);
    let data = &opened[0]["data"];
    assert_eq!(data["conversation_id"], id.as_str());
    assert_eq!(data["entry"], "organic");
    assert_eq!(data["first_message_wamid"], TEXT_WAMID);
    assert_eq!(data["opened_at"], "2025-06-08T20:59:43Z");
    assert_eq!(opened[0]["occurred_at"], "2025-06-08T20:59:43Z");
    assert_eq!(opened[0]["contact"]["id"], contact.as_str());

    // The next message is counted in the same conversation and opens nothing.
    run(&state, &second_text()).await;
    assert_eq!(state.events.of_type("conversation.opened").len(), 1);
    let open = open_conversation(&state, &contact).await.unwrap();
    assert_eq!(open.conversation_id, id);
    assert_eq!((open.messages_in, open.unanswered), (2, 2));
    assert_eq!(open.first_unanswered_at, Some(TEXT_AT));
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_message_from_an_ad_opens_with_its_referral_and_click_id() {
    let state = state();
    run(&state, &fixture("text-ad-referral")).await;
    let opened = state.events.of_type("conversation.opened");
    assert_eq!(opened.len(), 1);
    let data = &opened[0]["data"];
    assert_eq!(data["entry"], "ad");
    assert_eq!(data["ctwa_clid"], "ARAkLkA8rmlFeiCktEJQ");
    assert_eq!(data["referral"]["source_id"], "120214");
    assert_eq!(data["template_reply_to"], Value::Null);
    Schemas::load().check_all(&state.events.messages());
}

async fn bridge_sent(state: &TestState, message_type: &str, business: &str) {
    let outcome = state
        .store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Message(
                MessageRecord {
                    wamid: "wamid.PREVIOUS==".into(),
                    business: business.into(),
                    direction: Direction::Outbound,
                    contact_id: None,
                    message_type: message_type.into(),
                    timestamp: TEXT_AT - 3600,
                    status: None,
                    status_at: None,
                    command_id: Some("crm-promo-1".into()),
                    template: (message_type == "template").then(|| "promo_nov".into()),
                    raw: None,
                    ttl: None,
                },
                Expect::Absent,
            )],
        })
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::Applied);
}

#[tokio::test]
async fn a_reply_to_a_template_the_bridge_sent_opens_as_a_template_reply() {
    let state = state();
    bridge_sent(&state, "template", PNID).await;
    run(&state, &fixture("text-reply")).await;
    let data = &state.events.of_type("conversation.opened")[0]["data"];
    assert_eq!(data["entry"], "template_reply");
    assert_eq!(data["template_reply_to"]["wamid"], "wamid.PREVIOUS==");
    assert_eq!(data["template_reply_to"]["command_id"], "crm-promo-1");
    let open = open_conversation(&state, &contact_id(&state))
        .await
        .unwrap();
    assert_eq!(
        open.entry,
        Entry::TemplateReply {
            wamid: "wamid.PREVIOUS==".into(),
            command_id: Some("crm-promo-1".into())
        }
    );
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_reply_to_a_text_or_to_an_unknown_or_foreign_message_is_organic() {
    for (stored, business) in [
        (Some("text"), PNID),
        (None, PNID),
        (Some("template"), "999999999999999"),
    ] {
        let state = state();
        if let Some(t) = stored {
            bridge_sent(&state, t, business).await;
        }
        run(&state, &fixture("text-reply")).await;
        let data = &state.events.of_type("conversation.opened")[0]["data"];
        assert_eq!(data["entry"], "organic", "{stored:?} on {business}");
        assert_eq!(data["template_reply_to"], Value::Null);
    }
}

#[tokio::test]
async fn an_app_echo_is_the_first_response_by_app_once() {
    let state = state();
    run(&state, &fixture("text")).await;
    for _ in 0..3 {
        run(&state, &fixture("echo-text")).await;
    }
    let first = state.events.of_type("conversation.first_response");
    assert_eq!(first.len(), 1, "{:?}", state.events.events());
    let data = &first[0]["data"];
    let contact = contact_id(&state);
    assert_eq!(
        data["conversation_id"],
        conversation_id(PNID, &contact, TEXT_WAMID).as_str()
    );
    assert_eq!(data["by"], "app");
    assert_eq!(data["command_id"], Value::Null);
    assert_eq!(data["response_seconds"], ECHO_AT - TEXT_AT);
    let open = open_conversation(&state, &contact).await.unwrap();
    assert_eq!((open.messages_out, open.unanswered), (1, 0));

    // Another app message is counted, not reported; an edit answers nothing.
    let another = with(
        &fixture("echo-text"),
        "wamid.HBgNECHOTEXTAA==",
        "wamid.ECHO2==",
    );
    run(&state, &another).await;
    run(&state, &fixture("echo-edit")).await;
    assert_eq!(state.events.of_type("conversation.first_response").len(), 1);
    let open = open_conversation(&state, &contact).await.unwrap();
    assert_eq!(open.messages_out, 2);
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn an_echo_with_no_open_conversation_answers_nothing() {
    let state = state();
    run(&state, &fixture("echo-text")).await;
    assert!(state
        .events
        .of_type("conversation.first_response")
        .is_empty());
    assert!(state.events.of_type("conversation.opened").is_empty());
}

#[tokio::test]
async fn group_and_system_messages_open_no_conversation() {
    let state = state();
    run(&state, &fixture("text-group")).await;
    run(&state, &fixture("system-number-changed")).await;
    assert!(
        state.events.of_type("conversation.opened").is_empty(),
        "{:?}",
        state.events.events()
    );
}

#[tokio::test]
async fn a_crash_before_publishing_republishes_the_opening_with_its_id() {
    let state = state_with(Sink::failing(1));
    assert!(!run(&state, &fixture("text")).await.is_empty());
    let outbox = state
        .store
        .load_outbox(&format!("msg:{TEXT_WAMID}"))
        .await
        .unwrap()
        .unwrap();
    let stored = outbox
        .events
        .iter()
        .find(|e| e.event_type == "conversation.opened")
        .expect("committed with the message")
        .event_id
        .clone();
    assert!(run(&state, &fixture("text")).await.is_empty());
    let opened = state.events.of_type("conversation.opened");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["event_id"], stored.as_str());
}
