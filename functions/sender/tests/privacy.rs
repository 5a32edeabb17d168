//! `erase_contact`, `export_contact` and the audit, over the in-memory state table and bucket.

mod support;

use shared::consent::{ConsentAction, ConsentSource};
use shared::delivery::DeliveryStatus;
use shared::events::{ContactRef, EventSource, EventType};
use shared::store::{ConsentRecord, Direction, MessageRecord, OutboxRecord, ParkedStatus};
use support::*;

/// Another person of the same business, whose data must survive.
const OTHER_ID: &str = "ct_fedcba9876543210fedcba98";
const OTHER_WA: &str = "5521998887777";

/// Every form of Ana's identity that must be gone after her erasure.
const ANA: [&str; 5] = [
    "5511987654321",
    "551187654321",
    "+5511987654321",
    "Ana",
    "BR.77000000000000000001",
];

fn erase(id: &str) -> Value {
    json!({"command_id": id, "type": "erase_contact", "phone_number_id": PN, "to": TO,
           "actor": "dpo-42", "reason": "DSR-311"})
}

fn export(id: &str) -> Value {
    json!({"command_id": id, "type": "export_contact", "phone_number_id": PN,
           "contact_id": CONTACT_ID, "actor": "dpo-42"})
}

fn contact(id: &str, wa: &str, name: &str) -> ContactRef {
    ContactRef {
        id: id.into(),
        wa_id: Some(wa.into()),
        phone: Some(format!("+{wa}")),
        name: Some(name.into()),
        ..ContactRef::default()
    }
}

/// An inbound message of `who` with a status parked beside it and the outbox of its event, as
/// the processor leaves them.
async fn message(sender: &Sender, who: &ContactRef, wamid: &str) {
    let now = shared::now_ms() / 1000;
    let raw = json!({"from": who.wa_id, "id": wamid, "type": "text",
                     "text": {"body": format!("oi, aqui é {}", who.name.clone().unwrap_or_default())}});
    let source = EventSource {
        update_key: format!("msg:{wamid}"),
        phone_number_id: Some(PN.into()),
        waba_id: None,
    };
    let data = shared::events::data(serde_json::Map::from_iter([(
        "text".to_owned(),
        raw["text"]["body"].clone(),
    )]))
    .unwrap();
    let event = source
        .event(EventType::MessageReceived, 0, now, Some(who.clone()), data)
        .unwrap();
    let commit = Commit {
        outbox: Some(shared::outbox::outbox(
            &format!("msg:{wamid}"),
            vec![event],
            now * 1000,
            now + 86_400,
        )),
        writes: vec![
            Write::Message(
                MessageRecord {
                    wamid: wamid.into(),
                    business: PN.into(),
                    direction: Direction::Inbound,
                    contact_id: Some(who.id.clone()),
                    message_type: "text".into(),
                    timestamp: now,
                    status: None,
                    status_at: None,
                    command_id: None,
                    template: None,
                    raw: Some(raw.to_string()),
                    ttl: Some(now + 86_400),
                },
                Expect::Absent,
            ),
            Write::Consent(ConsentRecord {
                business: PN.into(),
                contact_id: who.id.clone(),
                action: ConsentAction::OptOut,
                source: ConsentSource::Keyword,
                category: "marketing".into(),
                occurred_at: now - 600,
                trigger_wamid: Some(wamid.into()),
                trigger: Some("PARE".into()),
                update_key: format!("msg:{wamid}"),
                // As the processor derives it: a hash of the update key.
                entry_id: shared::privacy::export_id(wamid),
                recorded_at_ms: now * 1000,
                ttl: None,
            }),
        ],
    };
    sender.state.store.commit(commit).await.unwrap();
    // A status parked under the message (a sibling of the indexed item, no contact_id).
    sender
        .state
        .store
        .put_items(&[(
            ItemKey::new(format!("MSG#{wamid}"), "PARKED#read"),
            serde_json::to_value(ParkedStatus {
                wamid: wamid.into(),
                business: PN.into(),
                status: DeliveryStatus::Read,
                timestamp: now,
                raw: json!({"recipient_id": who.wa_id}).to_string(),
                parked_at_ms: now * 1000,
                ttl: now + 86_400,
                due_bucket: None,
                due_at: None,
            })
            .unwrap(),
        )])
        .await
        .unwrap();
}

