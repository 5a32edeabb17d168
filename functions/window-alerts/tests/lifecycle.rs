//! The helpdesk conversation on the schedule, against the in-memory state table: the idle close
//! after `CONVERSATION_IDLE_MINUTES` without a message either way, and `conversation.abandoned`
//! once when the window expires (or the conversation closes) on a customer nobody answered —
//! however runs repeat, come late or fail to publish.

mod common;

use common::{contact, contact_id, Schemas, Sink, BUSINESS, T0};
use serde_json::Value;
use shared::conversation::{self, AgentMessage, Entry, IdleTimeout};
use shared::due::DuePolicy;
use shared::store::due::DueStore;
use shared::store::memory::MemoryStore;
use shared::store::{Commit, CommitOutcome, ConversationRecord, Expect, OutboxStore, Write};
use shared::window::WINDOW_SECS;
use window_alerts::{run_once, scheduled_run, Config, RunReport, State};

const MIN: i64 = 60;

type TestState = State<MemoryStore, Sink>;

fn state_with(sink: Sink, idle_minutes: u32) -> TestState {
    State {
        store: MemoryStore::new(),
        events: sink,
        commands: Sink::default(),
        config: Config {
            due: DuePolicy {
                idle: IdleTimeout::from_minutes(idle_minutes).unwrap(),
                ..DuePolicy::default()
            },
            ..Config::default()
        },
    }
}

async fn run(state: &TestState, now: i64) -> RunReport {
    run_once(state, now * 1000).await.expect("run")
}

/// Contact 1 wrote at `at` (and an agent answered at `answered`): the record as the processor
/// and the sender leave it.
async fn seed(state: &TestState, at: i64, answered: Option<i64>) -> ConversationRecord {
    let policy = &state.config.due;
    let id = contact_id(1);
    let wamid = format!("wamid.IN-{at}");
    let (mut conv, _) =
        shared::window::opened_by_inbound(None, BUSINESS, &id, at, Some(&wamid), policy).unwrap();
    conversation::customer_message(&mut conv, at, &wamid, Some(&wamid), Entry::Organic);
    if let Some(t) = answered {
        conversation::agent_message(&mut conv, t, &AgentMessage::App);
    }
    policy.arm_earlier(&mut conv);
    let outcome = state
        .store
        .commit(Commit {
            outbox: None,
            writes: vec![
                Write::Contact(contact(1), Expect::Absent),
                Write::Conversation(conv.clone(), Expect::Absent),
            ],
        })
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::Applied);
    conv
}

async fn record(state: &TestState) -> ConversationRecord {
    state
        .store
        .load_window(BUSINESS, &contact_id(1))
        .await
        .unwrap()
        .conversation
        .unwrap()
        .record
}

fn types(sink: &Sink) -> Vec<String> {
    sink.events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn lifecycle(sink: &Sink) -> Vec<Value> {
    sink.events()
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("conversation."))
        .collect()
}

#[tokio::test]
async fn an_unanswered_customer_is_abandoned_at_the_window_s_close_then_closed_as_idle_once() {
    let s = state_with(Sink::default(), 1440);
    let at = T0;
    let expires = at + WINDOW_SECS;
    let conv = seed(&s, at, None).await;
    let cv = conv.open.unwrap().conversation_id;

    run(&s, expires - 60 * MIN).await;
    run(&s, expires - 15 * MIN).await;
    assert!(lifecycle(&s.events).is_empty());
    let report = run(&s, expires).await;
    assert_eq!(
        (report.expired, report.abandoned, report.idle_closed),
        (1, 1, 0)
    );
    // The idle close falls on the same second; it is armed one second past the held alert's
    // deadline (see shared::due), so the next run closes it, as of its deadline.
    let report = run(&s, expires + 1).await;
    assert_eq!((report.abandoned, report.idle_closed), (0, 1));
    for later in [expires + 1, expires + 2, expires + 30 * 86_400] {
        assert_eq!(run(&s, later).await, RunReport::default(), "nothing more");
    }
    assert_eq!(
        types(&s.events),
        [
            "window.expiring",
            "window.expiring",
            "window.expired",
            "conversation.abandoned",
            "conversation.closed"
        ]
    );
    let events = lifecycle(&s.events);
    let abandoned = &events[0]["data"];
    assert_eq!(abandoned["conversation_id"], cv.as_str());
    assert_eq!(abandoned["waited_seconds"], WINDOW_SECS);
    assert_eq!(abandoned["unanswered_messages"], 1);
    let closed = &events[1];
    assert_eq!(closed["data"]["closed_by"], "idle");
    assert_eq!(closed["data"]["reason"], Value::Null);
    assert_eq!(closed["data"]["duration_seconds"], WINDOW_SECS);
    assert_eq!(closed["data"]["messages_in"], 1);
    assert_eq!(closed["data"]["messages_out"], 0);
    assert_eq!(closed["occurred_at"], shared::events::rfc3339(expires));
    assert_eq!(closed["contact"]["wa_id"], "5511900000001");
    Schemas::load().check_all(&s.events.messages());

    let after = record(&s).await;
    assert_eq!(after.open, None);
    assert_eq!(after.unpublished, None);
    assert_eq!(
        (after.due_at, after.due_bucket),
        (None, None),
        "out of the index"
    );
}

