//! Processor tests: every fixture in `events/meta/` through the real batch handler, with the
//! in-memory state table and a recording (or failing) event sink. Every event is validated
//! against its JSON Schema.

mod common;

use common::*;
use serde_json::Value;
use shared::delivery::{self, DeliveryStatus, StatusContext};
use shared::store::{
    keys, Commit, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore, Write,
};

const OUTBOUND: &str = "wamid.HBgNOUTBOUNDAA==";
const PNID: &str = "106540352242922";

fn contact_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["contact"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// What the sender does after Meta accepted a message: store the wamid.
async fn sender_stores<S: ProcessorStore>(store: &S, contact_id: Option<&str>, command_id: &str) {
    let outcome = store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Message(
                MessageRecord {
                    wamid: OUTBOUND.into(),
                    business: PNID.into(),
                    direction: Direction::Outbound,
                    contact_id: contact_id.map(str::to_owned),
                    message_type: "text".into(),
                    timestamp: 1_749_416_300,
                    status: None,
                    status_at: None,
                    command_id: Some(command_id.into()),
                    template: None,
                    raw: None,
                    ttl: None,
                },
                Expect::Absent,
            )],
        })
        .await
        .unwrap();
    assert_eq!(outcome, shared::store::CommitOutcome::Applied);
}

