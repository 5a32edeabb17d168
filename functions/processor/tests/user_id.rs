//! Identity by business-scoped user id: a user id change (system notice or `user_id_update`)
//! moves the same contact, with its window and consent, exactly once; a person known by phone
//! and later by user id alone (or the other way round) stays one contact; parent ids and
//! usernames are kept. Through the real batch handler with the in-memory state table.

mod common;

use common::*;
use serde_json::Value;
use shared::store::{keys, ContactRecord, ConversationRecord, ProcessorStore};

const PNID: &str = "106540352242922";
const OLD: &str = "BR.13491208655302741918";
const NEW: &str = "BR.20871635530274191849";

fn alias_target(state: &TestState, alias: &str) -> Option<String> {
    let item = state.store.get(&keys::alias_pk(PNID, alias), keys::ALIAS)?;
    item["contact_id"].as_str().map(str::to_owned)
}

async fn stored(
    state: &TestState,
    contact_id: &str,
) -> (ContactRecord, Option<ConversationRecord>) {
    let s = state.store.load_contact(PNID, contact_id).await.unwrap();
    (s.contact.unwrap().record, s.conversation.map(|c| c.record))
}

fn id_of(event: &Value) -> String {
    event["contact"]["id"].as_str().unwrap().to_owned()
}

/// A user-id-only person writes "PARAR" (opts out of marketing) in a message of their own.
fn stop_from_user_id() -> String {
    with(
        &with(
            &fixture("text-bsuid-only"),
            r#""body":"oi""#,
            r#""body":"PARAR""#,
        ),
        "wamid.BSUID==",
        "wamid.STOP==",
    )
}

