//! CSAT answers through the real batch handler with the in-memory state table: the contact's
//! pending rating request (as the sender's accepted `request_rating` leaves it) answered by a
//! tap or a typed score becomes one `conversation.rated`, however often Meta delivers it; its
//! comment one `conversation.rating_commented`; neither counts as a customer request. Every
//! event is validated against its schema.

mod common;

use common::*;
use shared::rating::{self, RatingState, Scale};
use shared::store::{ConversationRecord, Expect, OutboxStore, ProcessorStore, Write};

const PNID: &str = "106540352242922";
/// The text fixture's Meta timestamp.
const TEXT_AT: i64 = 1_749_416_383;
/// The rating fixture's tap: score 4 of the request of command `crm-csat-1`.
const RATING_WAMID: &str = "wamid.HBgNRATINGAA==";

fn contact_id(state: &TestState) -> String {
    state.events.of_type("message.received")[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn conversation(state: &TestState, contact: &str) -> ConversationRecord {
    state
        .store
        .load_contact(PNID, contact)
        .await
        .unwrap()
        .conversation
        .unwrap()
        .record
}

/// The customer wrote (opening a conversation) and the CRM's `request_rating` (command
/// `crm-csat-1`, scale 1-5) was accepted a minute later. Returns the contact and conversation.
async fn rating_requested(state: &TestState) -> (String, String) {
    run(state, &fixture("text")).await;
    let contact = contact_id(state);
    let current = state
        .store
        .load_contact(PNID, &contact)
        .await
        .unwrap()
        .conversation
        .unwrap();
    let mut conv = current.record;
    let conversation_id = conv.open.as_ref().unwrap().conversation_id.clone();
    conv.rating = Some(Box::new(RatingState::Pending {
        request_id: rating::request_id(PNID, "crm-csat-1"),
        conversation_id: conversation_id.clone(),
        scale: Scale::DEFAULT,
        requested_at: TEXT_AT + 60,
        command_id: "crm-csat-1".into(),
    }));
    let commit = shared::store::Commit {
        outbox: None,
        writes: vec![Write::Conversation(conv, Expect::Version(current.version))],
    };
    state.store.commit(commit).await.unwrap();
    (contact, conversation_id)
}

/// The rating fixture, `secs` after the text.
fn tap_at(secs: i64) -> String {
    with(
        &fixture("interactive-rating"),
        "\"1749416383\"",
        &format!("\"{}\"", TEXT_AT + secs),
    )
}

/// A text message with this body and wamid, `secs` after the first text.
fn text_at(body: &str, wamid: &str, secs: i64) -> String {
    let original = "Ol\\u00e1! Voc\\u00ea tem em azul? \\ud83d\\udc4b @loja https:\\/\\/ex.com\\/a";
    let b = with(&fixture("text"), original, body);
    let b = with(&b, "wamid.HBgNTEXTAA==", wamid);
    with(&b, "\"1749416383\"", &format!("\"{}\"", TEXT_AT + secs))
}

#[tokio::test]
async fn a_tap_on_the_rating_list_rates_the_conversation_once_though_meta_delivers_it_3_times() {
    let state = state();
    let (contact, conversation_id) = rating_requested(&state).await;

    for _ in 0..3 {
        assert!(run(&state, &tap_at(120)).await.is_empty());
    }

    let rated = state.events.of_type("conversation.rated");
    assert_eq!(rated.len(), 1, "{:#?}", state.events.events());
    let data = &rated[0]["data"];
    assert_eq!(data["conversation_id"], conversation_id.as_str());
    assert_eq!(data["score"], 4);
    assert_eq!(data["scale"], "1-5");
    assert_eq!(data["rated_wamid"], RATING_WAMID);
    assert_eq!(data["comment"], serde_json::Value::Null);
    assert_eq!(rated[0]["contact"]["id"], contact.as_str());
    // Still the customer's message for the CRM, once; not a new request in the conversation.
    assert_eq!(state.events.of_type("message.received").len(), 2);
    let conv = conversation(&state, &contact).await;
    let open = conv.open.as_ref().expect("still open");
    assert_eq!((open.messages_in, open.unanswered), (1, 1));
    assert!(matches!(
        conv.rating.as_deref(),
        Some(RatingState::Rated { score: 4, .. })
    ));
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_typed_score_rates_and_the_next_text_is_its_comment_once() {
    let state = state();
    let (contact, conversation_id) = rating_requested(&state).await;

    run(&state, &text_at("4", "wamid.TYPED==", 90)).await;
    for _ in 0..2 {
        run(
            &state,
            &text_at("Muito r\\u00e1pido", "wamid.COMMENT==", 150),
        )
        .await;
    }
    run(&state, &text_at("Outra coisa", "wamid.LATER==", 160)).await;

    let rated = state.events.of_type("conversation.rated");
    assert_eq!(rated.len(), 1);
    assert_eq!(rated[0]["data"]["score"], 4);
    assert_eq!(rated[0]["data"]["rated_wamid"], "wamid.TYPED==");
    let commented = state.events.of_type("conversation.rating_commented");
    assert_eq!(commented.len(), 1, "{:#?}", state.events.events());
    let data = &commented[0]["data"];
    assert_eq!(data["conversation_id"], conversation_id.as_str());
    assert_eq!(data["comment"], "Muito rápido");
    assert_eq!(data["comment_wamid"], "wamid.COMMENT==");
    assert_eq!(data["score"], 4);
    // The third text is an ordinary message again: counted in the conversation.
    let conv = conversation(&state, &contact).await;
    assert!(conv.rating.is_none());
    assert_eq!(conv.open.as_ref().map(|o| o.messages_in), Some(2));
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_tap_with_no_pending_request_is_an_ordinary_message() {
    let state = state();
    run(&state, &tap_at(0)).await;
    assert!(state.events.of_type("conversation.rated").is_empty());
    assert_eq!(state.events.of_type("message.received").len(), 1);
    assert_eq!(state.events.of_type("conversation.opened").len(), 1);
}

#[tokio::test]
async fn an_answer_after_the_rating_window_is_an_ordinary_message() {
    let mut state = state();
    state.config.rating_window = std::time::Duration::from_secs(60);
    rating_requested(&state).await;
    run(&state, &tap_at(60 + 61)).await;
    assert!(state.events.of_type("conversation.rated").is_empty());
    let contact = contact_id(&state);
    let conv = conversation(&state, &contact).await;
    assert!(conv.rating.is_none(), "the request ended unanswered");
    assert_eq!(conv.open.map(|o| o.messages_in), Some(2));
}

#[test]
fn the_fixtures_tap_carries_the_choice_the_sender_builds_for_its_command() {
    let fixture = fixture("interactive-rating");
    let id = rating::option_id(&rating::request_id(PNID, "crm-csat-1"), 4);
    assert!(fixture.contains(&id), "{id} in {fixture}");
}