/// Ana (opted out, a user id alias, a conversation alias, an earlier command's attempt, two
/// media objects, an old export) and Bruno beside her.
async fn two_people(sender: &Sender) {
    sender.knows_the_contact(true, true).await;
    let ana = contact(CONTACT_ID, WA_ID, "Ana");
    message(sender, &ana, "wamid.ANA1").await;
    message(sender, &ana, "wamid.ANA2").await;
    let bruno = contact(OTHER_ID, OTHER_WA, "Bruno");
    message(sender, &bruno, "wamid.BRUNO1").await;
    let aliases = [
        ("uid:BR.77000000000000000001", CONTACT_ID),
        ("wa:551187654321", CONTACT_ID),
        ("conv:cv_ana", CONTACT_ID),
        (&*format!("wa:{OTHER_WA}"), OTHER_ID),
    ];
    let writes = aliases
        .iter()
        .map(|(alias, id)| Write::Alias {
            record: AliasRecord {
                business: PN.into(),
                alias: (*alias).into(),
                contact_id: (*id).into(),
                ttl: None,
            },
            replace: false,
        })
        .collect();
    sender
        .state
        .store
        .commit(Commit {
            outbox: None,
            writes,
        })
        .await
        .unwrap();
    // An earlier command to Ana: its outcome outbox and its send attempt.
    let now = shared::now_ms();
    let source = EventSource {
        update_key: "cmd:c-old".into(),
        phone_number_id: Some(PN.into()),
        waba_id: None,
    };
    let accepted = source
        .event(
            EventType::CommandAccepted,
            0,
            now / 1000,
            Some(ana.clone()),
            shared::events::data(serde_json::Map::from_iter([(
                "to".to_owned(),
                json!("+5511987654321"),
            )]))
            .unwrap(),
        )
        .unwrap();
    let old: OutboxRecord = shared::outbox::outbox("cmd:c-old", vec![accepted], now, now);
    sender
        .state
        .store
        .put_items(&[
            (
                ItemKey::new("OUTBOX#cmd:c-old", "OUTBOX"),
                serde_json::to_value(&old).unwrap(),
            ),
            (
                ItemKey::new("CMD#c-old", "ATTEMPT"),
                json!({"command_id": "c-old", "accepted": {"to": "+5511987654321", "wa_id": WA_ID}}),
            ),
        ])
        .await
        .unwrap();
    let blobs = &sender.state.privacy.blobs;
    for (key, bytes) in [
        (
            shared::blob::keys::media(PN, CONTACT_ID, "wamid.ANA1"),
            "jpeg",
        ),
        (
            shared::blob::keys::media(PN, CONTACT_ID, "wamid.ANA2"),
            "ogg",
        ),
        (shared::blob::keys::export(PN, CONTACT_ID, "ex_old"), "{}"),
        (
            shared::blob::keys::media(PN, OTHER_ID, "wamid.BRUNO1"),
            "png",
        ),
    ] {
        blobs
            .put(&key, bytes.as_bytes().to_vec(), "application/octet-stream")
            .await
            .unwrap();
    }
}

fn all_items(sender: &Sender) -> Vec<(String, String, Value)> {
    sender.state.store.scan_prefix("")
}

/// The items whose key or content holds any form of Ana's identity.
fn holding_ana(sender: &Sender) -> Vec<String> {
    all_items(sender)
        .into_iter()
        .filter(|(pk, sk, v)| {
            let text = format!("{pk} {sk} {v}");
            ANA.iter().any(|form| text.contains(form)) || text.contains("wamid.ANA")
        })
        .map(|(pk, sk, _)| format!("{pk} / {sk}"))
        .collect()
}

fn audits(sender: &Sender) -> Vec<Value> {
    sender
        .state
        .store
        .scan_prefix("AUDIT#")
        .into_iter()
        .map(|(_, _, v)| v)
        .collect()
}

