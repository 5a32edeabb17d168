//! `run_once` against the in-memory state table: which alerts a run sends, and that each alert of
//! a window is sent once however runs overlap, fail, repeat or come late.

mod common;

use common::{contact_id, opened, seed, summary, Schemas, Sink, BUSINESS, T0};
use serde_json::json;
use shared::store::due::DueStore;
use shared::store::memory::MemoryStore;
use shared::store::{keys, Commit, Expect, OutboxStore, ProcessorStore, Write};
use shared::window::{AlertLeads, WINDOW_SECS};
use window_alerts::{run_once, Config, RunReport, State};

const MIN: i64 = 60;
const HOUR: i64 = 3600;

type TestState = State<MemoryStore, Sink>;

fn state_with(sink: Sink) -> TestState {
    State {
        store: MemoryStore::new(),
        events: sink,
        commands: Sink::default(),
        config: Config::default(),
    }
}

fn state() -> TestState {
    state_with(Sink::default())
}

async fn run(state: &TestState, now: i64) -> RunReport {
    run_once(state, now * 1000).await.expect("run")
}

fn expiring(lead: u64, expires: i64) -> (String, u64, String) {
    (
        "window.expiring".into(),
        lead,
        shared::events::rfc3339(expires),
    )
}

fn expired(expires: i64) -> (String, u64, String) {
    ("window.expired".into(), 0, shared::events::rfc3339(expires))
}

#[tokio::test]
async fn warns_at_each_lead_and_at_the_close_once_each_as_time_passes() {
    let s = state();
    let inbound = T0 - 23 * HOUR - 30 * MIN;
    let expires = inbound + WINDOW_SECS;
    seed(&s.store, 1, inbound).await;

    let first = run(&s, T0).await;
    assert_eq!((first.expiring, first.expired), (1, 0));
    assert_eq!(summary(&s.events), vec![expiring(60, expires)]);

    assert_eq!(run(&s, expires - 15 * MIN - 1).await.expiring, 0);
    assert_eq!(run(&s, expires - 15 * MIN).await.expiring, 1);
    assert_eq!(run(&s, expires - 1).await, RunReport::default());
    assert_eq!(run(&s, expires).await.expired, 1);
    for later in [expires, expires + 1, expires + 7 * 24 * HOUR] {
        assert_eq!(
            run(&s, later).await,
            RunReport::default(),
            "nothing after the close"
        );
    }

    assert_eq!(
        summary(&s.events),
        vec![
            expiring(60, expires),
            expiring(15, expires),
            expired(expires)
        ]
    );
    Schemas::load().check_all(&s.events.messages());
    let conv = s
        .store
        .load_window(BUSINESS, &contact_id(1))
        .await
        .unwrap()
        .conversation
        .unwrap();
    assert_eq!(conv.record.alerted_leads, vec![60, 15, 0]);
    assert_eq!(
        (conv.record.due_bucket, conv.record.due_at),
        (None, None),
        "left the index"
    );
}

#[tokio::test]
async fn an_event_carries_the_contact_the_window_and_whether_a_reply_is_awaited() {
    let s = state();
    seed(&s.store, 7, T0 - 23 * HOUR - 30 * MIN).await;
    run(&s, T0).await;
    let events = s.events.events();
    let e = &events[0];
    assert_eq!(e["type"], "window.expiring");
    assert_eq!(e["phone_number_id"], BUSINESS);
    assert_eq!(e["contact"]["id"], contact_id(7));
    assert_eq!(e["contact"]["phone"], "+5511900000007");
    assert_eq!(e["occurred_at"], shared::events::rfc3339(T0 - 30 * MIN));
    assert_eq!(
        e["data"]["expires_at"],
        shared::events::rfc3339(T0 + 30 * MIN)
    );
    assert_eq!(e["data"]["lead_minutes"], 60);
    assert_eq!(
        e["data"]["last_inbound_wamid"],
        format!("wamid.IN7-{}", T0 - 23 * HOUR - 30 * MIN)
    );
    assert_eq!(e["data"]["awaiting_reply"], true);
    Schemas::load().check_all(&s.events.messages());
}

#[tokio::test]
async fn a_window_found_already_closed_gets_only_expired() {
    let s = state();
    let inbound = T0 - 24 * HOUR - 10 * MIN;
    seed(&s.store, 1, inbound).await;
    let report = run(&s, T0).await;
    assert_eq!((report.expiring, report.expired), (0, 1));
    assert_eq!(summary(&s.events), vec![expired(inbound + WINDOW_SECS)]);
    assert_eq!(run(&s, T0 + HOUR).await, RunReport::default());
}

