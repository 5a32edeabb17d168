//! Test helpers: seeded windows, a recording (and failable) event sink, schema validation.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use shared::queue::{MessageSink, OutboundMessage, QueueError};
use shared::store::{
    keys, Commit, CommitOutcome, ContactRecord, ConversationRecord, Expect, OutboxStore, Write,
};
use shared::window::{AlertLeads, WINDOW_SECS};

pub const BUSINESS: &str = "106540352242922";
/// A fixed "now" for the memory tests (2025-06-08T21:00:00Z).
pub const T0: i64 = 1_749_416_400;

/// Records every message; fails the first `fail_first` sends.
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

    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.sent.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<Value> {
        self.messages()
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    /// `(type, lead_minutes, expires_at)` of every event, in order.
    pub fn summary(&self) -> Vec<(String, u64, String)> {
        self.events()
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["data"]["lead_minutes"].as_u64().unwrap(),
                    e["data"]["expires_at"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
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

pub fn contact_id(n: usize) -> String {
    format!("ct_{n:024x}")
}

/// The conversation the processor writes for an inbound message at `inbound_at`: window open
/// for 24 h, first alert armed at the largest lead.
pub fn opened(n: usize, inbound_at: i64) -> ConversationRecord {
    let id = contact_id(n);
    let expires = inbound_at + WINDOW_SECS;
    ConversationRecord {
        business: BUSINESS.into(),
        contact_id: id.clone(),
        last_inbound_at: Some(inbound_at),
        last_inbound_wamid: Some(format!("wamid.IN{n}-{inbound_at}")),
        window_expires_at: Some(expires),
        awaiting_reply: true,
        due_bucket: Some(keys::due_bucket(&id)),
        due_at: Some(AlertLeads::default().first_due(expires)),
        ..ConversationRecord::default()
    }
}

pub fn contact(n: usize) -> ContactRecord {
    ContactRecord {
        business: BUSINESS.into(),
        contact_id: contact_id(n),
        wa_id: Some(format!("55119{n:08}")),
        phone: Some(format!("+55119{n:08}")),
        user_id: None,
        name: Some(format!("Cliente {n}")),
        marketing_opt_out: false,
        consent_at: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

/// Stores contact `n` with a window opened by a message at `inbound_at`.
pub async fn seed<S: OutboxStore>(store: &S, n: usize, inbound_at: i64) {
    let outcome = store
        .commit(Commit {
            outbox: None,
            writes: vec![
                Write::Contact(contact(n), Expect::Absent),
                Write::Conversation(opened(n, inbound_at), Expect::Absent),
            ],
        })
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::Applied);
}

/// Validates an event against the envelope and its type's schema; panics with the errors.
pub struct Schemas {
    envelope: jsonschema::Validator,
    by_type: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    pub fn load() -> Self {
        let dir = format!("{}/../../schemas/events", env!("CARGO_MANIFEST_DIR"));
        let load = |name: &str| -> jsonschema::Validator {
            let text = std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap();
            let schema: Value = serde_json::from_str(&text).unwrap();
            jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        Self {
            envelope: load("envelope"),
            by_type: ["window.expiring", "window.expired"]
                .into_iter()
                .map(|t| (t.to_owned(), load(t)))
                .collect(),
        }
    }

    pub fn check_all(&self, messages: &[OutboundMessage]) {
        for m in messages {
            let event: Value = serde_json::from_str(&m.body).unwrap();
            let t = event["type"].as_str().expect("event has a type");
            let typed = self
                .by_type
                .get(t)
                .unwrap_or_else(|| panic!("no schema for {t}"));
            let errors: Vec<String> = self
                .envelope
                .iter_errors(&event)
                .chain(typed.iter_errors(&event))
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{t} violates its schema: {errors:#?}\n{event:#}"
            );
            assert_eq!(m.dedup_id.as_deref(), event["event_id"].as_str());
            assert_eq!(m.group_id.as_deref(), event["contact"]["id"].as_str());
            assert_eq!(m.attributes, vec![("type".to_owned(), t.to_owned())]);
        }
    }
}
