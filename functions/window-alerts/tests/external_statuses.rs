//! Statuses of messages the bridge did not send: parked for `EXTERNAL_STATUS_PARK_SECONDS`, then
//! forwarded by the schedule's tick with `origin: "external"`, once, in order, never backwards;
//! a status the sender's later store matches stays the bridge's, emitted once.

mod common;

use common::{Schemas, Sink};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use shared::delivery::{self, StatusContext, StatusUpdate};
use shared::store::memory::MemoryStore;
use shared::store::{Commit, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore, Write};
use window_alerts::{scheduled_run, Config, State};

const PNID: &str = "106540352242922";
const T0: i64 = 1_749_416_400;
const PARK: i64 = 300;

type TestState = State<MemoryStore, Sink>;

fn state() -> TestState {
    State {
        store: MemoryStore::new(),
        events: Sink::default(),
        commands: Sink::default(),
        config: Config::default(),
    }
}

fn ctx(now: i64) -> StatusContext {
    StatusContext {
        business: PNID.into(),
        waba_id: Some("102290129340398".into()),
        now_ms: now * 1000,
        retention: shared::retention::Retention {
            messages_days: 8,
            ..Default::default()
        },
    }
}

fn status(wamid: &str, status: &str, at: i64) -> StatusUpdate {
    let raw = json!({"id": wamid, "status": status, "timestamp": at.to_string(),
        "recipient_id": "5511987654321",
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}})
    .to_string();
    StatusUpdate::parse(&RawValue::from_string(raw).unwrap(), at).unwrap()
}

/// The processor's step for one status arriving at `now`.
async fn arrives(s: &TestState, wamid: &str, st: &str, now: i64) {
    delivery::apply_status_parking(
        &s.store,
        &s.events,
        &ctx(now),
        &status(wamid, st, now),
        std::time::Duration::from_secs(PARK as u64),
    )
    .await
    .unwrap();
}

async fn tick(s: &TestState, now: i64) -> usize {
    scheduled_run(s, now * 1000)
        .await
        .unwrap()
        .external_statuses
}

fn statuses(s: &TestState) -> Vec<(String, String, Value, Value)> {
    s.events
        .of_type("message.status")
        .iter()
        .map(|e| {
            (
                e["data"]["wamid"].as_str().unwrap().to_owned(),
                e["data"]["status"].as_str().unwrap().to_owned(),
                e["data"]["origin"].clone(),
                e["data"]["command_id"].clone(),
            )
        })
        .collect()
}

/// The sender's store after Meta accepted its message, then its call to apply what is parked.
async fn sender_stores(s: &TestState, wamid: &str, now: i64) {
    stores_only(s, wamid, now).await;
    delivery::apply_parked(&s.store, &s.events, &ctx(now), wamid)
        .await
        .unwrap();
}

/// The sender's store of its wamid alone (before it applies what is parked).
async fn stores_only(s: &TestState, wamid: &str, now: i64) {
    let record = MessageRecord {
        wamid: wamid.into(),
        business: PNID.into(),
        direction: Direction::Outbound,
        contact_id: None,
        message_type: "text".into(),
        timestamp: now,
        status: None,
        status_at: None,
        command_id: Some("cmd-1".into()),
        template: None,
        raw: None,
        ttl: None,
    };
    let commit = Commit {
        outbox: None,
        writes: vec![Write::Message(record, Expect::Absent)],
    };
    s.store.commit(commit).await.unwrap();
}

#[tokio::test]
async fn a_status_of_a_message_never_sent_is_forwarded_as_external_once_its_park_time_is_over() {
    let s = state();
    arrives(&s, "wamid.ELSEWHERE", "delivered", T0).await;
    assert_eq!(tick(&s, T0 + PARK - 1).await, 0, "still waiting");
    assert!(s.events.events().is_empty());

    assert_eq!(tick(&s, T0 + PARK).await, 1);
    assert_eq!(
        statuses(&s),
        [(
            "wamid.ELSEWHERE".into(),
            "delivered".into(),
            json!("external"),
            Value::Null
        )]
    );
    assert_eq!(tick(&s, T0 + PARK + 60).await, 0, "forwarded once");
    let state = s.store.load_message("wamid.ELSEWHERE").await.unwrap();
    assert!(state.parked.is_empty() && state.message.is_none());
    let external = state.external.unwrap().record;
    assert_eq!(external.status, Some(delivery::DeliveryStatus::Delivered));
    assert_eq!(external.command_id, None);
    Schemas::load().check_all(&s.events.messages());
}