#[tokio::test]
async fn a_run_after_a_gap_sends_the_most_recent_lead_only() {
    let s = state();
    let inbound = T0 - 23 * HOUR - 50 * MIN; // 10 minutes left: both leads have passed
    let expires = inbound + WINDOW_SECS;
    seed(&s.store, 1, inbound).await;
    run(&s, T0).await;
    run(&s, T0 + MIN).await;
    run(&s, expires).await;
    assert_eq!(
        summary(&s.events),
        vec![expiring(15, expires), expired(expires)]
    );
}

#[tokio::test]
async fn a_missed_lead_is_skipped_once_the_window_has_closed() {
    let s = state();
    let inbound = T0 - 23 * HOUR - 30 * MIN;
    let expires = inbound + WINDOW_SECS;
    seed(&s.store, 1, inbound).await;
    run(&s, T0).await; // lead 60
    run(&s, expires + 5 * MIN).await; // the runs around lead 15 never happened
    assert_eq!(
        summary(&s.events),
        vec![expiring(60, expires), expired(expires)]
    );
}

#[tokio::test]
async fn repeated_and_concurrent_runs_add_nothing() {
    let s = state();
    for n in 0..20 {
        seed(&s.store, n, T0 - 23 * HOUR - 30 * MIN).await;
    }
    let (a, b, c) = tokio::join!(run(&s, T0), run(&s, T0), run(&s, T0 + 1));
    assert_eq!(a.expiring + b.expiring + c.expiring, 20);
    assert_eq!(a.failed + b.failed + c.failed, 0);
    assert_eq!(run(&s, T0 + 2).await, RunReport::default());
    let mut ids: Vec<String> = s
        .events
        .messages()
        .iter()
        .filter_map(|m| m.dedup_id.clone())
        .collect();
    assert_eq!(ids.len(), 20);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "one event per window");
}

#[tokio::test]
async fn a_failed_publish_is_completed_by_the_next_run_with_the_same_event_id() {
    let s = state_with(Sink::failing(1));
    let inbound = T0 - 23 * HOUR - 30 * MIN;
    let expires = inbound + WINDOW_SECS;
    seed(&s.store, 1, inbound).await;

    let failed = run(&s, T0).await;
    assert_eq!(failed.failed, 1);
    assert!(s.events.messages().is_empty());
    let key = shared::window::Alert::Expiring(60).update_key(BUSINESS, &contact_id(1), expires);
    let stored = s.store.load_outbox(&key).await.unwrap().expect("committed");
    assert!(!stored.published);

    let retry = run(&s, T0 + MIN).await;
    assert_eq!((retry.finished, retry.expiring, retry.failed), (1, 0, 0));
    assert_eq!(summary(&s.events), vec![expiring(60, expires)]);
    assert_eq!(
        s.events.messages()[0].dedup_id.as_deref(),
        Some(stored.events[0].event_id.as_str())
    );
    assert_eq!(run(&s, T0 + 2 * MIN).await, RunReport::default());
}

#[tokio::test]
async fn a_failed_publish_found_after_the_close_goes_out_before_expired() {
    let s = state_with(Sink::failing(1));
    let inbound = T0 - 23 * HOUR - 30 * MIN;
    let expires = inbound + WINDOW_SECS;
    seed(&s.store, 1, inbound).await;
    run(&s, T0).await;
    let late = run(&s, expires + HOUR).await;
    assert_eq!((late.finished, late.expired), (1, 1));
    assert_eq!(
        summary(&s.events),
        vec![expiring(60, expires), expired(expires)]
    );
}

#[tokio::test]
async fn a_newer_inbound_message_rearms_and_the_old_deadline_never_fires() {
    let s = state();
    let inbound = T0 - 23 * HOUR - 30 * MIN;
    let old_expires = inbound + WINDOW_SECS;
    seed(&s.store, 1, inbound).await;
    run(&s, T0).await; // lead 60 of the old window

    // The processor stores a newer message: new window, alerts cleared, first alert re-armed.
    let current = s
        .store
        .load_contact(BUSINESS, &contact_id(1))
        .await
        .unwrap();
    let conv = current.conversation.unwrap();
    let newer = T0 + 5 * MIN;
    let mut record = opened(1, newer);
    record.last_outbound_at = conv.record.last_outbound_at;
    s.store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Conversation(record, Expect::Version(conv.version))],
        })
        .await
        .unwrap();
    let new_expires = newer + WINDOW_SECS;

    for at in [old_expires - 15 * MIN, old_expires, old_expires + HOUR] {
        assert_eq!(run(&s, at).await.index_items_read, 0, "nothing due at {at}");
    }
    run(&s, new_expires - HOUR).await;
    run(&s, new_expires - 15 * MIN).await;
    run(&s, new_expires).await;
    assert_eq!(
        summary(&s.events),
        vec![
            expiring(60, old_expires),
            expiring(60, new_expires),
            expiring(15, new_expires),
            expired(new_expires)
        ]
    );
}

