//! The opening of a conversation points an alias (`conv:<conversation_id>`) at its contact, in
//! the same commit, so the CRM can close the conversation by its id alone.

mod common;

use common::*;
use shared::conversation;
use shared::store::ProcessorStore;

const PNID: &str = "106540352242922";

#[tokio::test]
async fn opening_a_conversation_points_its_alias_at_the_contact_and_a_later_message_adds_none() {
    let state = state();
    run(&state, &fixture("text")).await;
    let opened = state.events.of_type("conversation.opened");
    let conversation_id = opened[0]["data"]["conversation_id"].as_str().unwrap();
    let contact = opened[0]["contact"]["id"].as_str().unwrap();

    let found = state
        .store
        .find_aliases(PNID, &[conversation::alias(conversation_id)])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].contact_id, contact);

    let second = with(&fixture("text"), "wamid.HBgNTEXTAA==", "wamid.SECOND==");
    run(&state, &with(&second, "\"1749416383\"", "\"1749416443\"")).await;
    let other = conversation::conversation_id(PNID, contact, "wamid.SECOND==");
    let none = state
        .store
        .find_aliases(PNID, &[conversation::alias(&other)])
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "counted in the open conversation, no new alias"
    );
}