fn status_ctx() -> StatusContext {
    StatusContext {
        business: PNID.into(),
        waba_id: None,
        now_ms: NOW_MS,
        retention: shared::retention::Retention {
            messages_days: 8,
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn every_fixture_is_processed_into_events_that_match_their_schemas() {
    let schemas = Schemas::load();
    for name in fixture_names() {
        let state = state();
        if name.starts_with("status-") {
            sender_stores(&state.store, None, "cmd-1").await;
        }
        let failed = run(&state, &fixture(&name)).await;
        assert!(failed.is_empty(), "{name}: records failed");
        let messages = state.events.messages();
        assert!(!messages.is_empty(), "{name}: no event");
        schemas.check_all(&messages);
    }
}

#[tokio::test]
async fn every_message_type_gives_one_message_received_with_meta_s_object_inside() {
    for name in fixture_names() {
        let body = fixture(&name);
        let v: Value = serde_json::from_str(&body).unwrap();
        let Some(original) = v["entry"][0]["changes"][0]["value"]["messages"]
            .get(0)
            .cloned()
        else {
            continue;
        };
        let state = state();
        run(&state, &body).await;
        let received = state.events.of_type("message.received");
        assert_eq!(received.len(), 1, "{name}");
        assert_eq!(received[0]["data"]["original"], original, "{name}");
        assert_eq!(received[0]["data"]["type"], original["type"], "{name}");
    }
}

#[tokio::test]
async fn the_original_message_is_passed_on_byte_for_byte() {
    let state = state();
    run(&state, &fixture("text")).await;
    let body = &state.events.messages()[0].body;
    assert!(body.contains(
        r#""body":"Ol\u00e1! Voc\u00ea tem em azul? \ud83d\udc4b @loja https:\/\/ex.com\/a""#
    ));
}

#[tokio::test]
async fn normalises_each_message_type() {
    let cases: [(&str, &str, Value); 10] = [
        (
            "text",
            "/data/text",
            "Olá! Você tem em azul? 👋 @loja https://ex.com/a".into(),
        ),
        ("image", "/data/media/caption", "Foto do produto".into()),
        ("audio", "/data/media/voice", true.into()),
        ("location", "/data/location/latitude", (-23.5505).into()),
        (
            "interactive-flow",
            "/data/interactive/response/cpf",
            "000".into(),
        ),
        ("interactive-list", "/data/interactive/id", "row-2".into()),
        ("reaction-removed", "/data/reaction/removed", true.into()),
        (
            "text-reply",
            "/data/context/reply_to/id",
            "wamid.PREVIOUS==".into(),
        ),
        ("text-forwarded", "/data/context/forwarded", true.into()),
        (
            "text-ad-referral",
            "/data/referral/ctwa_clid",
            "ARAkLkA8rmlFeiCktEJQ".into(),
        ),
    ];
    for (name, pointer, expected) in cases {
        let state = state();
        run(&state, &fixture(name)).await;
        let event = &state.events.of_type("message.received")[0];
        assert_eq!(event.pointer(pointer), Some(&expected), "{name} {pointer}");
    }
    let state = common::state();
    run(&state, &fixture("unsupported")).await;
    let event = &state.events.of_type("message.received")[0];
    assert_eq!(event["data"]["errors"][0]["code"], 131_051);
    let state = common::state();
    run(
        &state,
        &with(
            &fixture("text"),
            "\"type\":\"text\"",
            "\"type\":\"hologram\"",
        ),
    )
    .await;
    assert_eq!(
        state.events.of_type("message.received")[0]["data"]["unknown_type"],
        true
    );
}

#[tokio::test]
async fn a_text_with_a_lone_surrogate_keeps_its_wamid_type_and_text_with_u_fffd() {
    // A client truncating mid-emoji leaves the high half of a pair behind (`\ud83d` alone).
    let body = with(&fixture("text"), r"\ud83d\udc4b @loja", r"\ud800 @loja");
    let state = state();
    assert!(run(&state, &body).await.is_empty());
    let event = &state.events.of_type("message.received")[0];
    assert_eq!(event["data"]["wamid"], "wamid.HBgNTEXTAA==");
    assert_eq!(event["data"]["type"], "text");
    assert_eq!(event["data"]["unknown_type"], false);
    assert_eq!(
        event["data"]["text"],
        "Olá! Você tem em azul? \u{fffd} @loja https://ex.com/a"
    );
    assert_eq!(event["data"]["from"], "5511987654321");
    assert_eq!(event["contact"]["name"], "João Silva");
    assert_eq!(event["data"]["original"]["id"], "wamid.HBgNTEXTAA==");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn one_field_of_the_wrong_shape_leaves_the_others() {
    let body = with(
        &fixture("text"),
        r#""timestamp":"1749416383""#,
        r#""timestamp":{"odd":true},"from_user_id":["x"]"#,
    );
    let state = state();
    assert!(run(&state, &body).await.is_empty());
    let event = &state.events.of_type("message.received")[0];
    assert_eq!(event["data"]["wamid"], "wamid.HBgNTEXTAA==");
    assert_eq!(event["data"]["type"], "text");
    assert_eq!(event["data"]["from_user_id"], Value::Null);
    assert!(event["data"]["text"].as_str().unwrap().starts_with("Olá!"));
}

#[tokio::test]
async fn the_same_update_three_times_gives_one_event_and_one_state_change() {
    let state = state();
    for _ in 0..3 {
        assert!(run(&state, &fixture("text")).await.is_empty());
    }
    assert_eq!(state.events.of_type("message.received").len(), 1);
    let message = state
        .store
        .load_message("wamid.HBgNTEXTAA==")
        .await
        .unwrap();
    assert_eq!(message.message.unwrap().version, 1);
}

#[tokio::test]
async fn a_crash_between_the_state_write_and_the_publish_loses_no_event_and_duplicates_none() {
    let state = state_with(Sink::failing(1));
    // First delivery: DynamoDB commits, the publish fails (the injected fault).
    let failed = run(&state, &fixture("text")).await;
    assert_eq!(failed, ["msg-0"]);
    assert!(state.events.events().is_empty());
    let outbox = state
        .store
        .load_outbox("msg:wamid.HBgNTEXTAA==")
        .await
        .unwrap()
        .unwrap();
    assert!(!outbox.published);
    // Redelivery: the marker exists, so no second state change; the stored event goes out.
    assert!(run(&state, &fixture("text")).await.is_empty());
    let events = state.events.of_type("message.received");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_id"], outbox.events[0].event_id.as_str());
    assert_eq!(
        state
            .store
            .load_message("wamid.HBgNTEXTAA==")
            .await
            .unwrap()
            .message
            .unwrap()
            .version,
        1
    );
    // And once more: already published, nothing is sent.
    assert!(run(&state, &fixture("text")).await.is_empty());
    let types: Vec<_> = state
        .events
        .events()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(types, ["message.received", "conversation.opened"]);
}

#[tokio::test]
async fn a_batch_of_100_updates_gives_100_events() {
    let state = state();
    let failed = run(&state, &shared::testkit::text_batch(100, 20)).await;
    assert!(failed.is_empty());
    let events = state.events.of_type("message.received");
    assert_eq!(events.len(), 100);
    let mut ids: Vec<_> = events.iter().map(|e| e["event_id"].clone()).collect();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn a_poison_record_fails_alone() {
    let state = state();
    let mut bodies = bodies(&fixture("text"));
    bodies.insert(0, "not json".into());
    bodies.push(r#"{"kind":"message"}"#.into());
    let response = processor::process_event(&state, sqs_event(&bodies), &lambda_timeout()).await;
    let mut failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(failed, ["msg-0", "msg-2"]);
    assert_eq!(state.events.of_type("message.received").len(), 1);
}

fn status_body(status: &str, ts: i64) -> String {
    with(
        &with(
            &fixture("status-delivered"),
            "\"status\":\"delivered\"",
            &format!("\"status\":\"{status}\""),
        ),
        "\"timestamp\":\"1749416383\"",
        &format!("\"timestamp\":\"{ts}\""),
    )
}

#[tokio::test]
async fn shuffled_statuses_end_at_the_highest_with_no_backward_event() {
    let orders = [
        ["read", "sent", "delivered"],
        ["delivered", "read", "sent"],
        ["sent", "read", "delivered"],
        ["sent", "delivered", "read"],
    ];
    for order in orders {
        let state = state();
        sender_stores(&state.store, None, "cmd-7").await;
        for (i, s) in order.iter().enumerate() {
            assert!(run(&state, &status_body(s, 1_749_416_400 + i as i64))
                .await
                .is_empty());
        }
        let events = state.events.of_type("message.status");
        let ranks: Vec<u8> = events
            .iter()
            .map(|e| {
                DeliveryStatus::parse(e["data"]["status"].as_str().unwrap())
                    .unwrap()
                    .rank()
            })
            .collect();
        assert!(
            ranks.windows(2).all(|w| w[0] < w[1]),
            "{order:?}: {ranks:?}"
        );
        assert_eq!(
            events.last().unwrap()["data"]["status"],
            "read",
            "{order:?}"
        );
        assert!(events.iter().all(|e| e["data"]["command_id"] == "cmd-7"));
        let stored = state
            .store
            .load_message(OUTBOUND)
            .await
            .unwrap()
            .message
            .unwrap();
        assert_eq!(stored.record.status, Some(DeliveryStatus::Read));
        Schemas::load().check_all(&state.events.messages());
    }
}

#[tokio::test]
async fn a_repeated_status_emits_once() {
    let state = state();
    sender_stores(&state.store, None, "cmd-1").await;
    for _ in 0..3 {
        run(&state, &fixture("status-delivered")).await;
    }
    assert_eq!(state.events.of_type("message.status").len(), 1);
}

#[tokio::test]
async fn failed_is_terminal() {
    let state = state();
    sender_stores(&state.store, None, "cmd-1").await;
    run(&state, &fixture("status-failed")).await;
    run(&state, &fixture("status-read")).await;
    let events = state.events.of_type("message.status");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["errors"][0]["code"], 131_047);
    assert_eq!(
        events[0]["data"]["errors"][0]["title"],
        "Re-engagement message"
    );
    assert!(events[0]["data"]["errors"][0]["details"]
        .as_str()
        .unwrap()
        .contains("24 hours"));
}

#[tokio::test]
async fn a_parked_status_is_due_for_external_forwarding_after_the_configured_park_time() {
    let mut state = state();
    state.config.external_status_park = std::time::Duration::from_secs(7);
    run(&state, &fixture("status-delivered")).await;
    let parked = state.store.load_message(OUTBOUND).await.unwrap().parked;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].due_at, Some(parked[0].parked_at_ms / 1000 + 7));
    assert!(parked[0]
        .due_bucket
        .as_deref()
        .is_some_and(|b| b.starts_with("PARKDUE#")));
}

#[tokio::test]
async fn bridge_sent_statuses_say_origin_bridge() {
    let state = state();
    sender_stores(&state.store, None, "cmd-9").await;
    run(&state, &fixture("status-delivered")).await;
    let events = state.events.of_type("message.status");
    assert_eq!(events[0]["data"]["origin"], "bridge");
    assert_eq!(events[0]["data"]["command_id"], "cmd-9");
}

#[tokio::test]
async fn a_status_for_an_unknown_message_is_parked_then_applied_when_the_sender_stores_it() {
    let state = state();
    run(&state, &fixture("status-delivered")).await;
    run(&state, &fixture("status-sent")).await;
    assert!(state.events.events().is_empty());
    assert_eq!(
        state
            .store
            .load_message(OUTBOUND)
            .await
            .unwrap()
            .parked
            .len(),
        2
    );

    sender_stores(&state.store, None, "cmd-42").await;
    let applied = delivery::apply_parked(&state.store, &state.events, &status_ctx(), OUTBOUND)
        .await
        .unwrap();
    assert_eq!(applied, 2);
    let events = state.events.of_type("message.status");
    let statuses: Vec<_> = events.iter().map(|e| e["data"]["status"].clone()).collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    assert!(events.iter().all(|e| e["data"]["command_id"] == "cmd-42"));
    assert!(state
        .store
        .load_message(OUTBOUND)
        .await
        .unwrap()
        .parked
        .is_empty());
    // Applying again (a retried sender) changes nothing.
    delivery::apply_parked(&state.store, &state.events, &status_ctx(), OUTBOUND)
        .await
        .unwrap();
    assert_eq!(state.events.of_type("message.status").len(), 2);
}

#[tokio::test]
async fn a_parked_status_is_also_applied_by_the_next_status_for_its_message() {
    let state = state();
    run(&state, &fixture("status-delivered")).await;
    sender_stores(&state.store, None, "cmd-1").await; // the sender crashed before apply_parked
    run(&state, &fixture("status-sent")).await;
    let statuses: Vec<_> = state
        .events
        .of_type("message.status")
        .iter()
        .map(|e| e["data"]["status"].clone())
        .collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    assert!(state
        .store
        .load_message(OUTBOUND)
        .await
        .unwrap()
        .parked
        .is_empty());
}

#[tokio::test]
async fn brazilian_numbers_with_and_without_the_ninth_digit_are_one_contact() {
    let state = state();
    run(&state, &fixture("text")).await;
    let without_nine = with(
        &with(&fixture("text"), "5511987654321", "551187654321"),
        "wamid.HBgNTEXTAA==",
        "wamid.OTHER==",
    );
    run(&state, &without_nine).await;
    let events = state.events.of_type("message.received");
    assert_eq!(events.len(), 2);
    let ids = contact_ids(&events);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(events[1]["contact"]["phone"], "+5511987654321");
    assert_eq!(events[1]["contact"]["wa_id"], "551187654321");
}

#[tokio::test]
async fn the_ninth_digit_merges_in_the_other_order_too() {
    let state = state();
    run(
        &state,
        &with(&fixture("text"), "5511987654321", "551187654321"),
    )
    .await;
    run(
        &state,
        &with(&fixture("image"), "5511987654321", "5511987654321"),
    )
    .await;
    let ids = contact_ids(&state.events.of_type("message.received"));
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn mexican_521_and_52_are_one_contact_and_argentine_landlines_get_no_549_alias() {
    let state = state();
    run(
        &state,
        &with(&fixture("text"), "5511987654321", "5215512345678"),
    )
    .await;
    run(
        &state,
        &with(&fixture("image"), "5511987654321", "525512345678"),
    )
    .await;
    let ids = contact_ids(&state.events.of_type("message.received"));
    assert_eq!(ids[0], ids[1]);

    // An Argentine number without the 9 may be a landline: no 549 alias is invented for it.
    let state = common::state();
    run(
        &state,
        &with(&fixture("text"), "5511987654321", "541123456789"),
    )
    .await;
    assert!(state
        .store
        .get(&keys::alias_pk(PNID, "wa:541123456789"), keys::ALIAS)
        .is_some());
    assert!(state
        .store
        .get(&keys::alias_pk(PNID, "wa:5491123456789"), keys::ALIAS)
        .is_none());
    // A 549 mobile is also known under its 54 form.
    let state = common::state();
    run(
        &state,
        &with(&fixture("text"), "5511987654321", "5491123456789"),
    )
    .await;
    assert!(state
        .store
        .get(&keys::alias_pk(PNID, "wa:541123456789"), keys::ALIAS)
        .is_some());
}

#[tokio::test]
async fn a_user_id_only_message_gets_a_contact_that_the_phone_later_joins() {
    let state = state();
    run(&state, &fixture("text-bsuid-only")).await;
    let first = &state.events.of_type("message.received")[0];
    assert_eq!(first["contact"]["user_id"], "BR.13491208655302741918");
    assert_eq!(first["contact"]["phone"], Value::Null);
    let both = with(
        &fixture("text"),
        r#""wa_id":"5511987654321"}"#,
        r#""wa_id":"5511987654321","user_id":"BR.13491208655302741918"}"#,
    );
    run(&state, &both).await;
    let events = state.events.of_type("message.received");
    assert_eq!(contact_ids(&events)[0], contact_ids(&events)[1]);
    assert_eq!(events[1]["contact"]["phone"], "+5511987654321");
}

#[tokio::test]
async fn a_number_change_moves_the_contact_without_creating_another() {
    let state = state();
    run(&state, &fixture("text")).await;
    run(&state, &fixture("system-number-changed")).await;
    let new_number = with(
        &with(&fixture("image"), "5511987654321", "5511976543210"),
        "wamid.HBgNIMAGEAA==",
        "wamid.NEW==",
    );
    run(&state, &new_number).await;
    let received = state.events.of_type("message.received");
    let ids = contact_ids(&received);
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let changed = state.events.of_type("contact.number_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["previous_phone"], "+5511987654321");
    assert_eq!(changed[0]["data"]["phone"], "+5511976543210");
    assert_eq!(received[2]["contact"]["phone"], "+5511976543210");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn inbound_messages_open_the_window_from_the_newest_timestamp_in_any_order() {
    let state = state();
    let later = with(
        &with(&fixture("image"), "1749416383", "1749420000"),
        "wamid.HBgNIMAGEAA==",
        "wamid.LATER==",
    );
    run(&state, &later).await;
    run(&state, &fixture("text")).await; // older, arrives second
    let contact_id = state.events.of_type("message.received")[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let conv = state
        .store
        .load_contact(PNID, &contact_id)
        .await
        .unwrap()
        .conversation
        .unwrap()
        .record;
    assert_eq!(conv.last_inbound_at, Some(1_749_420_000));
    assert_eq!(conv.window_expires_at, Some(1_749_420_000 + 86_400));
    assert_eq!(conv.due_at, Some(1_749_420_000 + 86_400 - 3600));
    assert_eq!(conv.due_bucket, Some(keys::due_bucket(&contact_id)));
    assert!(conv.awaiting_reply);
    assert_eq!(conv.last_inbound_wamid.as_deref(), Some("wamid.LATER=="));
}

#[tokio::test]
async fn error_131047_marks_the_window_closed() {
    let state = state();
    run(&state, &fixture("text")).await;
    let contact_id = state.events.of_type("message.received")[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sender_stores(&state.store, Some(&contact_id), "cmd-1").await;
    run(
        &state,
        &with(
            &fixture("status-failed"),
            "\"timestamp\":\"1749416383\"",
            // Within a day of the receive time: a later one would be replaced by it.
            "\"timestamp\":\"1749500000\"",
        ),
    )
    .await;
    let conv = state
        .store
        .load_contact(PNID, &contact_id)
        .await
        .unwrap()
        .conversation
        .unwrap()
        .record;
    assert_eq!(conv.window_closed_at, Some(1_749_500_000));
    // No more alerts for that window; the open conversation stays in the index for its idle
    // close, which the schedule re-arms from there.
    assert!(conv.open.is_some());
    assert_eq!(conv.due_at, Some(1_749_500_000));
    assert!(conv.due_bucket.is_some());
}

#[tokio::test]
async fn a_stop_message_opts_the_contact_out_and_records_it_in_the_ledger() {
    let state = state();
    run(
        &state,
        &with(
            &fixture("text"),
            "Ol\\u00e1! Voc\\u00ea tem em azul? \\ud83d\\udc4b @loja https:\\/\\/ex.com\\/a",
            "STOP",
        ),
    )
    .await;
    let out = state.events.of_type("contact.opted_out");
    assert_eq!(out.len(), 1, "{:#?}", state.events.events());
    assert_eq!(out[0]["data"]["source"], "keyword");
    assert_eq!(out[0]["data"]["trigger_wamid"], "wamid.HBgNTEXTAA==");
    let contact_id = out[0]["contact"]["id"].as_str().unwrap();
    let contact = state
        .store
        .load_contact(PNID, contact_id)
        .await
        .unwrap()
        .contact
        .unwrap()
        .record;
    assert!(contact.marketing_opt_out);
    let ledger = state.store.scan_prefix(&keys::contact_pk(PNID, contact_id));
    assert_eq!(
        ledger
            .iter()
            .filter(|(_, sk, _)| sk.starts_with("CONSENT#"))
            .count(),
        1
    );
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn stop_words_work_in_portuguese_and_spanish_and_start_opts_back_in() {
    for (word, t) in [
        ("Parar", "contact.opted_out"),
        ("BAJA", "contact.opted_out"),
        ("start", "contact.opted_in"),
    ] {
        let state = state();
        run(
            &state,
            &with(
                &fixture("text-reply"),
                "\"body\":\"Sim\"",
                &format!("\"body\":\"{word}\""),
            ),
        )
        .await;
        assert_eq!(state.events.of_type(t).len(), 1, "{word}");
    }
}

#[tokio::test]
async fn a_stop_promotions_tap_opts_out() {
    let state = state();
    run(&state, &fixture("button")).await;
    let out = state.events.of_type("contact.opted_out");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["data"]["source"], "quick_reply");
}

#[tokio::test]
async fn user_preferences_stop_opts_out() {
    let state = state();
    run(&state, &fixture("user-preferences")).await;
    let out = state.events.of_type("contact.opted_out");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["data"]["source"], "user_preferences");
    assert_eq!(out[0]["contact"]["phone"], "+5511987654321");
    run(&state, &fixture("user-preferences")).await;
    assert_eq!(state.events.of_type("contact.opted_out").len(), 1);
}

#[tokio::test]
async fn error_131050_records_a_marketing_opt_out() {
    let state = state();
    run(&state, &fixture("text")).await;
    let contact_id = state.events.of_type("message.received")[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sender_stores(&state.store, Some(&contact_id), "cmd-9").await;
    run(&state, &with(&fixture("status-failed"), "131047", "131050")).await;
    let out = state.events.of_type("contact.opted_out");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["data"]["source"], "delivery_error");
    assert_eq!(out[0]["data"]["trigger_wamid"], OUTBOUND);
    let contact = state
        .store
        .load_contact(PNID, &contact_id)
        .await
        .unwrap()
        .contact
        .unwrap()
        .record;
    assert!(contact.marketing_opt_out);
}

#[tokio::test]
async fn an_older_resume_does_not_undo_a_newer_stop_but_is_still_recorded() {
    let state = state();
    let stop = with(
        &fixture("text-reply"),
        "\"body\":\"Sim\"",
        "\"body\":\"stop\"",
    );
    let old_resume = with(
        &with(
            &with(
                &fixture("text-reply"),
                "\"body\":\"Sim\"",
                "\"body\":\"start\"",
            ),
            "1749416383",
            "1749416000",
        ),
        "wamid.HBgNTEXTAA==",
        "wamid.OLD==",
    );
    run(&state, &stop).await;
    run(&state, &old_resume).await;
    let opted_in = state.events.of_type("contact.opted_in");
    assert_eq!(opted_in[0]["data"]["effective"], false);
    let contact_id = opted_in[0]["contact"]["id"].as_str().unwrap();
    let contact = state
        .store
        .load_contact(PNID, contact_id)
        .await
        .unwrap()
        .contact
        .unwrap()
        .record;
    assert!(contact.marketing_opt_out);
}

#[tokio::test]
async fn other_fields_become_typed_events_with_the_original_value() {
    let cases = [
        ("template-status", "template.status"),
        ("template-quality", "template.quality"),
        ("template-category-update", "template.category_changed"),
        (
            "template-category-update-impending",
            "template.category_changed",
        ),
        ("phone-quality", "phone_number.quality"),
        ("account-update", "account.update"),
    ];
    for (name, t) in cases {
        let state = state();
        run(&state, &fixture(name)).await;
        let events = state.events.of_type(t);
        assert_eq!(events.len(), 1, "{name}");
        let v: Value = serde_json::from_str(&fixture(name)).unwrap();
        assert_eq!(
            events[0]["data"]["original"], v["entry"][0]["changes"][0]["value"],
            "{name}"
        );
        assert_eq!(events[0]["contact"], Value::Null);
    }
    let state = common::state();
    let unknown = with(
        &fixture("account-update"),
        "\"account_update\"",
        "\"brand_new_field\"",
    );
    run(&state, &unknown).await;
    run(&state, &unknown).await;
    let events = state.events.of_type("whatsapp.unknown");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["field"], "brand_new_field");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn event_ids_are_the_same_when_the_same_update_is_processed_by_two_fresh_stacks() {
    let a = state();
    let b = state();
    run(&a, &fixture("text")).await;
    run(&b, &fixture("text")).await;
    assert_eq!(
        a.events.events()[0]["event_id"],
        b.events.events()[0]["event_id"]
    );
}

#[tokio::test]
async fn messages_live_for_the_retention_and_dedup_markers_outlive_meta_s_retries() {
    let mut state = state();
    state.config.retention.messages_days = 2;
    let record = &sqs_event(&bodies(&fixture("text"))).records[0];
    processor::process_record(&state, record, NOW_MS)
        .await
        .unwrap();
    let message = state
        .store
        .load_message("wamid.HBgNTEXTAA==")
        .await
        .unwrap();
    assert_eq!(
        message.message.unwrap().record.ttl,
        Some(NOW_MS / 1000 + 2 * 86_400)
    );
    let outbox = state
        .store
        .load_outbox("msg:wamid.HBgNTEXTAA==")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outbox.ttl, NOW_MS / 1000 + 8 * 86_400);
}

/// The in-memory table, but marking an outbox published fails once (a crash after the publish).
#[derive(Default)]
struct ForgetfulStore {
    inner: shared::store::memory::MemoryStore,
    failed: std::sync::atomic::AtomicBool,
}

impl OutboxStore for ForgetfulStore {
    async fn load_outbox(
        &self,
        key: &str,
    ) -> Result<Option<shared::store::OutboxRecord>, shared::store::StoreError> {
        self.inner.load_outbox(key).await
    }
    async fn commit(
        &self,
        commit: Commit,
    ) -> Result<shared::store::CommitOutcome, shared::store::StoreError> {
        self.inner.commit(commit).await
    }
    async fn mark_published(&self, key: &str) -> Result<(), shared::store::StoreError> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(shared::store::StoreError::Unstorable {
                key: shared::redact::item_key(key, "OUTBOX"),
                reason: "injected crash after publish".into(),
            });
        }
        self.inner.mark_published(key).await
    }
}

impl shared::store::unpublished::StatusStore for ForgetfulStore {
    async fn record_status(
        &self,
        message: &shared::store::MessageRecord,
        unpublished: &shared::store::unpublished::Unpublished,
        version: u64,
    ) -> Result<bool, shared::store::StoreError> {
        shared::store::unpublished::StatusStore::record_status(
            &self.inner,
            message,
            unpublished,
            version,
        )
        .await
    }
    async fn clear_unpublished(
        &self,
        wamid: &str,
        status: shared::delivery::DeliveryStatus,
    ) -> Result<(), shared::store::StoreError> {
        shared::store::unpublished::StatusStore::clear_unpublished(&self.inner, wamid, status).await
    }
}

impl ProcessorStore for ForgetfulStore {
    async fn find_aliases(
        &self,
        business: &str,
        aliases: &[String],
    ) -> Result<Vec<shared::store::AliasRecord>, shared::store::StoreError> {
        self.inner.find_aliases(business, aliases).await
    }
    async fn load_contact(
        &self,
        business: &str,
        contact_id: &str,
    ) -> Result<shared::store::ContactState, shared::store::StoreError> {
        self.inner.load_contact(business, contact_id).await
    }
    async fn load_message(
        &self,
        wamid: &str,
    ) -> Result<shared::store::MessageState, shared::store::StoreError> {
        self.inner.load_message(wamid).await
    }
}

#[tokio::test]
async fn a_crash_after_the_publish_sends_the_event_again_with_the_same_event_id() {
    let state = processor::State {
        store: ForgetfulStore::default(),
        events: Sink::default(),
        media: Sink::default(),
        config: processor::Config::default(),
        budget: Default::default(),
        claims: Box::new(shared::blob::memory::MemoryBlobs::new("bucket")),
    };
    assert_eq!(run(&state, &fixture("text")).await, ["msg-0"]);
    assert!(run(&state, &fixture("text")).await.is_empty());
    assert!(run(&state, &fixture("text")).await.is_empty());
    let events = state.events.of_type("message.received");
    assert_eq!(events.len(), 2, "sent once more, never lost");
    assert_eq!(events[0]["event_id"], events[1]["event_id"]);
    assert_eq!(
        state
            .store
            .inner
            .load_message("wamid.HBgNTEXTAA==")
            .await
            .unwrap()
            .message
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn a_status_finds_its_contact_by_recipient_when_the_sender_recorded_none() {
    let state = state();
    run(&state, &fixture("text")).await;
    let contact_id = state.events.of_type("message.received")[0]["contact"]["id"].clone();
    sender_stores(&state.store, None, "cmd-1").await;
    run(&state, &fixture("status-delivered")).await;
    let status = &state.events.of_type("message.status")[0];
    assert_eq!(status["contact"]["id"], contact_id);
    let last = state.events.messages().pop().unwrap();
    assert_eq!(last.group_id.as_deref(), contact_id.as_str());
}

#[tokio::test]
async fn a_template_update_teaches_the_sender_the_template_s_category() {
    let state = state();
    run(&state, &fixture("template-status")).await;
    let (pk, sk) = shared::store::keys::template_category("promo_ofertas", "pt_BR");
    let item = state.store.get(&pk, &sk).expect("category recorded");
    assert_eq!(item["category"], "marketing");
    // A later completed re-categorisation wins.
    let changed = with(
        &fixture("template-status"),
        "\"message_template_status_update\"",
        "\"template_category_update\"",
    )
    .replace(
        "\"message_template_category\":\"MARKETING\"",
        "\"previous_category\":\"MARKETING\",\"new_category\":\"UTILITY\"",
    );
    run(&state, &changed).await;
    assert_eq!(state.store.get(&pk, &sk).unwrap()["category"], "utility");
}

#[tokio::test]
async fn a_done_recategorisation_is_an_event_and_the_category_the_sender_checks() {
    let state = state();
    run(&state, &fixture("template-category-update")).await;
    let events = state.events.of_type("template.category_changed");
    assert_eq!(events.len(), 1);
    let data = &events[0]["data"];
    assert_eq!(data["previous_category"], "utility");
    assert_eq!(data["new_category"], "marketing");
    assert_eq!(data["impending"], false);
    assert_eq!(data["effective_at"], "2025-06-08T20:59:43Z");
    let (pk, sk) = shared::store::keys::template_category("aviso_entrega", "pt_BR");
    assert_eq!(state.store.get(&pk, &sk).unwrap()["category"], "marketing");
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn an_announced_recategorisation_is_an_event_that_changes_no_category_yet() {
    let state = state();
    run(&state, &fixture("template-category-update-impending")).await;
    let data = &state.events.of_type("template.category_changed")[0]["data"];
    assert_eq!(data["previous_category"], "utility");
    assert_eq!(data["new_category"], "marketing");
    assert_eq!(data["impending"], true);
    assert_eq!(data["effective_at"], "2025-06-13T20:59:43Z");
    let (pk, sk) = shared::store::keys::template_category("lembrete", "pt_BR");
    assert!(state.store.get(&pk, &sk).is_none());
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn status_pricing_is_normalised_without_billable() {
    let state = state();
    sender_stores(&state.store, None, "cmd-1").await;
    run(&state, &fixture("status-delivered-pricing")).await;
    let status = &state.events.of_type("message.status")[0];
    assert_eq!(
        status["data"]["pricing"],
        serde_json::json!({"category": "utility", "type": "regular", "pricing_model": "PMP"})
    );
    assert_eq!(
        status["data"]["original"]["pricing"]["billable"], true,
        "Meta's object stays whole in original"
    );
    // A status without pricing (a failure) says null.
    let state = state_fresh_with_status("status-failed").await;
    assert_eq!(
        state.events.of_type("message.status")[0]["data"]["pricing"],
        Value::Null
    );
}

async fn state_fresh_with_status(name: &str) -> TestState {
    let state = state();
    sender_stores(&state.store, None, "cmd-1").await;
    run(&state, &fixture(name)).await;
    state
}

async fn conversation_of(
    state: &TestState,
    event: &Value,
) -> Option<shared::store::ConversationRecord> {
    let contact_id = event["contact"]["id"].as_str().unwrap().to_owned();
    let loaded = state.store.load_contact(PNID, &contact_id).await.unwrap();
    loaded.conversation.map(|c| c.record)
}

#[tokio::test]
async fn a_user_initiated_call_connects_terminates_and_opens_the_window_once_each() {
    let state = state();
    for _ in 0..2 {
        run(&state, &fixture("call-connect")).await;
        run(&state, &fixture("call-terminate")).await;
    }
    let connected = state.events.of_type("call.connected");
    let terminated = state.events.of_type("call.terminated");
    assert_eq!((connected.len(), terminated.len()), (1, 1));
    assert_eq!(connected[0]["data"]["direction"], "user_initiated");
    assert_eq!(connected[0]["contact"]["phone"], "+5511987654321");
    assert_eq!(terminated[0]["data"]["duration"], 120);
    assert_eq!(terminated[0]["data"]["status"], "completed");
    assert_eq!(
        terminated[0]["contact"]["id"],
        connected[0]["contact"]["id"]
    );
    let conv = conversation_of(&state, &connected[0]).await.unwrap();
    assert_eq!(conv.last_inbound_at, Some(1_749_416_383));
    assert_eq!(conv.window_expires_at, Some(1_749_416_383 + 86_400));
    assert_eq!(conv.last_inbound_wamid, None);
    assert!(conv.awaiting_reply);
}

#[tokio::test]
async fn a_business_initiated_call_does_not_open_the_window() {
    let state = state();
    let body = fixture("call-connect").replace("USER_INITIATED", "BUSINESS_INITIATED");
    let body = body.replace(
        "\"from\":\"5511987654321\",\"to\":\"15550783881\"",
        "\"from\":\"15550783881\",\"to\":\"5511987654321\"",
    );
    run(&state, &body).await;
    let connected = state.events.of_type("call.connected");
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0]["data"]["direction"], "business_initiated");
    assert_eq!(connected[0]["contact"]["phone"], "+5511987654321");
    assert!(conversation_of(&state, &connected[0]).await.is_none());
}

#[tokio::test]
async fn call_statuses_emit_once_per_status_and_unknown_ones_are_forwarded_raw() {
    let state = state();
    run(&state, &fixture("call-status-ringing")).await;
    run(&state, &fixture("call-status-ringing")).await;
    run(
        &state,
        &fixture("call-status-ringing").replace("RINGING", "ACCEPTED"),
    )
    .await;
    run(
        &state,
        &fixture("call-status-ringing").replace("RINGING", "DIALING"),
    )
    .await;
    let statuses: Vec<_> = state
        .events
        .of_type("call.status")
        .iter()
        .map(|e| e["data"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["ringing", "accepted"]);
    let unknown = state.events.of_type("whatsapp.unknown");
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        unknown[0]["data"]["original"]["statuses"][0]["status"],
        "DIALING"
    );
    let first = &state.events.of_type("call.status")[0];
    assert_eq!(first["data"]["biz_opaque_callback_data"], "crm-call-42");
    assert!(conversation_of(&state, first).await.is_none());
}

#[tokio::test]
async fn a_call_event_not_known_is_forwarded_raw_and_the_known_ones_still_become_events() {
    let state = state();
    let body = fixture("call-connect").replace(
        "\"calls\":[{",
        "\"calls\":[{\"id\":\"wacid.NEW\",\"event\":\"transfer\",\"direction\":\"USER_INITIATED\"},{",
    );
    for _ in 0..2 {
        run(&state, &body).await;
    }
    assert_eq!(state.events.of_type("call.connected").len(), 1);
    let unknown = state.events.of_type("whatsapp.unknown");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["data"]["field"], "calls");
    assert_eq!(
        unknown[0]["data"]["original"]["calls"][0]["event"],
        "transfer"
    );
}

#[tokio::test]
async fn a_call_of_unknown_direction_still_becomes_an_event_without_a_contact() {
    let state = state();
    run(
        &state,
        &fixture("call-connect").replace("USER_INITIATED", "SOMEONE_ELSE"),
    )
    .await;
    let connected = state.events.of_type("call.connected");
    assert_eq!(connected.len(), 1);
    assert!(connected[0]["contact"].is_null());
    assert!(connected[0]["data"]["direction"].is_null());
}
