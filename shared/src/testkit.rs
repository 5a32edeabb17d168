//! Test doubles and builders shared by every crate's tests and benchmarks: Meta-shaped webhook
//! bodies, a recording (optionally failing) message sink and a log recorder. Small and without
//! dependencies of its own, so it ships in the library rather than being copied per crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

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

/// One log event as a [`LogRecorder`] saw it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// The spans it was logged in, outermost first.
    pub spans: Vec<String>,
    pub level: tracing::Level,
    /// The `message` field.
    pub message: String,
    /// Every other field, as the log line would print it.
    pub fields: Vec<(String, String)>,
}

/// Records every event (any level) with the spans it was logged in, so a test can check which
/// context a line carries: a span entered across an `.await` shows up on other tasks' lines.
#[derive(Clone, Default)]
pub struct LogRecorder {
    events: Arc<Mutex<Vec<RecordedEvent>>>,
}

impl LogRecorder {
    /// Makes this recorder the subscriber of the current thread until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing_subscriber::registry()
            .with(self.clone())
            .set_default()
    }

    /// Everything recorded so far, in order.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl<S> tracing_subscriber::Layer<S> for LogRecorder
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let spans = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_owned()).collect())
            .unwrap_or_default();
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Ok(mut events) = self.events.lock() {
            events.push(RecordedEvent {
                spans,
                level: *event.metadata().level(),
                message: fields.message,
                fields: fields.others,
            });
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(String, String)>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.others
                .push((field.name().to_owned(), format!("{value:?}")));
        }
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