#[tokio::test]
async fn a_user_id_change_keeps_the_contact_its_window_and_its_opt_out() {
    let state = state();
    run(&state, &fixture("text-bsuid-only")).await;
    run(&state, &stop_from_user_id()).await;
    let contact_id = id_of(&state.events.of_type("message.received")[0]);
    let (before, window_before) = stored(&state, &contact_id).await;
    assert!(before.marketing_opt_out);

    assert!(run(&state, &fixture("system-user-id-changed"))
        .await
        .is_empty());

    let changed = state.events.of_type("contact.user_id_changed");
    assert_eq!(changed.len(), 1, "{:#?}", state.events.events());
    assert_eq!(id_of(&changed[0]), contact_id);
    assert_eq!(changed[0]["data"]["previous_user_id"], OLD);
    assert_eq!(changed[0]["data"]["user_id"], NEW);
    assert_eq!(
        changed[0]["data"]["parent_user_id"],
        "BR.ENT.20871635530274191849"
    );
    assert_eq!(changed[0]["data"]["wamid"], "wamid.SYSTEMUID==");
    assert_eq!(changed[0]["contact"]["user_id"], NEW);
    let (after, window_after) = stored(&state, &contact_id).await;
    assert_eq!(after.user_id.as_deref(), Some(NEW));
    assert!(after.marketing_opt_out, "consent follows the contact");
    assert_eq!(
        window_after, window_before,
        "a notice neither opens nor moves the window"
    );
    assert_eq!(
        alias_target(&state, &format!("uid:{NEW}")),
        Some(contact_id.clone())
    );
    assert_eq!(alias_target(&state, &format!("uid:{OLD}")), None);

    // The person writes again under the new id: the same contact.
    let again = with(
        &with(&fixture("text-bsuid-only"), OLD, NEW),
        "wamid.BSUID==",
        "wamid.AFTER==",
    );
    run(&state, &again).await;
    let received = state.events.of_type("message.received");
    assert_eq!(id_of(received.last().unwrap()), contact_id);
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_change_reported_again_or_both_ways_emits_one_event() {
    let state = state();
    run(&state, &fixture("text-bsuid-only")).await;
    run(&state, &fixture("system-user-id-changed")).await;
    run(&state, &fixture("system-user-id-changed")).await;
    // Meta's user_id_update for the same change (it also names the number now).
    run(&state, &fixture("user-id-update")).await;
    run(&state, &fixture("user-id-update")).await;
    assert_eq!(state.events.of_type("contact.user_id_changed").len(), 1);
    let ids: std::collections::BTreeSet<String> = state.events.events().iter().map(id_of).collect();
    assert_eq!(ids.len(), 1, "one person, one contact: {ids:?}");
}

#[tokio::test]
async fn the_user_id_update_field_moves_a_contact_known_by_phone() {
    let state = state();
    let both = with(
        &fixture("text"),
        r#""wa_id":"5511987654321"}"#,
        &format!(r#""wa_id":"5511987654321","user_id":"{OLD}"}}"#),
    );
    run(&state, &both).await;
    let contact_id = id_of(&state.events.of_type("message.received")[0]);

    assert!(run(&state, &fixture("user-id-update")).await.is_empty());

    let changed = state.events.of_type("contact.user_id_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(id_of(&changed[0]), contact_id);
    assert_eq!(changed[0]["occurred_at"], "2025-06-08T21:00:00Z");
    assert_eq!(changed[0]["data"]["previous_user_id"], OLD);
    assert_eq!(changed[0]["data"]["user_id"], NEW);
    assert_eq!(changed[0]["data"]["wamid"], Value::Null);
    assert_eq!(changed[0]["contact"]["phone"], "+5511987654321");
    assert_eq!(
        changed[0]["contact"]["parent_user_id"],
        "BR.ENT.20871635530274191849"
    );
    assert_eq!(alias_target(&state, &format!("uid:{OLD}")), None);
    assert_eq!(
        alias_target(&state, &format!("uid:{NEW}")),
        Some(contact_id.clone())
    );
    // Later by the new user id alone: still that contact, phone included.
    let alone = with(
        &with(&fixture("text-bsuid-only"), OLD, NEW),
        "wamid.BSUID==",
        "wamid.ALONE==",
    );
    run(&state, &alone).await;
    let last = state.events.of_type("message.received").pop().unwrap();
    assert_eq!(id_of(&last), contact_id);
    assert_eq!(last["contact"]["phone"], "+5511987654321");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_number_change_carrying_the_new_user_id_moves_both() {
    let state = state();
    let both = with(
        &fixture("text"),
        r#""wa_id":"5511987654321"}"#,
        &format!(r#""wa_id":"5511987654321","user_id":"{OLD}"}}"#),
    );
    run(&state, &both).await;
    let contact_id = id_of(&state.events.of_type("message.received")[0]);
    run(&state, &fixture("system-number-changed-user-id")).await;

    let number = state.events.of_type("contact.number_changed");
    let user = state.events.of_type("contact.user_id_changed");
    assert_eq!((number.len(), user.len()), (1, 1));
    assert_eq!(number[0]["data"]["phone"], "+5511976543210");
    assert_eq!(user[0]["data"]["previous_user_id"], OLD);
    assert_eq!(user[0]["contact"]["user_id"], NEW);
    assert_eq!(user[0]["contact"]["phone"], "+5511976543210");
    assert_eq!(id_of(&user[0]), contact_id);
    assert_eq!(alias_target(&state, "wa:5511987654321"), None);
    assert_eq!(
        alias_target(&state, "wa:5511976543210"),
        Some(contact_id.clone())
    );
    assert_eq!(
        alias_target(&state, &format!("uid:{NEW}")),
        Some(contact_id.clone())
    );
    assert_eq!(alias_target(&state, &format!("uid:{OLD}")), None);
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn known_by_user_id_then_by_phone_alone_is_one_contact() {
    let state = state();
    run(&state, &fixture("text-bsuid-only")).await;
    // Meta shares the number with the user id once (e.g. the person is in the contact book)…
    let both = with(
        &fixture("image"),
        r#""wa_id":"5511987654321"}"#,
        &format!(r#""wa_id":"5511987654321","user_id":"{OLD}"}}"#),
    );
    run(&state, &both).await;
    // …later the number arrives alone.
    run(&state, &fixture("text")).await;
    let ids: Vec<String> = state
        .events
        .of_type("message.received")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn parent_user_id_and_username_are_kept_on_the_contact() {
    let state = state();
    run(&state, &fixture("text-username")).await;
    let first = &state.events.of_type("message.received")[0];
    assert_eq!(first["contact"]["username"], "@ana.compras");
    assert_eq!(
        first["contact"]["parent_user_id"],
        "BR.ENT.11815799212886844830"
    );
    assert_eq!(first["contact"]["phone"], Value::Null);
    // A later message without them does not erase them.
    run(&state, &fixture("text-bsuid-only")).await;
    let second = &state.events.of_type("message.received")[1];
    assert_eq!(id_of(second), id_of(first));
    assert_eq!(second["contact"]["username"], "@ana.compras");
    let (record, _) = stored(&state, &id_of(first)).await;
    assert_eq!(record.username.as_deref(), Some("@ana.compras"));
    assert_eq!(
        record.parent_user_id.as_deref(),
        Some("BR.ENT.11815799212886844830")
    );
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_change_for_someone_never_seen_creates_one_contact_under_the_new_id() {
    let state = state();
    run(&state, &fixture("system-user-id-changed")).await;
    let changed = state.events.of_type("contact.user_id_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["previous_user_id"], OLD);
    let contact_id = id_of(&changed[0]);
    assert_eq!(
        alias_target(&state, &format!("uid:{NEW}")),
        Some(contact_id)
    );
    assert_eq!(alias_target(&state, &format!("uid:{OLD}")), None);
}

#[tokio::test]
async fn an_update_without_a_current_user_id_changes_nothing_and_is_forwarded_raw() {
    let state = state();
    run(&state, &fixture("text-bsuid-only")).await;
    let broken = with(
        &fixture("user-id-update"),
        &format!(r#""current":"{NEW}""#),
        r#""current":"not#an id""#,
    );
    assert!(run(&state, &broken).await.is_empty(), "no record fails");
    assert!(state.events.of_type("contact.user_id_changed").is_empty());
    assert!(alias_target(&state, &format!("uid:{OLD}")).is_some());
    let unknown = state.events.of_type("whatsapp.unknown");
    assert_eq!(unknown.len(), 1, "what Meta sent still reaches the CRM");
    assert_eq!(unknown[0]["data"]["field"], "user_id_update");
    assert_eq!(
        unknown[0]["data"]["original"]["user_id_update"][0]["user_id"]["current"],
        "not#an id"
    );
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn when_phone_and_user_id_name_two_contacts_the_user_id_decides() {
    let state = state();
    run(&state, &fixture("text")).await;
    run(&state, &fixture("text-bsuid-only")).await;
    let received = state.events.of_type("message.received");
    let (by_phone, by_user_id) = (id_of(&received[0]), id_of(&received[1]));
    assert_ne!(
        by_phone, by_user_id,
        "two contacts before anything linked them"
    );
    let both = with(
        &with(
            &fixture("image"),
            r#""wa_id":"5511987654321"}"#,
            &format!(r#""wa_id":"5511987654321","user_id":"{OLD}"}}"#),
        ),
        r#""from":"5511987654321""#,
        &format!(r#""from":"5511987654321","from_user_id":"{OLD}""#),
    );
    run(&state, &both).await;
    let last = state.events.of_type("message.received").pop().unwrap();
    assert_eq!(id_of(&last), by_user_id, "Meta: match by user id first");
}
