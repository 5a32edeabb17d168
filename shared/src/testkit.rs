//! Test doubles and builders shared by every crate's tests and benchmarks: Meta-shaped webhook
//! bodies and a recording (optionally failing) message sink. Small and dependency-free, so it
//! ships in the library rather than being copied per crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::queue::{MessageSink, OutboundMessage, QueueError};

/// A [`MessageSink`] that records every message; the first `fail_first` sends fail as SQS
/// would reject them (to prove what happens between a state write and its publish).
#[derive(Default)]
pub struct RecordingSink {
    pub sent: Mutex<Vec<OutboundMessage>>,
    pub fail_first: AtomicUsize,
}

impl RecordingSink {
    /// A sink whose first `times` sends fail.
    pub fn failing(times: usize) -> Self {
        Self {
            fail_first: AtomicUsize::new(times),
            ..Self::default()
        }
    }

    /// Everything accepted so far, in order.
    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The accepted bodies parsed as JSON (bodies that are not JSON become `Null`).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.messages()
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap_or(serde_json::Value::Null))
            .collect()
    }

    /// The accepted events of one `type`.
    pub fn of_type(&self, event_type: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == event_type)
            .collect()
    }
}

impl MessageSink for RecordingSink {
    async fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
        let failing = self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if failing {
            return Err(QueueError::Rejected {
                queue_url: "test-queue".into(),
                failed: messages.len(),
                total: messages.len(),
                first_code: "InjectedFault".into(),
            });
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.extend(messages);
        }
        Ok(())
    }
}

/// A `messages` webhook body with `count` text messages spread over entries of at most 100
/// updates each, every message from its own sender and `body_len` characters long (accented text,
/// escaped the way Meta escapes it).
pub fn text_batch(count: usize, body_len: usize) -> String {
    let text: String = "Ol\\u00e1, tudo bem? "
        .chars()
        .cycle()
        .take(body_len)
        .collect();
    let text = text.trim_end_matches('\\').to_owned();
    let mut entries = Vec::new();
    let mut n = 0;
    while n < count {
        let in_entry = (count - n).min(100);
        let mut contacts = Vec::with_capacity(in_entry);
        let mut messages = Vec::with_capacity(in_entry);
        for i in n..n + in_entry {
            let wa_id = format!("55119{:08}", i);
            contacts.push(format!(
                r#"{{"profile":{{"name":"Cliente {i}"}},"wa_id":"{wa_id}"}}"#
            ));
            messages.push(format!(
                r#"{{"from":"{wa_id}","id":"wamid.TEST{i:06}","timestamp":"{}","type":"text","text":{{"body":"{text}"}}}}"#,
                1_749_416_383 + i
            ));
        }
        entries.push(format!(
            r#"{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{}],"messages":[{}]}},"field":"messages"}}]}}"#,
            contacts.join(","),
            messages.join(",")
        ));
        n += in_entry;
    }
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{}]}}"#,
        entries.join(",")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_valid_json_with_every_message() {
        let body = super::text_batch(250, 40);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let total: usize = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["changes"][0]["value"]["messages"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(total, 250);
    }
}
