//! A batch's outcome events share `SendMessageBatch` requests (`shared::queue::coalesce`): the
//! sender as it runs in AWS wraps its events queue in `Coalescing`, so the commands of one
//! invocation publish together, and a failed shared request fails exactly the commands in it.
//! In virtual time: the limiter spaces the sends 12.8 ms apart, and a busy machine must not
//! stretch that past the linger.

mod support;

use shared::queue::coalesce::Coalescing;
use shared::queue::{MessageSink, OutboundMessage, QueueError};
use support::*;

/// The events queue behind the coalescing sink: what it received, request by request.
#[derive(Default)]
struct Requests {
    sink: RecordingSink,
    sizes: Mutex<Vec<usize>>,
}

impl MessageSink for Requests {
    async fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
        self.sizes.lock().unwrap().push(messages.len());
        self.sink.send_all(messages).await
    }
}

type Coalesced = State<
    MemoryStore,
    SenderItems,
    Coalescing<Requests>,
    FakeGraph,
    FakeVisibility,
    Privacy<MemoryBlobs, StaticSecrets<SubjectKeys>>,
>;

/// The test sender with its events queue behind a coalescing sink (the sender's 150 ms linger).
fn coalesced(events: Requests) -> Coalesced {
    let s = sender(vec![]).state;
    State {
        events: Coalescing::new(events, s.config.publish_linger),
        config: s.config,
        store: s.store,
        sender_store: s.sender_store,
        graph: s.graph,
        visibility: s.visibility,
        limiter: s.limiter,
        validators: s.validators,
        budgets: s.budgets,
        privacy: s.privacy,
    }
}

/// A utility template to the `n`th of ten recipients, each in its own FIFO group.
fn to_recipient(n: u8) -> SqsMessage {
    let id = format!("c-pub-{n}");
    let command = json!({"command_id": id, "type": "send_template", "phone_number_id": PN,
        "to": format!("+55119876543{n:02}"),
        "template": {"name": "order_update", "language": {"code": "pt_BR"}, "category": "utility"}});
    let mut r = record(&command);
    r.attributes
        .insert("MessageGroupId".into(), format!("wa:55119876543{n:02}"));
    r
}

async fn receives(state: &Coalesced, records: Vec<SqsMessage>) -> SqsBatchResponse {
    let mut event = SqsEvent::default();
    event.records = records;
    handler(state, event, &Deadline::after(Duration::from_secs(30)))
        .await
        .expect("the handler never fails a batch")
}

fn accepted(sink: &RecordingSink) -> Vec<String> {
    let mut ids: Vec<String> = sink
        .events()
        .iter()
        .filter(|e| e["type"] == "command.accepted")
        .map(|e| e["data"]["command_id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(start_paused = true)]
async fn the_outcomes_of_one_batch_go_out_in_one_request() {
    // Arrange
    let state = coalesced(Requests::default());
    let records = (0..5).map(to_recipient).collect();

    // Act
    let response = receives(&state, records).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(state.graph.requests.lock().unwrap().len(), 5);
    assert_eq!(
        *state.events.inner().sizes.lock().unwrap(),
        vec![5],
        "five outcomes, one SendMessageBatch"
    );
    let expected: Vec<String> = (0..5).map(|n| format!("c-pub-{n}")).collect();
    assert_eq!(accepted(&state.events.inner().sink), expected);
    EventContract::load().check_all(&state.events.inner().sink.messages());
}

#[tokio::test(start_paused = true)]
async fn a_failed_shared_request_defers_its_commands_and_their_redelivery_publishes_without_sending_again(
) {
    // Arrange: the first request to the events queue fails.
    let state = coalesced(Requests {
        sink: RecordingSink::failing(1),
        ..Requests::default()
    });
    let batch = || (0..3).map(to_recipient).collect::<Vec<_>>();

    // Act
    let first = receives(&state, batch()).await;
    let published_first = accepted(&state.events.inner().sink);
    let again = receives(&state, batch()).await;

    // Assert
    assert_eq!(
        failures(&first).len(),
        3,
        "every command of the failed request comes back"
    );
    assert!(published_first.is_empty());
    assert!(failures(&again).is_empty());
    assert_eq!(
        state.graph.requests.lock().unwrap().len(),
        3,
        "sent once each: the redelivery found the outcomes in the outbox"
    );
    let expected: Vec<String> = (0..3).map(|n| format!("c-pub-{n}")).collect();
    assert_eq!(accepted(&state.events.inner().sink), expected);
}

#[tokio::test(start_paused = true)]
async fn commands_of_one_group_publish_in_their_order() {
    // Arrange: two commands to the same recipient, one after the other in its group.
    let state = coalesced(Requests::default());
    let second = {
        let mut r = record(&template("c-order-2", "order_update", Some("utility")));
        r.message_id = Some("msg-c-order-2".into());
        r
    };
    let records = vec![
        record(&template("c-order-1", "order_update", Some("utility"))),
        second,
    ];

    // Act
    let response = receives(&state, records).await;

    // Assert
    assert!(failures(&response).is_empty());
    let ids: Vec<String> = state
        .events
        .inner()
        .sink
        .events()
        .iter()
        .map(|e| e["data"]["command_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids, ["c-order-1", "c-order-2"]);
}