#[tokio::test]
async fn an_index_entry_read_before_the_window_moved_sends_nothing_for_the_old_deadline() {
    // The race the condition settles: a run read the entry, the processor extended the window,
    // then the run acts. Here the store already holds the newer window with a stale-looking
    // due_at still in the past; the run must re-read and find nothing due.
    let s = state();
    let newer = T0 - 10 * MIN;
    let mut record = opened(1, newer);
    record.due_at = Some(T0 - HOUR); // armed by an older configuration or a stale writer
    s.store
        .commit(Commit {
            outbox: None,
            writes: vec![
                Write::Contact(common::contact(1), Expect::Absent),
                Write::Conversation(record, Expect::Absent),
            ],
        })
        .await
        .unwrap();
    let report = run(&s, T0).await;
    assert_eq!((report.expiring, report.expired, report.rearmed), (0, 0, 1));
    let conv = s
        .store
        .load_window(BUSINESS, &contact_id(1))
        .await
        .unwrap()
        .conversation
        .unwrap();
    assert_eq!(
        conv.record.due_at,
        Some(AlertLeads::default().first_due(newer + WINDOW_SECS))
    );
}

#[tokio::test]
async fn configured_leads_are_all_alerted() {
    let mut s = state();
    s.config.due.leads = AlertLeads::parse("120,30,5").unwrap();
    let inbound = T0 - 22 * HOUR;
    let expires = inbound + WINDOW_SECS;
    let mut record = opened(1, inbound);
    record.due_at = Some(s.config.due.leads.first_due(expires));
    s.store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Conversation(record, Expect::Absent)],
        })
        .await
        .unwrap();
    for at in [
        expires - 120 * MIN,
        expires - 30 * MIN,
        expires - 5 * MIN,
        expires,
    ] {
        run(&s, at).await;
        run(&s, at).await;
    }
    assert_eq!(
        summary(&s.events),
        vec![
            expiring(120, expires),
            expiring(30, expires),
            expiring(5, expires),
            expired(expires)
        ]
    );
    // No profile stored: the contact block still names the contact.
    assert_eq!(s.events.events()[0]["contact"]["id"], contact_id(1));
    Schemas::load().check_all(&s.events.messages());
}

#[tokio::test]
async fn reads_only_the_5_due_windows_among_10_000() {
    let s = state();
    for n in 0..10_000 {
        // 5 due now; the rest were written to within the last 20 hours (first alert later).
        let inbound = if n % 2000 == 0 {
            T0 - 23 * HOUR - 30 * MIN
        } else {
            T0 - (n as i64 % 20) * HOUR
        };
        seed(&s.store, n, inbound).await;
    }
    let report = run(&s, T0).await;
    assert_eq!(report.index_items_read, 5);
    assert_eq!(report.windows_read, 5);
    assert_eq!(report.expiring, 5);
    let again = run(&s, T0 + 1).await;
    assert_eq!(again.index_items_read, 0);
}

#[tokio::test]
async fn pages_through_a_backlog_larger_than_one_page() {
    let mut s = state();
    s.config.page_size = 3;
    for n in 0..50 {
        seed(&s.store, n, T0 - 23 * HOUR - 30 * MIN).await;
    }
    let report = run(&s, T0).await;
    assert_eq!((report.index_items_read, report.expiring), (50, 50));
    assert_eq!(run(&s, T0).await.index_items_read, 0);
    let buckets: std::collections::HashSet<String> =
        (0..50).map(|n| keys::due_bucket(&contact_id(n))).collect();
    assert!(buckets.len() > 1, "spread over buckets");
}

#[tokio::test]
async fn the_lambda_handler_takes_the_scheduler_fixture_and_runs_at_the_current_time() {
    let s = state();
    let now = shared::now_ms() / 1000;
    seed(&s.store, 1, now - 23 * HOUR - 30 * MIN).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/window-alerts-tick.json"
    );
    let payload: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
    let report = window_alerts::handler(&s, event).await.expect("handler");
    assert_eq!((report.expiring, report.failed), (1, 0));
}

#[tokio::test]
async fn the_lambda_handler_fails_a_run_that_left_work_for_the_next_one() {
    let s = state_with(Sink::failing(1));
    let now = shared::now_ms() / 1000;
    seed(&s.store, 1, now - 23 * HOUR - 30 * MIN).await;
    let event = lambda_runtime::LambdaEvent::new(json!({}), lambda_runtime::Context::default());
    let err = window_alerts::handler(&s, event).await.unwrap_err();
    assert!(err.to_string().contains("next run"), "{err}");
}
