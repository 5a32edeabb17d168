//! Test helpers: fixtures as SQS records, recording/failing event sinks, schema validation.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use processor::{Config, State};
use serde_json::Value;
use shared::queue::{MessageSink, OutboundMessage, QueueError};
use shared::store::memory::MemoryStore;

pub const RECEIVED_AT_MS: i64 = 1_749_416_390_000;
pub const NOW_MS: i64 = 1_749_416_400_000;

/// Records every message; fails the first `fail_first` sends (after the state was committed).
#[derive(Default)]
pub struct Sink {
    pub sent: Mutex<Vec<OutboundMessage>>,
    pub fail_first: AtomicUsize,
}

impl Sink {
    pub fn failing(times: usize) -> Self {
        Self {
            fail_first: AtomicUsize::new(times),
            ..Self::default()
        }
    }

    pub fn events(&self) -> Vec<Value> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    pub fn of_type(&self, t: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == t)
            .collect()
    }

    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.sent.lock().unwrap().clone()
    }
}

impl MessageSink for Sink {
    async fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
        let left = self.fail_first.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_first.store(left - 1, Ordering::SeqCst);
            return Err(QueueError::Rejected {
                queue_url: "crm-events.fifo".into(),
                failed: messages.len(),
                total: messages.len(),
                first_code: "InjectedFault".into(),
            });
        }
        self.sent.lock().unwrap().extend(messages);
        Ok(())
    }
}

pub type TestState = State<MemoryStore, Sink>;

pub fn state() -> TestState {
    state_with(Sink::default())
}

pub fn state_with(sink: Sink) -> TestState {
    State {
        store: MemoryStore::new(),
        events: sink,
        config: Config::default(),
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
    let response = processor::process_event(state, sqs_event(&bodies(webhook_body))).await;
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

/// Validates an event against the envelope and its type's schema; panics with the errors.
pub struct Schemas {
    dir: String,
    envelope: jsonschema::Validator,
    by_type: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn validator(path: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl Schemas {
    pub fn load() -> Self {
        let dir = format!("{}/../../schemas/events", env!("CARGO_MANIFEST_DIR"));
        Self {
            envelope: validator(&format!("{dir}/envelope.json")),
            dir,
            by_type: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, event: &Value) {
        let t = event["type"].as_str().expect("event has a type");
        let typed = self
            .by_type
            .lock()
            .unwrap()
            .entry(t.to_owned())
            .or_insert_with(|| std::sync::Arc::new(validator(&format!("{}/{t}.json", self.dir))))
            .clone();
        let errors: Vec<String> = self
            .envelope
            .iter_errors(event)
            .chain(typed.iter_errors(event))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{t} event violates its schema: {errors:#?}\n{event:#}"
        );
    }

    pub fn check_all(&self, sink_messages: &[OutboundMessage]) {
        for m in sink_messages {
            let event: Value = serde_json::from_str(&m.body).unwrap();
            self.check(&event);
            assert_eq!(m.dedup_id.as_deref(), event["event_id"].as_str());
            assert_eq!(
                m.attributes,
                vec![(
                    "type".to_owned(),
                    event["type"].as_str().unwrap().to_owned()
                )]
            );
            let group = event["contact"]["id"]
                .as_str()
                .or(event["phone_number_id"].as_str())
                .or(event["waba_id"].as_str());
            assert_eq!(m.group_id.as_deref(), group);
        }
    }
}
