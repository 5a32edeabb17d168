//! Test helpers: seeded windows, a recording (and failable) event sink, schema validation.
#![allow(dead_code)]

use shared::store::{
    keys, Commit, CommitOutcome, ContactRecord, ConversationRecord, Expect, OutboxStore, Write,
};
use shared::window::{AlertLeads, WINDOW_SECS};

pub const BUSINESS: &str = "106540352242922";
/// A fixed "now" for the memory tests (2025-06-08T21:00:00Z).
pub const T0: i64 = 1_749_416_400;

#[allow(unused_imports)] // not every test binary validates events
pub use shared::contract::EventContract as Schemas;
/// Records every message; `Sink::failing(n)` fails the first `n` sends.
pub use shared::testkit::RecordingSink as Sink;

/// `(type, lead_minutes, expires_at)` of every event the sink accepted, in order.
pub fn summary(sink: &Sink) -> Vec<(String, u64, String)> {
    sink.events()
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
        parent_user_id: None,
        username: None,
        name: Some(format!("Cliente {n}")),
        marketing_opt_out: false,
        consent_at: None,
        created_at_ms: 0,
        updated_at_ms: 0,
        ttl: None,
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