#[tokio::test]
async fn later_statuses_of_an_external_message_apply_at_once_and_never_backwards() {
    let s = state();
    arrives(&s, "wamid.ELSEWHERE", "delivered", T0).await;
    tick(&s, T0 + PARK).await;
    arrives(&s, "wamid.ELSEWHERE", "read", T0 + PARK + 5).await;
    arrives(&s, "wamid.ELSEWHERE", "sent", T0 + PARK + 6).await;
    let seen: Vec<_> = statuses(&s)
        .into_iter()
        .map(|(_, st, o, _)| (st, o))
        .collect();
    assert_eq!(
        seen,
        [
            ("delivered".into(), json!("external")),
            ("read".into(), json!("external"))
        ]
    );
    assert_eq!(
        s.events.of_type("message.status")[1]["data"]["previous_status"],
        "delivered"
    );
    assert_eq!(tick(&s, T0 + 2 * PARK).await, 0, "nothing parked behind");
}

#[tokio::test]
async fn statuses_parked_out_of_order_are_forwarded_lowest_first() {
    let s = state();
    arrives(&s, "wamid.ELSEWHERE", "read", T0).await;
    arrives(&s, "wamid.ELSEWHERE", "delivered", T0 + 1).await;
    arrives(&s, "wamid.ELSEWHERE", "sent", T0 + 2).await;
    assert_eq!(
        tick(&s, T0 + PARK).await,
        3,
        "the message's statuses go together"
    );
    let seen: Vec<_> = statuses(&s).into_iter().map(|(_, st, _, _)| st).collect();
    assert_eq!(seen, ["sent", "delivered", "read"]);
    assert_eq!(tick(&s, T0 + PARK + 2).await, 0);
}

#[tokio::test]
async fn a_status_matched_by_the_sender_s_later_store_is_the_bridge_s_and_emitted_once() {
    let s = state();
    arrives(&s, "wamid.OURS", "delivered", T0).await;
    sender_stores(&s, "wamid.OURS", T0 + 1).await;
    assert_eq!(tick(&s, T0 + PARK + 1).await, 0);
    assert_eq!(
        statuses(&s),
        [(
            "wamid.OURS".into(),
            "delivered".into(),
            json!("bridge"),
            json!("cmd-1")
        )]
    );
}

#[tokio::test]
async fn a_sender_store_racing_the_release_still_gives_one_event_per_status() {
    let s = state();
    arrives(&s, "wamid.LATE", "delivered", T0).await;
    tick(&s, T0 + PARK).await;
    // The sender stores the wamid after the wait (its commit does not collide with the
    // external record) and applies what is parked: nothing is left, nothing is repeated.
    sender_stores(&s, "wamid.LATE", T0 + PARK + 1).await;
    arrives(&s, "wamid.LATE", "delivered", T0 + PARK + 2).await;
    let seen: Vec<_> = statuses(&s)
        .into_iter()
        .map(|(_, st, o, _)| (st, o))
        .collect();
    assert_eq!(seen, [("delivered".into(), json!("external"))]);
}

#[tokio::test]
async fn fifty_statuses_of_messages_never_sent_give_fifty_external_events_and_a_repeat_run_none() {
    let s = state();
    for i in 0..50 {
        arrives(&s, &format!("wamid.ELSEWHERE.{i}"), "sent", T0).await;
    }
    assert_eq!(tick(&s, T0 + PARK).await, 50);
    let seen = statuses(&s);
    assert_eq!(seen.len(), 50);
    assert!(seen
        .iter()
        .all(|(_, _, o, c)| o == "external" && c.is_null()));
    assert_eq!(tick(&s, T0 + PARK).await, 0);
    assert_eq!(statuses(&s).len(), 50);
}