#[tokio::test]
async fn erasing_a_person_removes_every_item_and_object_and_keeps_only_the_hashed_ledger() {
    let sender = sender(vec![]);
    two_people(&sender).await;
    assert!(!holding_ana(&sender).is_empty());
    let before_bruno = all_items(&sender)
        .iter()
        .filter(|(pk, _, v)| pk.contains("BRUNO") || v.to_string().contains(OTHER_ID))
        .count();

    let response = sender.receives(vec![record(&erase("c-erase"))]).await;

    assert!(failures(&response).is_empty(), "consumed");
    assert!(sender.requests().is_empty(), "nothing goes to Meta");
    let event = sender.only_event();
    assert_contract(&sender);
    assert_eq!(event["type"], "contact.erased");
    assert_eq!(event["contact"]["id"], CONTACT_ID);
    assert_eq!(event["contact"]["phone"], Value::Null);
    let data = &event["data"];
    assert_eq!(data["contact_id"], CONTACT_ID);
    assert_eq!(data["actor"], "dpo-42");
    assert_eq!(data["reason"], "DSR-311");
    // Profile, conversation, 2 consent entries, 4 aliases (wa:, wa: without the ninth digit,
    // uid:, conv:), 2 messages + 2 parked statuses, 2 message outboxes, the old command's
    // outbox + attempt.
    assert_eq!(data["items_removed"], 16, "{data}");
    assert_eq!(data["objects_removed"], 3);
    assert_eq!(data["consent_entries_kept"], 2);
    let subject = data["subject"].as_str().unwrap().to_owned();
    assert!(subject.starts_with("hs_"));

    assert_eq!(holding_ana(&sender), Vec::<String>::new());
    assert_eq!(
        sender.state.privacy.blobs.keys(),
        vec![shared::blob::keys::media(PN, OTHER_ID, "wamid.BRUNO1")],
        "only Bruno's object is left"
    );
    let after_bruno = all_items(&sender)
        .iter()
        .filter(|(pk, _, v)| pk.contains("BRUNO") || v.to_string().contains(OTHER_ID))
        .count();
    assert_eq!(before_bruno, after_bruno, "Bruno's items are untouched");
    let kept = sender
        .state
        .store
        .scan_prefix(&format!("ERASED#{PN}#{subject}"));
    assert_eq!(kept.len(), 2, "the ledger, under the keyed hash");
    assert!(kept.iter().all(|(_, _, v)| v.get("trigger").is_none()
        && v.get("trigger_wamid").is_none()
        && v["action"] == "opt_out"));
    assert!(
        sender.state.store.get("CMD#c-erase", "ERASURE").is_none(),
        "no progress left"
    );
    let audit = audits(&sender);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"], "contact.erased");
    assert_eq!(audit[0]["actor"], "dpo-42");
    assert_eq!(audit[0]["subject"], subject.as_str());
    assert!(audit[0]["ttl"].as_i64().unwrap() > shared::now_ms() / 1000 + 364 * 86_400);
    // The outcome's outbox holds no identifier either.
    let outbox = sender
        .state
        .store
        .get("OUTBOX#cmd:c-erase", "OUTBOX")
        .unwrap();
    assert!(ANA.iter().all(|f| !outbox.to_string().contains(f)));
}

#[tokio::test]
async fn an_erasure_delivered_again_repeats_its_event_and_changes_nothing() {
    let sender = sender(vec![]);
    two_people(&sender).await;
    sender.receives(vec![record(&erase("c-erase"))]).await;
    let items = all_items(&sender);

    sender.receives(vec![record(&erase("c-erase"))]).await;

    let events = sender.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["event_id"], events[1]["event_id"]);
    assert_eq!(all_items(&sender), items);
}

#[tokio::test]
async fn an_erasure_short_of_time_continues_in_the_next_delivery() {
    let sender = sender(vec![]);
    two_people(&sender).await;

    // Less than the time kept for the objects and the outcome: only the start is done.
    let first = sender
        .receives_within(vec![record(&erase("c-erase"))], Duration::from_millis(2500))
        .await;

    assert_eq!(
        failures(&first),
        vec!["msg-c-erase".to_owned()],
        "comes back"
    );
    assert!(sender.events().is_empty());
    let progress = sender.state.store.get("CMD#c-erase", "ERASURE").unwrap();
    assert_eq!(progress["erasing"], CONTACT_ID);
    assert!(ANA.iter().all(|f| !progress.to_string().contains(f)));
    assert!(progress.get("contact_id").is_none(), "not in contact-index");

    let second = sender.receives(vec![record(&erase("c-erase"))]).await;

    assert!(failures(&second).is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "contact.erased");
    assert_eq!(event["data"]["items_removed"], 16);
    assert_eq!(event["data"]["consent_entries_kept"], 2);
    assert_eq!(holding_ana(&sender), Vec::<String>::new());
}

