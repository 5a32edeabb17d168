//! The direct path on the in-memory table: what it writes, and what a failed publish, a crash,
//! a repeat and a later status do to the events the CRM gets.

use serde_json::{json, value::RawValue, Value};

use super::super::{apply_status, DeliveryStatus, StatusContext, StatusUpdate};
use crate::events::{self, EventType};
use crate::metrics::business::Tally;
use crate::metrics::invocation::tallied;
use crate::outbox::{Applied, OutboxError};
use crate::store::memory::MemoryStore;
use crate::store::unpublished::StatusStore;
use crate::store::{
    keys, Commit, ContactRecord, ConversationRecord, Direction, Expect, MessageRecord, OutboxStore,
    ProcessorStore, Write,
};
use crate::testkit::RecordingSink;

const BUSINESS: &str = "106540352242922";
const WAMID: &str = "wamid.OUT1";
const CONTACT: &str = "ct_0123456789abcdef01234567";
const T0: i64 = 1_764_500_000;

fn ctx() -> StatusContext {
    StatusContext {
        business: BUSINESS.into(),
        waba_id: Some("102290129340398".into()),
        now_ms: T0 * 1000,
        retention: Default::default(),
    }
}

fn status(name: &str, at: i64, errors: Value) -> StatusUpdate {
    let raw = json!({"id": WAMID, "status": name, "timestamp": at.to_string(),
        "recipient_id": "5511987654321", "errors": errors,
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "service", "type": "regular"}})
    .to_string();
    let raw = RawValue::from_string(raw).unwrap();
    StatusUpdate::parse(&raw, at).unwrap()
}

fn plain(name: &str, at: i64) -> StatusUpdate {
    status(name, at, json!([]))
}

/// A table where the sender stored its message (at `status`) for a known contact with an open
/// window.
async fn sent_message(status: Option<DeliveryStatus>) -> MemoryStore {
    let store = MemoryStore::new();
    let contact = ContactRecord {
        business: BUSINESS.into(),
        contact_id: CONTACT.into(),
        wa_id: Some("5511987654321".into()),
        phone: Some("+5511987654321".into()),
        user_id: None,
        parent_user_id: None,
        name: None,
        username: None,
        marketing_opt_out: false,
        consent_at: None,
        created_at_ms: 1,
        updated_at_ms: 1,
        ttl: None,
    };
    let conversation = ConversationRecord {
        business: BUSINESS.into(),
        contact_id: CONTACT.into(),
        last_inbound_at: Some(T0 - 60),
        window_expires_at: Some(T0 - 60 + 86_400),
        ..Default::default()
    };
    let message = MessageRecord {
        wamid: WAMID.into(),
        business: BUSINESS.into(),
        direction: Direction::Outbound,
        contact_id: Some(CONTACT.into()),
        message_type: "text".into(),
        timestamp: T0 - 5,
        status,
        status_at: None,
        command_id: Some("cmd-1".into()),
        template: None,
        raw: None,
        ttl: None,
    };
    store
        .commit(Commit {
            outbox: None,
            writes: vec![
                Write::Contact(contact, Expect::Absent),
                Write::Conversation(conversation, Expect::Absent),
                Write::Message(message, Expect::Absent),
            ],
        })
        .await
        .unwrap();
    store
}

async fn apply(
    store: &MemoryStore,
    sink: &RecordingSink,
    update: &StatusUpdate,
) -> Result<Applied, OutboxError> {
    apply_status(store, sink, &ctx(), update).await
}

fn event_id(name: &str) -> String {
    events::event_id(
        &format!("status:{WAMID}:{name}"),
        EventType::MessageStatus,
        0,
    )
}

