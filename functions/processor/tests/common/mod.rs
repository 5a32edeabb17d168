//! Test helpers: fixtures as SQS records, recording/failing event sinks, schema validation.
#![allow(dead_code)]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use processor::{Config, State};
use shared::queue::MessageSink;
use shared::store::memory::MemoryStore;

pub const RECEIVED_AT_MS: i64 = 1_749_416_390_000;
pub const NOW_MS: i64 = 1_749_416_400_000;

#[allow(unused_imports)] // not every test binary validates events
pub use shared::contract::EventContract as Schemas;
/// Records every message; `Sink::failing(n)` fails the first `n` sends (after the state was committed).
pub use shared::testkit::RecordingSink as Sink;

pub type TestState = State<MemoryStore, Sink>;

/// The deadline Lambda gives an invocation of the template's 30 s `Timeout`.
pub fn lambda_timeout() -> shared::budget::Deadline {
    shared::budget::Deadline::after(std::time::Duration::from_secs(30))
}

pub fn state() -> TestState {
    state_with(Sink::default())
}

pub fn state_with(sink: Sink) -> TestState {
    State {
        store: MemoryStore::new(),
        events: sink,
        media: Sink::default(),
        config: Config::default(),
        budget: Default::default(),
        claims: Box::new(shared::blob::memory::MemoryBlobs::new("bucket")),
    }
}

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../events/meta/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim_end()
        .to_owned()
}

pub fn fixture_names() -> Vec<String> {
    let dir = format!("{}/../../events/meta", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// The SQS bodies the webhook would enqueue for a Meta webhook body.
pub fn bodies(webhook_body: &str) -> Vec<String> {
    shared::inbound::split(webhook_body.as_bytes(), RECEIVED_AT_MS)
        .unwrap()
        .iter()
        .map(|u| serde_json::to_string(u).unwrap())
        .collect()
}

pub fn sqs_event(bodies: &[String]) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("msg-{i}"));
            m.body = Some(b.clone());
            m
        })
        .collect();
    e
}

/// Runs a webhook body through the processor; returns the ids of failed records.
pub async fn run<S: shared::store::ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    webhook_body: &str,
) -> Vec<String> {
    let response =
        processor::process_event(state, sqs_event(&bodies(webhook_body)), &lambda_timeout()).await;
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

/// Replaces one JSON string value in a fixture (e.g. a wa_id or a wamid).
pub fn with(body: &str, from: &str, to: &str) -> String {
    body.replace(from, to)
}
