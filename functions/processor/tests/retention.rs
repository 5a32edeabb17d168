//! Retention through the processor (in-memory table): the profile and aliases get their TTL
//! without a write per message, an alias never goes before its contact (also the aliases a
//! message does not carry), and an opt-out keeps the contact as long as its proof.

mod common;

use common::*;
use serde_json::Value;
use shared::store::keys;

const PNID: &str = "106540352242922";
const PHONE: &str = "5511987654321";
const UID: &str = "BR.13491208655302741918";
const DAY_MS: i64 = 86_400_000;

async fn at(state: &TestState, webhook_body: &str, now_ms: i64) -> Vec<Value> {
    for record in sqs_event(&bodies(webhook_body)).records {
        processor::process_record(state, &record, now_ms)
            .await
            .expect("processed");
    }
    state.events.of_type("message.received")
}

fn contact_id(events: &[Value]) -> String {
    events
        .last()
        .and_then(|e| e["contact"]["id"].as_str())
        .expect("a contact")
        .to_owned()
}

fn n(item: &Value, name: &str) -> i64 {
    item[name].as_i64().unwrap_or_default()
}

fn profile(state: &TestState, contact_id: &str) -> Value {
    state
        .store
        .get(&keys::contact_pk(PNID, contact_id), keys::PROFILE)
        .expect("profile")
}

fn alias(state: &TestState, alias: &str) -> Value {
    state
        .store
        .get(&keys::alias_pk(PNID, alias), keys::ALIAS)
        .expect("alias")
}

/// The fixture's text from the phone alone, with its own wamid.
fn by_phone(wamid: &str) -> String {
    with(&fixture("text"), "wamid.HBgNTEXTAA==", wamid)
}

#[tokio::test]
async fn a_second_message_within_the_refresh_period_rewrites_neither_profile_nor_alias() {
    let state = state();
    let id = contact_id(&at(&state, &by_phone("wamid.RET1=="), NOW_MS).await);
    let before = (profile(&state, &id), alias(&state, &format!("wa:{PHONE}")));
    assert_eq!(n(&before.0, "ttl"), NOW_MS / 1000 + 365 * 86_400);
    assert_eq!(n(&before.1, "ttl"), n(&before.0, "ttl") + 7 * 86_400);

    at(&state, &by_phone("wamid.RET2=="), NOW_MS + 6 * DAY_MS).await;

    let after = (profile(&state, &id), alias(&state, &format!("wa:{PHONE}")));
    assert_eq!(after, before, "no write of either");
    let conversation = state
        .store
        .get(&keys::contact_pk(PNID, &id), keys::CONVERSATION)
        .expect("conversation");
    assert_eq!(
        n(&conversation, "ttl"),
        (NOW_MS + 6 * DAY_MS) / 1000 + 365 * 86_400,
        "the conversation, written anyway, carries the newest"
    );
}

#[tokio::test]
async fn a_contact_first_known_by_user_id_keeps_every_alias_past_its_profile_when_it_writes_by_phone(
) {
    // The contact's id derives from the user id; its phone aliases come later.
    let state = state();
    at(&state, &fixture("text-bsuid-only"), NOW_MS).await;
    let both = with(
        &by_phone("wamid.RET3=="),
        r#""wa_id":"5511987654321"}"#,
        r#""wa_id":"5511987654321","user_id":"BR.13491208655302741918"}"#,
    );
    let id = contact_id(&at(&state, &both, NOW_MS + 60_000).await);

    // Half a year on, a message by phone alone: the user id's alias is not in it.
    let later = NOW_MS + 190 * DAY_MS;
    let events = at(&state, &by_phone("wamid.RET4=="), later).await;

    assert_eq!(contact_id(&events), id, "one person");
    let profile_ttl = n(&profile(&state, &id), "ttl");
    assert_eq!(
        profile_ttl,
        later / 1000 + 365 * 86_400,
        "moved with the activity"
    );
    for key in [
        format!("uid:{UID}"),
        format!("wa:{PHONE}"),
        "wa:551187654321".into(),
    ] {
        let a = alias(&state, &key);
        assert_eq!(a["contact_id"], id.as_str(), "{key}");
        assert!(n(&a, "ttl") >= profile_ttl, "{key} would go first: {a}");
    }
}

#[tokio::test]
async fn an_opt_out_keeps_the_contact_and_its_aliases_as_long_as_the_proof() {
    let state = state();
    let stop = with(
        &by_phone("wamid.RET5=="),
        r#""body":"#,
        r#""body":"PARAR","x":"#,
    );
    let id = contact_id(&at(&state, &stop, NOW_MS).await);
    assert_eq!(state.events.of_type("contact.opted_out").len(), 1);
    let consent_until = NOW_MS / 1000 + 1825 * 86_400;
    assert_eq!(n(&profile(&state, &id), "ttl"), consent_until);
    assert!(n(&alias(&state, &format!("wa:{PHONE}")), "ttl") >= consent_until);
    let ledger = state
        .store
        .scan_prefix(&keys::contact_pk(PNID, &id))
        .into_iter()
        .filter(|(_, sk, _)| sk.starts_with("CONSENT#"))
        .map(|(_, _, v)| n(&v, "ttl"))
        .collect::<Vec<_>>();
    assert_eq!(ledger, [consent_until]);
}