/// `(status, previous_status, event_id)` of every `message.status` the sink accepted, in order.
fn published(sink: &RecordingSink) -> Vec<(String, Value, String)> {
    sink.of_type("message.status")
        .iter()
        .map(|e| {
            (
                e["data"]["status"].as_str().unwrap_or_default().to_owned(),
                e["data"]["previous_status"].clone(),
                e["event_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn message_state(store: &MemoryStore) -> crate::store::MessageState {
    store.load_message(WAMID).await.unwrap()
}

#[tokio::test]
async fn a_plain_status_writes_the_message_once_publishes_and_clears_without_an_outbox() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::default();

    let (applied, counted) = tallied(apply(&store, &sink, &plain("delivered", T0))).await;

    assert_eq!(applied.unwrap(), Applied::Committed { events: 1 });
    let state = message_state(&store).await;
    let message = state.message.unwrap();
    assert_eq!(message.record.status, Some(DeliveryStatus::Delivered));
    assert_eq!(message.record.status_at, Some(T0));
    // Created at 1, recorded at 2, cleared at 3: one write of the record, one of the mark.
    assert_eq!(message.version, 3);
    assert!(state.unpublished.is_empty());
    assert!(store.scan_prefix("OUTBOX#").is_empty(), "no outbox item");
    assert_eq!(
        published(&sink),
        [("delivered".into(), json!("sent"), event_id("delivered"))]
    );
    let event = &sink.of_type("message.status")[0];
    assert_eq!(event["contact"]["id"], CONTACT);
    assert_eq!(event["data"]["command_id"], "cmd-1");
    assert_eq!(event["data"]["origin"], "bridge");
    assert_eq!(counted, Tally::of(&[sink_event(&sink, 0)]));
    assert!(!counted.is_empty());
}

/// The pending event the sink received as `index`, to compare tallies with.
fn sink_event(sink: &RecordingSink, index: usize) -> crate::events::PendingEvent {
    let m = &sink.messages()[index];
    crate::events::PendingEvent {
        event_id: m.dedup_id.clone().unwrap_or_default(),
        event_type: "message.status".into(),
        group_id: m.group_id.clone().unwrap_or_default(),
        body: m.body.clone(),
    }
}

#[tokio::test]
async fn a_failed_publish_leaves_the_status_unpublished_and_its_redelivery_publishes_it_once() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::failing(1);

    let (first, counted) = tallied(apply(&store, &sink, &plain("delivered", T0))).await;
    assert!(matches!(first, Err(OutboxError::Queue(_))), "{first:?}");
    assert!(!counted.is_empty(), "counted at its commit");
    let state = message_state(&store).await;
    assert_eq!(
        state.message.unwrap().record.status,
        Some(DeliveryStatus::Delivered)
    );
    assert_eq!(
        state.unpublished.get(&DeliveryStatus::Delivered),
        Some(&Some(DeliveryStatus::Sent))
    );
    assert!(sink.messages().is_empty());

    let (redelivered, counted) = tallied(apply(&store, &sink, &plain("delivered", T0))).await;
    assert_eq!(redelivered.unwrap(), Applied::Duplicate { republished: 1 });
    assert!(counted.is_empty(), "a republish is not a new event");
    assert_eq!(
        published(&sink),
        [("delivered".into(), json!("sent"), event_id("delivered"))]
    );
    assert!(message_state(&store).await.unpublished.is_empty());

    let again = apply(&store, &sink, &plain("delivered", T0)).await.unwrap();
    assert_eq!(again, Applied::Nothing);
    assert_eq!(sink.messages().len(), 1, "published once");
}

#[tokio::test]
async fn a_crash_between_publish_and_clear_republishes_the_same_event() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::default();
    let update = plain("delivered", T0);
    let sent = message_state(&store).await.message.unwrap().record;
    // The status is recorded and its event published; the clear is refused (the run stops).
    let recorded = MessageRecord {
        status: Some(DeliveryStatus::Delivered),
        status_at: Some(T0),
        ..sent.clone()
    };
    let mark = [(DeliveryStatus::Delivered, Some(DeliveryStatus::Sent))].into();
    assert!(store.record_status(&recorded, &mark, 1).await.unwrap());
    let key = update.update_key();
    let event = super::super::bridge_event(&store, &ctx(), &update, &key, &sent, sent.status)
        .await
        .unwrap();
    store.fail_next_commits(1);
    assert!(super::publish(&store, &sink, &update, event).await.is_err());

    let redelivered = apply(&store, &sink, &update).await.unwrap();

    assert_eq!(redelivered, Applied::Duplicate { republished: 1 });
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0], messages[1],
        "the same event: FIFO and the CRM drop the repeat"
    );
    assert!(message_state(&store).await.unpublished.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_later_status_waits_for_an_unpublished_one_so_both_reach_the_crm_in_rank_order() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::failing(1);
    // `delivered` is recorded, then its publish fails (a crash would leave the same state).
    assert!(apply(&store, &sink, &plain("delivered", T0)).await.is_err());

    // `read` arrives first: it neither writes nor publishes, and its record is retried.
    let read = apply(&store, &sink, &plain("read", T0 + 1)).await;
    assert!(matches!(read, Err(OutboxError::Waiting)), "{read:?}");
    let state = message_state(&store).await;
    assert_eq!(
        state.message.unwrap().record.status,
        Some(DeliveryStatus::Delivered)
    );
    assert!(sink.messages().is_empty());

    // The redeliveries: `delivered`'s publishes it, then `read` applies.
    assert_eq!(
        apply(&store, &sink, &plain("delivered", T0)).await.unwrap(),
        Applied::Duplicate { republished: 1 }
    );
    assert_eq!(
        apply(&store, &sink, &plain("read", T0 + 1)).await.unwrap(),
        Applied::Committed { events: 1 }
    );

    assert_eq!(
        published(&sink),
        [
            ("delivered".into(), json!("sent"), event_id("delivered")),
            ("read".into(), json!("delivered"), event_id("read")),
        ]
    );
    let state = message_state(&store).await;
    assert_eq!(
        state.message.unwrap().record.status,
        Some(DeliveryStatus::Read)
    );
    assert!(state.unpublished.is_empty());
}

