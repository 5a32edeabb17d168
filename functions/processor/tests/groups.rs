//! Groups through the processor: a participant's group message is `message.received` with the
//! group and the participant as contact, but no window and no consent; a status of a message
//! sent to a group carries the group and no contact; each group field entry is one typed
//! `group.*` event, once however often Meta posts it.

mod common;

use common::*;
use serde_json::Value;
use shared::store::{Commit, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore, Write};

const PNID: &str = "106540352242922";
const GROUP: &str = "Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjAzNjM0MDQ2OTQyMzM4MjA=";

async fn contact_of(state: &TestState, event: &Value) -> shared::store::ContactState {
    let id = event["contact"]["id"].as_str().expect("a contact");
    state.store.load_contact(PNID, id).await.unwrap()
}

#[tokio::test]
async fn a_group_message_is_the_participant_s_with_the_group_and_opens_no_window() {
    let state = state();
    for _ in 0..2 {
        assert!(run(&state, &fixture("text-group")).await.is_empty());
    }
    let received = state.events.of_type("message.received");
    assert_eq!(received.len(), 1, "{:#?}", state.events.events());
    let e = &received[0];
    assert_eq!(e["data"]["group"]["id"], GROUP);
    assert_eq!(e["data"]["text"], "Bom dia, grupo!");
    assert_eq!(e["contact"]["phone"], "+5511987650100");
    assert_eq!(e["contact"]["name"], "Bia");
    let loaded = contact_of(&state, e).await;
    assert!(loaded.contact.is_some(), "the participant is a contact");
    assert!(loaded.conversation.is_none(), "no window for a group");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_one_to_one_message_says_no_group_and_still_opens_the_window() {
    let state = state();
    run(&state, &fixture("text")).await;
    let e = &state.events.of_type("message.received")[0];
    assert_eq!(e["data"]["group"], Value::Null);
    let conv = contact_of(&state, e).await.conversation.unwrap().record;
    assert_eq!(conv.window_expires_at, Some(1_749_416_383 + 86_400));
}

#[tokio::test]
async fn a_stop_said_in_a_group_changes_no_consent() {
    let state = state();
    let body = fixture("text-group").replace("Bom dia, grupo!", "STOP");
    run(&state, &body).await;
    let types: Vec<Value> = state
        .events
        .events()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(types, ["message.received"]);
    let e = &state.events.of_type("message.received")[0];
    let contact = contact_of(&state, e).await.contact.unwrap().record;
    assert!(!contact.marketing_opt_out);
    assert_eq!(contact.consent_at, None);
}

#[tokio::test]
async fn a_group_message_after_a_private_one_leaves_the_window_where_the_private_one_put_it() {
    let state = state();
    let private = fixture("text").replace("5511987654321", "5511987650100");
    run(&state, &private).await;
    let later = fixture("text-group").replace("1749416383", "1749420000");
    run(&state, &later).await;
    let received = state.events.of_type("message.received");
    assert_eq!(received.len(), 2);
    assert_eq!(received[0]["contact"]["id"], received[1]["contact"]["id"]);
    let conv = contact_of(&state, &received[1])
        .await
        .conversation
        .unwrap()
        .record;
    assert_eq!(conv.last_inbound_at, Some(1_749_416_383));
    assert_eq!(conv.window_expires_at, Some(1_749_416_383 + 86_400));
}

/// What the sender does after Meta accepted its message: store the wamid.
async fn sender_stored(state: &TestState, command_id: &str) {
    let record = MessageRecord {
        wamid: "wamid.HBgNOUTBOUNDAA==".into(),
        business: PNID.into(),
        direction: Direction::Outbound,
        contact_id: None,
        message_type: "text".into(),
        timestamp: 1_749_416_300,
        status: None,
        status_at: None,
        command_id: Some(command_id.into()),
        template: None,
        raw: None,
        ttl: None,
    };
    let commit = Commit {
        outbox: None,
        writes: vec![Write::Message(record, Expect::Absent)],
    };
    state.store.commit(commit).await.unwrap();
}

#[tokio::test]
async fn a_status_of_a_message_sent_to_a_group_carries_the_group_and_no_contact() {
    let state = state();
    sender_stored(&state, "cmd-group-1").await;
    for _ in 0..2 {
        assert!(run(&state, &fixture("status-group-sent")).await.is_empty());
    }
    let statuses = state.events.of_type("message.status");
    assert_eq!(statuses.len(), 1);
    let e = &statuses[0];
    assert_eq!(e["data"]["group"]["id"], GROUP);
    assert_eq!(e["data"]["recipient_id"], GROUP);
    assert_eq!(e["data"]["status"], "sent");
    assert_eq!(e["data"]["origin"], "bridge");
    assert_eq!(e["data"]["command_id"], "cmd-group-1");
    // The group id is not a recipient number: no contact was looked up or made for it.
    assert_eq!(e["contact"], Value::Null);
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_one_to_one_status_says_no_group_and_finds_its_contact() {
    let state = state();
    run(&state, &fixture("text")).await;
    sender_stored(&state, "cmd-1").await;
    run(&state, &fixture("status-sent")).await;
    let e = &state.events.of_type("message.status")[0];
    assert_eq!(e["data"]["group"], Value::Null);
    assert_eq!(e["contact"]["phone"], "+5511987654321");
}

#[tokio::test]
async fn each_group_field_becomes_its_typed_event_once() {
    let cases = [
        (
            "group-lifecycle-create",
            "group.lifecycle_update",
            "group_create",
        ),
        (
            "group-participants-remove",
            "group.participants_update",
            "group_participants_remove",
        ),
        (
            "group-participants-join",
            "group.participants_update",
            "group_participants_add",
        ),
        (
            "group-settings-update",
            "group.settings_update",
            "group_settings_update",
        ),
        (
            "group-status-suspend",
            "group.status_update",
            "group_suspend",
        ),
    ];
    let schemas = Schemas::load();
    for (fixture_name, event_type, meta_type) in cases {
        let state = state();
        for _ in 0..3 {
            assert!(run(&state, &fixture(fixture_name)).await.is_empty());
        }
        let events = state.events.events();
        assert_eq!(events.len(), 1, "{fixture_name}: {events:#?}");
        let e = &events[0];
        assert_eq!(e["type"], event_type, "{fixture_name}");
        assert_eq!(e["data"]["type"], meta_type, "{fixture_name}");
        assert_eq!(e["data"]["group_id"], GROUP, "{fixture_name}");
        assert_eq!(e["occurred_at"], "2025-06-08T20:59:43Z", "{fixture_name}");
        assert_eq!(e["phone_number_id"], PNID, "{fixture_name}");
        assert_eq!(e["contact"], Value::Null, "{fixture_name}");
        let v: Value = serde_json::from_str(&fixture(fixture_name)).unwrap();
        assert_eq!(
            e["data"]["original"], v["entry"][0]["changes"][0]["value"]["groups"][0],
            "{fixture_name}"
        );
        schemas.check_all(&state.events.messages());
    }
}

#[tokio::test]
async fn a_partly_failed_removal_says_who_left_who_did_not_and_why() {
    let state = state();
    run(&state, &fixture("group-participants-remove")).await;
    let e = &state.events.of_type("group.participants_update")[0];
    assert_eq!(e["data"]["succeeded"], false);
    assert_eq!(e["data"]["request_id"], "9c8d7e6f5a4b");
    assert_eq!(e["data"]["removed"][0]["wa_id"], "5511987650101");
    assert_eq!(e["data"]["failed"][0]["wa_id"], "5511987650102");
    assert_eq!(e["data"]["failed"][0]["errors"][0]["code"], 131_203);
    assert_eq!(e["data"]["errors"][0]["code"], 131_210);
}

#[tokio::test]
async fn a_suspension_says_suspended_and_each_of_two_changes_in_one_value_is_an_event() {
    let state = state();
    let two = fixture("group-status-suspend").replace(
        r#"{"timestamp":"1749416383","group_id":"#,
        r#"{"timestamp":"1749416383","group_id":"OTHER","type":"group_suspend_cleared"},{"timestamp":"1749416383","group_id":"#,
    );
    assert!(run(&state, &two).await.is_empty());
    let events = state.events.of_type("group.status_update");
    let seen: Vec<(Value, Value)> = events
        .iter()
        .map(|e| {
            (
                e["data"]["group_id"].clone(),
                e["data"]["suspended"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("OTHER".into(), false.into()), (GROUP.into(), true.into())]
    );
}

#[tokio::test]
async fn a_group_change_without_a_group_id_is_forwarded_raw_and_the_others_still_become_events() {
    let state = state();
    let body = fixture("group-lifecycle-create")
        .replace(r#""groups":[{"#, r#""groups":[{"type":"group_delete"},{"#);
    assert!(run(&state, &body).await.is_empty());
    assert_eq!(state.events.of_type("group.lifecycle_update").len(), 1);
    let unknown = state.events.of_type("whatsapp.unknown");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["data"]["field"], "group_lifecycle_update");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_group_event_whose_publish_fails_goes_out_once_on_redelivery() {
    let state = state_with(Sink::failing(1));
    assert_eq!(
        run(&state, &fixture("group-lifecycle-create")).await,
        ["msg-0"]
    );
    assert!(state.events.events().is_empty());
    assert!(run(&state, &fixture("group-lifecycle-create"))
        .await
        .is_empty());
    assert!(run(&state, &fixture("group-lifecycle-create"))
        .await
        .is_empty());
    assert_eq!(state.events.of_type("group.lifecycle_update").len(), 1);
}

/// The examples docs/crm-contract.md shows are what the processor makes of the fixtures.
#[tokio::test]
async fn the_documented_group_examples_are_the_processor_s_output_for_the_fixtures() {
    let cases = [
        ("group-lifecycle-create", "group.lifecycle_update"),
        ("group-participants-remove", "group.participants_update"),
        ("group-settings-update", "group.settings_update"),
        ("group-status-suspend", "group.status_update"),
        ("text-group", "message.received"),
    ];
    for (fixture_name, event_type) in cases {
        let state = state();
        run(&state, &fixture(fixture_name)).await;
        let made = &state.events.of_type(event_type)[0];
        let path = format!(
            "{}/../../schemas/examples/events/{event_type}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let example: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(made["data"], example["data"], "{event_type}");
        assert_eq!(made["occurred_at"], example["occurred_at"], "{event_type}");
        assert_eq!(made["contact"]["phone"], example["contact"]["phone"]);
    }
}

#[tokio::test]
async fn a_group_change_without_its_own_timestamp_takes_the_webhook_s_time() {
    let state = state();
    let body = fixture("group-status-suspend")
        .replace(r#""timestamp":"1749416383","#, "")
        .replace(
            r#"{"id":"102290129340398","#,
            r#"{"id":"102290129340398","time":1749416000,"#,
        );
    assert!(run(&state, &body).await.is_empty());
    let e = &state.events.of_type("group.status_update")[0];
    assert_eq!(e["occurred_at"], "2025-06-08T20:53:20Z");
}