#[tokio::test]
async fn an_answered_conversation_closes_after_the_idle_time_from_the_last_message_unabandoned() {
    let s = state_with(Sink::default(), 30);
    let at = T0;
    seed(&s, at, Some(at + 10 * MIN)).await;
    let close_at = at + 10 * MIN + 30 * MIN;
    assert_eq!(record(&s).await.due_at, Some(close_at));

    assert_eq!(run(&s, close_at - 1).await, RunReport::default());
    let (report, counted) = shared::metrics::invocation::tallied(run(&s, close_at)).await;
    assert_eq!((report.idle_closed, report.abandoned), (1, 0));
    assert_eq!(types(&s.events), ["conversation.closed"]);
    assert!(
        !counted.is_empty(),
        "the idle close counts in the business metrics, like every committed event"
    );
    let closed = &s.events.events()[0];
    assert_eq!(closed["data"]["messages_out"], 1);
    assert_eq!(closed["data"]["duration_seconds"], 40 * MIN);

    // The window's alerts go on as before; no abandonment at its close (nothing open).
    let after = record(&s).await;
    assert_eq!(after.due_at, Some(at + WINDOW_SECS - 60 * MIN));
    run(&s, at + WINDOW_SECS).await;
    assert_eq!(
        types(&s.events),
        ["conversation.closed", "window.expired"],
        "a run after the close sends window.expired only"
    );
    Schemas::load().check_all(&s.events.messages());
}

#[tokio::test]
async fn an_answered_window_expires_without_abandonment_and_closes_later() {
    let s = state_with(Sink::default(), 1440);
    let at = T0;
    let answered = at + 5 * MIN;
    seed(&s, at, Some(answered)).await;
    run(&s, at + WINDOW_SECS - 15 * MIN).await;
    run(&s, at + WINDOW_SECS).await;
    assert_eq!(
        types(&s.events),
        ["window.expiring", "window.expired"],
        "no abandonment"
    );
    assert_eq!(record(&s).await.due_at, Some(answered + WINDOW_SECS));
    run(&s, answered + WINDOW_SECS).await;
    assert_eq!(
        types(&s.events),
        ["window.expiring", "window.expired", "conversation.closed"]
    );
}

#[tokio::test]
async fn a_close_whose_publish_failed_is_published_by_the_next_run_with_its_ids() {
    let s = state_with(Sink::failing(1), 30);
    let at = T0;
    seed(&s, at, None).await;
    let close_at = at + 30 * MIN;
    let failed = scheduled_run(&s, close_at * 1000).await;
    assert!(failed.is_err(), "the run reports what it left: {failed:?}");
    let held = record(&s).await;
    assert_eq!(held.open, None, "closed, committed");
    let key = held
        .unpublished
        .clone()
        .expect("names its unpublished outbox");
    assert!(held.due_at.is_some_and(|d| d <= close_at), "still due");
    let committed = s.store.load_outbox(&key).await.unwrap().unwrap();
    assert!(!committed.published);

    let report = run(&s, close_at + 60).await;
    assert_eq!(report.finished, 1);
    assert_eq!(report.idle_closed, 0, "not closed twice");
    let ids: Vec<_> = s
        .events
        .events()
        .iter()
        .map(|e| (e["type"].clone(), e["event_id"].clone()))
        .collect();
    let expected: Vec<_> = committed
        .events
        .iter()
        .map(|e| {
            (
                Value::from(e.event_type.clone()),
                Value::from(e.event_id.clone()),
            )
        })
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(
        types(&s.events),
        ["conversation.closed", "conversation.abandoned"]
    );
    let after = record(&s).await;
    assert_eq!(after.unpublished, None);
    assert_eq!(after.due_at, Some(at + WINDOW_SECS - 60 * MIN));
    assert_eq!(run(&s, close_at + 120).await, RunReport::default());
}

#[tokio::test]
async fn a_customer_writing_after_the_idle_close_is_in_a_new_conversation_the_schedule_tracks() {
    let s = state_with(Sink::default(), 30);
    let at = T0;
    let first = seed(&s, at, Some(at + 60)).await;
    run(&s, at + 60 + 30 * MIN).await;
    assert_eq!(types(&s.events), ["conversation.closed"]);

    // The processor's write for a new message: a new conversation, armed for its own close.
    let window = s.store.load_window(BUSINESS, &contact_id(1)).await.unwrap();
    let current = window.conversation.unwrap();
    let later = at + 2 * 3600;
    let wamid = "wamid.LATER";
    let policy = &s.config.due;
    let (mut conv, expect) = shared::window::opened_by_inbound(
        Some(current),
        BUSINESS,
        &contact_id(1),
        later,
        Some(wamid),
        policy,
    )
    .unwrap();
    let opened =
        conversation::customer_message(&mut conv, later, wamid, Some(wamid), Entry::Organic);
    policy.arm_earlier(&mut conv);
    s.store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Conversation(conv, expect)],
        })
        .await
        .unwrap();
    let Some(conversation::Lifecycle::Opened {
        conversation_id, ..
    }) = opened
    else {
        panic!("a new conversation opens: {opened:?}")
    };
    assert_ne!(conversation_id, first.open.unwrap().conversation_id);
    assert_eq!(record(&s).await.due_at, Some(later + 30 * MIN));
    run(&s, later + 30 * MIN).await;
    let events = lifecycle(&s.events);
    assert_eq!(
        events.len(),
        3,
        "closed, then the new one closed and abandoned"
    );
    assert_eq!(
        events[1]["data"]["conversation_id"],
        conversation_id.as_str()
    );
}

#[tokio::test]
async fn overlapping_runs_close_and_abandon_once() {
    let s = state_with(Sink::default(), 1440);
    seed(&s, T0, None).await;
    let now = T0 + WINDOW_SECS + 60;
    let (a, b) = tokio::join!(run(&s, now), run(&s, now));
    assert_eq!(a.idle_closed + b.idle_closed, 1);
    assert_eq!(a.abandoned + b.abandoned, 1);
    let ids: std::collections::HashSet<_> = s
        .events
        .events()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "window.expired, abandoned, closed: {:?}",
        types(&s.events)
    );
}