#[tokio::test]
async fn a_message_whose_status_cannot_be_published_holds_back_no_other_and_goes_out_next_run() {
    let s = State {
        events: Sink::failing(1),
        ..state()
    };
    arrives(&s, "wamid.ELSEWHERE.A", "delivered", T0).await;
    arrives(&s, "wamid.ELSEWHERE.B", "delivered", T0).await;
    let first = scheduled_run(&s, (T0 + PARK) * 1000).await;
    assert!(
        matches!(
            first,
            Err(window_alerts::RunError::ParkedStatuses { failed: 1 })
        ),
        "{first:?}"
    );
    assert_eq!(statuses(&s).len(), 1, "the other message went out");
    // The next run publishes the committed event, with the id it was given.
    scheduled_run(&s, (T0 + PARK + 60) * 1000).await.unwrap();
    let mut wamids: Vec<_> = statuses(&s).into_iter().map(|(w, ..)| w).collect();
    wamids.sort();
    assert_eq!(wamids, ["wamid.ELSEWHERE.A", "wamid.ELSEWHERE.B"]);
}

/// The sender stores its wamid; applying the status parked for it commits the event, then the
/// publish fails (SQS down). The sender's retry applies what is parked again.
#[tokio::test]
async fn a_parked_status_whose_publish_fails_after_the_sender_s_store_is_delivered_once_by_its_retry(
) {
    let s = State {
        events: Sink::failing(1),
        ..state()
    };
    arrives(&s, "wamid.OURS", "delivered", T0).await;
    stores_only(&s, "wamid.OURS", T0 + 1).await;
    let first = delivery::apply_parked(&s.store, &s.events, &ctx(T0 + 1), "wamid.OURS").await;
    assert!(first.is_err(), "the publish failed: {first:?}");
    assert!(statuses(&s).is_empty());

    delivery::apply_parked(&s.store, &s.events, &ctx(T0 + 2), "wamid.OURS")
        .await
        .unwrap();
    let once = [(
        "wamid.OURS".to_owned(),
        "delivered".to_owned(),
        json!("bridge"),
        json!("cmd-1"),
    )];
    assert_eq!(statuses(&s), once, "delivered by the retry");
    assert_eq!(tick(&s, T0 + PARK + 1).await, 0, "and not again");
    delivery::apply_parked(&s.store, &s.events, &ctx(T0 + PARK + 2), "wamid.OURS")
        .await
        .unwrap();
    assert_eq!(statuses(&s), once);
    assert!(s
        .store
        .load_message("wamid.OURS")
        .await
        .unwrap()
        .parked
        .is_empty());
}

/// As above, but the sender never comes back (its process died after the failed publish): the
/// status is still due, so the schedule's tick publishes the committed event.
#[tokio::test]
async fn a_parked_status_whose_publish_fails_after_the_sender_s_store_is_delivered_once_by_the_schedule(
) {
    let s = State {
        events: Sink::failing(1),
        ..state()
    };
    arrives(&s, "wamid.OURS", "delivered", T0).await;
    stores_only(&s, "wamid.OURS", T0 + 1).await;
    let first = delivery::apply_parked(&s.store, &s.events, &ctx(T0 + 1), "wamid.OURS").await;
    assert!(first.is_err(), "the publish failed: {first:?}");

    assert_eq!(tick(&s, T0 + PARK).await, 1);
    assert_eq!(
        statuses(&s),
        [(
            "wamid.OURS".into(),
            "delivered".into(),
            json!("bridge"),
            json!("cmd-1")
        )]
    );
    assert_eq!(tick(&s, T0 + PARK + 60).await, 0);
    assert_eq!(statuses(&s).len(), 1);
    Schemas::load().check_all(&s.events.messages());
}