#[tokio::test]
async fn erasing_or_exporting_someone_unknown_is_rejected_and_audited_without_their_number() {
    let sender = sender(vec![]);

    sender.receives(vec![record(&erase("c-erase"))]).await;
    sender.receives(vec![record(&export("c-export"))]).await;

    let events = sender.events();
    assert_contract(&sender);
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e["type"], "command.rejected");
        assert_eq!(e["data"]["reason"], "unknown_contact");
        assert_eq!(e["contact"], Value::Null);
        assert_eq!(e["data"]["actor"], "dpo-42");
    }
    let audit = audits(&sender);
    assert_eq!(audit.len(), 2);
    assert!(audit
        .iter()
        .all(|a| a["outcome"] == "command.rejected" && a["reason"] == "unknown_contact"));
    assert!(all_items(&sender)
        .iter()
        .all(|(pk, sk, v)| ANA.iter().all(|f| !format!("{pk}{sk}{v}").contains(f))));
}

#[tokio::test]
async fn a_failed_erasure_is_audited_then_finished_when_the_table_answers_again() {
    let sender = sender(vec![]);
    two_people(&sender).await;
    // The first write (the kept ledger) is refused.
    sender.state.store.fail_next_commits(1);

    let first = sender.receives(vec![record(&erase("c-erase"))]).await;

    assert_eq!(failures(&first), vec!["msg-c-erase".to_owned()]);
    let audit = audits(&sender);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"], "failed_attempt");
    assert_eq!(audit[0]["reason"], "state_table_unavailable");
    assert_eq!(audit[0]["command_type"], "erase_contact");

    sender.receives(vec![record(&erase("c-erase"))]).await;

    assert_eq!(sender.only_event()["type"], "contact.erased");
    assert_eq!(holding_ana(&sender), Vec::<String>::new());
    assert_eq!(audits(&sender).len(), 2);
}

#[tokio::test]
async fn marketing_to_an_erased_person_who_had_opted_out_is_still_refused() {
    let sender = sender(vec![]);
    two_people(&sender).await;
    sender.receives(vec![record(&erase("c-erase"))]).await;
    sender.learned_category("promo", "MARKETING").await;
    sender.learned_category("receipt", "UTILITY").await;

    // Written with the other Brazilian form: the hash is of the canonical number.
    let mut promo = template("c-promo", "promo", None);
    promo["to"] = "+55 11 8765-4321".into();
    sender.receives(vec![record(&promo)]).await;
    sender
        .receives(vec![record(&template("c-receipt", "receipt", None))])
        .await;

    let events = sender.events();
    let promo = events
        .iter()
        .find(|e| e["data"]["command_id"] == "c-promo")
        .unwrap();
    assert_eq!(promo["type"], "command.rejected");
    assert_eq!(promo["data"]["reason"], "opted_out");
    let receipt = events
        .iter()
        .find(|e| e["data"]["command_id"] == "c-receipt")
        .unwrap();
    assert_eq!(receipt["type"], "command.accepted", "utility still goes");
    assert_eq!(sender.requests().len(), 1);
}

#[tokio::test]
async fn without_the_key_of_the_erasure_the_kept_ledger_is_not_found() {
    let mut sender = sender(vec![]);
    two_people(&sender).await;
    sender.receives(vec![record(&erase("c-erase"))]).await;
    sender.learned_category("promo", "MARKETING").await;
    // Another key (a second rotation): the hash no longer matches — the reason the secret is
    // retained and rotated at most once.
    sender.state.privacy.keys =
        CachedSecrets::new(privacy_keys("another-key"), Duration::from_secs(300));

    sender
        .receives(vec![record(&template("c-promo", "promo", None))])
        .await;

    assert_eq!(sender.events().last().unwrap()["type"], "command.accepted");
}

#[tokio::test]
async fn a_newer_opt_in_of_the_returning_contact_wins_over_the_kept_opt_out() {
    let sender = sender(vec![]);
    two_people(&sender).await;
    sender.receives(vec![record(&erase("c-erase"))]).await;
    sender.learned_category("promo", "MARKETING").await;
    // Ana comes back and says "start" now: her new contact has a newer decision.
    let now_ms = shared::now_ms();
    let commit = Commit {
        outbox: None,
        writes: vec![
            Write::Alias {
                record: AliasRecord {
                    business: PN.into(),
                    alias: format!("wa:{WA_ID}"),
                    contact_id: CONTACT_ID.into(),
                    ttl: None,
                },
                replace: false,
            },
            Write::Contact(
                ContactRecord {
                    business: PN.into(),
                    contact_id: CONTACT_ID.into(),
                    wa_id: Some(WA_ID.into()),
                    phone: Some(format!("+{WA_ID}")),
                    user_id: None,
                    parent_user_id: None,
                    username: None,
                    name: None,
                    marketing_opt_out: false,
                    consent_at: Some(now_ms / 1000),
                    created_at_ms: now_ms,
                    updated_at_ms: now_ms,
                    ttl: None,
                },
                Expect::Absent,
            ),
        ],
    };
    sender.state.store.commit(commit).await.unwrap();

    sender
        .receives(vec![record(&template("c-promo", "promo", None))])
        .await;

    assert_eq!(sender.events().last().unwrap()["type"], "command.accepted");
}