/// A sink that takes a while to accept, as SQS does under load.
struct SlowSink(RecordingSink);

impl crate::queue::MessageSink for SlowSink {
    async fn send_all(
        &self,
        messages: Vec<crate::queue::OutboundMessage>,
    ) -> Result<(), crate::queue::QueueError> {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.0.send_all(messages).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_later_status_arriving_during_an_earlier_ones_publish_follows_it_at_once() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = SlowSink(RecordingSink::default());
    let delivered = plain("delivered", T0);
    let read = plain("read", T0 + 1);
    let ctx = ctx();

    let (first, second) = tokio::join!(apply_status(&store, &sink, &ctx, &delivered), async {
        // Arrives once `delivered` is recorded and while its event is on its way.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(!message_state(&store).await.unpublished.is_empty());
        apply_status(&store, &sink, &ctx, &read).await
    });

    assert_eq!(first.unwrap(), Applied::Committed { events: 1 });
    assert_eq!(second.unwrap(), Applied::Committed { events: 1 });
    assert_eq!(
        published(&sink.0),
        [
            ("delivered".into(), json!("sent"), event_id("delivered")),
            ("read".into(), json!("delivered"), event_id("read")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_side_writing_status_also_waits_for_an_unpublished_one() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::failing(1);
    assert!(apply(&store, &sink, &plain("delivered", T0)).await.is_err());

    let failed = status("failed", T0 + 1, json!([{"code": 131_047}]));
    let waited = apply(&store, &sink, &failed).await;

    assert!(matches!(waited, Err(OutboxError::Waiting)), "{waited:?}");
    assert!(store.scan_prefix("OUTBOX#").is_empty());
    let state = message_state(&store).await;
    assert!(
        state.unpublished.contains_key(&DeliveryStatus::Delivered),
        "the mark is kept"
    );
}

#[tokio::test]
async fn a_meta_duplicate_after_the_publish_publishes_nothing() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::default();
    apply(&store, &sink, &plain("delivered", T0)).await.unwrap();
    let version = message_state(&store).await.message.unwrap().version;

    let (again, counted) = tallied(apply(&store, &sink, &plain("delivered", T0))).await;
    let lower = apply(&store, &sink, &plain("sent", T0)).await.unwrap();

    assert_eq!(again.unwrap(), Applied::Nothing);
    assert_eq!(lower, Applied::Nothing);
    assert!(counted.is_empty());
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(
        message_state(&store).await.message.unwrap().version,
        version
    );
}

#[tokio::test]
async fn a_failure_with_a_closed_window_still_commits_through_the_outbox_transaction() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::default();
    let failed = status(
        "failed",
        T0,
        json!([{"code": 131_047, "title": "Re-engagement message"}]),
    );

    let applied = apply(&store, &sink, &failed).await.unwrap();

    assert_eq!(applied, Applied::Committed { events: 1 });
    let outbox = store
        .load_outbox(&format!("status:{WAMID}:failed"))
        .await
        .unwrap()
        .expect("the outbox item is the dedup marker");
    assert!(outbox.published);
    let conversation = store
        .load_contact(BUSINESS, CONTACT)
        .await
        .unwrap()
        .conversation
        .unwrap()
        .record;
    assert_eq!(conversation.window_closed_at, Some(T0));
    let state = message_state(&store).await;
    assert_eq!(
        state.message.unwrap().record.status,
        Some(DeliveryStatus::Failed)
    );
    assert!(state.unpublished.is_empty());
    assert_eq!(published(&sink)[0].2, event_id("failed"));
}

#[tokio::test]
async fn an_opt_out_failure_still_commits_through_the_outbox_transaction() {
    let store = sent_message(Some(DeliveryStatus::Delivered)).await;
    let sink = RecordingSink::default();
    let failed = status("failed", T0, json!([{"code": 131_050}]));

    assert_eq!(
        apply(&store, &sink, &failed).await.unwrap(),
        Applied::Committed { events: 2 }
    );
    assert!(store
        .load_outbox(&format!("status:{WAMID}:failed"))
        .await
        .unwrap()
        .is_some());
    let contact = store
        .load_contact(BUSINESS, CONTACT)
        .await
        .unwrap()
        .contact
        .unwrap();
    assert!(contact.record.marketing_opt_out);
}

#[tokio::test]
async fn a_plain_failure_takes_the_direct_path() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    let sink = RecordingSink::default();
    let failed = status("failed", T0, json!([{"code": 131_026}]));

    assert_eq!(
        apply(&store, &sink, &failed).await.unwrap(),
        Applied::Committed { events: 1 }
    );
    assert!(store.scan_prefix("OUTBOX#").is_empty());
    assert_eq!(
        published(&sink),
        [("failed".into(), json!("sent"), event_id("failed"))]
    );
}

#[tokio::test]
async fn a_status_is_recorded_only_over_the_version_read() {
    let store = sent_message(None).await;
    let message = message_state(&store).await.message.unwrap();
    let mark = [(DeliveryStatus::Sent, None)].into();

    assert!(!store
        .record_status(&message.record, &mark, 8)
        .await
        .unwrap());
    assert!(store
        .record_status(&message.record, &mark, 1)
        .await
        .unwrap());
    assert!(!store
        .record_status(&message.record, &mark, 1)
        .await
        .unwrap());

    let state = message_state(&store).await;
    assert_eq!(state.message.unwrap().version, 2);
    assert_eq!(state.unpublished, mark);
}

#[tokio::test]
async fn clearing_a_status_that_is_not_unpublished_changes_nothing() {
    let store = sent_message(Some(DeliveryStatus::Sent)).await;
    store
        .clear_unpublished(WAMID, DeliveryStatus::Read)
        .await
        .unwrap();
    store
        .clear_unpublished("wamid.NOT_STORED", DeliveryStatus::Read)
        .await
        .unwrap();
    assert_eq!(message_state(&store).await.message.unwrap().version, 1);
    assert!(store
        .get(&keys::message_pk("wamid.NOT_STORED"), keys::MESSAGE)
        .is_none());
}