#[tokio::test]
async fn an_export_holds_the_persons_messages_and_media_keys_behind_a_presigned_url() {
    let sender = sender(vec![]);
    two_people(&sender).await;

    let response = sender.receives(vec![record(&export("c-export"))]).await;

    assert!(failures(&response).is_empty());
    let event = sender.only_event();
    assert_contract(&sender);
    assert_eq!(event["type"], "contact.exported");
    assert_eq!(event["contact"]["phone"], Value::Null);
    let data = &event["data"];
    let key = data["key"].as_str().unwrap();
    assert!(key.starts_with(&shared::blob::keys::exports_prefix(PN, CONTACT_ID)));
    assert_eq!(data["bucket"], "data");
    assert_eq!(
        data["url"],
        format!("memory://data/{key}?expires=3600"),
        "valid EXPORT_URL_MINUTES"
    );
    assert_eq!(data["media_objects"], 2);
    let blob = sender.state.privacy.blobs.get(key).await.unwrap().unwrap();
    assert_eq!(blob.content_type.as_deref(), Some("application/json"));
    let doc: Value = serde_json::from_slice(&blob.bytes).unwrap();
    assert_eq!(doc["contact_id"], CONTACT_ID);
    assert_eq!(doc["contact"]["name"], "Ana");
    let wamids: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["wamid"].as_str())
        .collect();
    assert_eq!(wamids, ["wamid.ANA1", "wamid.ANA2"]);
    assert_eq!(doc["messages"][0]["raw"]["text"]["body"], "oi, aqui é Ana");
    assert_eq!(doc["parked_statuses"].as_array().unwrap().len(), 2);
    assert_eq!(doc["consent"].as_array().unwrap().len(), 2);
    assert_eq!(doc["aliases"].as_array().unwrap().len(), 4);
    let media: Vec<&str> = doc["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["key"].as_str())
        .collect();
    assert_eq!(media.len(), 2);
    assert!(media
        .iter()
        .all(|k| k.starts_with(&shared::blob::keys::media_prefix(PN, CONTACT_ID))));
    assert!(!doc.to_string().contains("Bruno"), "nobody else's data");
    let audit = audits(&sender);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"], "contact.exported");
    assert!(audit[0]["subject"].as_str().unwrap().starts_with("hs_"));
}

#[tokio::test]
async fn a_commands_actor_is_in_its_outcome_and_its_audit_and_a_command_without_one_is_not_audited()
{
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let mut with_actor = text("c-1");
    with_actor["actor"] = "agent-7".into();

    sender.receives(vec![record(&with_actor)]).await;
    sender.receives(vec![record(&text("c-2"))]).await;

    let events = sender.events();
    assert_contract(&sender);
    assert_eq!(events[0]["type"], "command.accepted");
    assert_eq!(events[0]["data"]["actor"], "agent-7");
    assert!(events[1]["data"].get("actor").is_none());
    let audit = audits(&sender);
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["command_id"], "c-1");
    assert_eq!(audit[0]["command_type"], "send_text");
    assert_eq!(audit[0]["outcome"], "command.accepted");
    let text = audit[0].to_string();
    assert!(ANA.iter().all(|f| !text.contains(f)), "{text}");
}

#[tokio::test]
async fn a_rejected_command_keeps_its_actor_in_the_event_and_the_audit() {
    let sender = sender(vec![]);
    sender.knows_the_contact(false, false).await;
    let mut late = text("c-1");
    late["actor"] = "agent-7".into();

    sender.receives(vec![record(&late)]).await;

    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["actor"], "agent-7");
    let audit = audits(&sender);
    assert_eq!(audit[0]["outcome"], "command.rejected");
    assert_eq!(audit[0]["reason"], "window_closed");
}
