//! `history`: the WhatsApp Business app's past chats (up to 180 days before the number joined
//! the API), sent once after onboarding in phases (0: day 0–1, 1: day 1–90, 2: day 90–180),
//! each phase possibly in chunks. `history[]` entries carry `metadata{phase, chunk_order,
//! progress}` and `threads[{id, messages[]}]`; a thread's `id` is the customer's number, each
//! message is shaped like an inbound one (plus `to` when the business sent it) with
//! `history_context{status}`. A business that declined sharing sends `errors[]` instead.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use shared::lenient;

use super::echo::Outbound;
use super::message::Message;

/// The value of a `history` change.
#[derive(Debug, Clone, Default)]
pub struct HistoryValue {
    pub chunks: Vec<Chunk>,
}

/// One `history[]` entry.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub metadata: ChunkMetadata,
    pub threads: Vec<Thread>,
    /// Why there is no history (the business declined: code 2593109), as Meta sent it.
    pub errors: Vec<Value>,
}

/// Where a chunk sits in the sync: chunks may arrive out of order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ChunkMetadata {
    /// 0, 1 or 2.
    #[serde(default, deserialize_with = "lenient::int")]
    pub phase: Option<i64>,
    /// The chunk's place in its phase.
    #[serde(default, deserialize_with = "lenient::int")]
    pub chunk_order: Option<i64>,
    /// Overall progress in percent; 100 when the sync is complete.
    #[serde(default, deserialize_with = "lenient::int")]
    pub progress: Option<i64>,
}

/// One chat: the customer and the messages exchanged with them.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// The customer's number.
    pub id: Option<String>,
    pub messages: Vec<PastMessage>,
}

/// One message of a thread, sent by the customer or by the business.
#[derive(Debug, Clone)]
pub struct PastMessage {
    pub message: Message,
    pub outbound: Outbound,
    pub context: HistoryContext,
    pub raw: Box<RawValue>,
}

/// `history_context`: the message's status when the history was taken.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryContext {
    #[serde(default, deserialize_with = "lenient::text")]
    pub status: Option<String>,
}

#[derive(Deserialize, Default)]
struct ContextField {
    #[serde(default, deserialize_with = "lenient::object")]
    history_context: Option<HistoryContext>,
}

fn objects<'a>(value: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
}

impl HistoryValue {
    /// Reads a `history` value; entries that are not objects are left out.
    pub fn from_value(value: &Value) -> Self {
        Self {
            chunks: objects(value, "history").map(Chunk::from_value).collect(),
        }
    }

    /// Every past message with its thread and chunk, in the order Meta sent them.
    pub fn messages(&self) -> impl Iterator<Item = (&Chunk, &Thread, &PastMessage)> {
        self.chunks.iter().flat_map(|c| {
            c.threads
                .iter()
                .flat_map(move |t| t.messages.iter().map(move |m| (c, t, m)))
        })
    }

    /// The business declined to share its history: errors and no message at all.
    pub fn is_declined(&self) -> bool {
        self.chunks.iter().any(|c| !c.errors.is_empty()) && self.messages().next().is_none()
    }
}

impl ChunkMetadata {
    /// A chunk's `metadata` as buffered; default when it is not an object.
    pub fn parse(json: &str) -> Self {
        lenient::parse(json)
    }
}

impl Chunk {
    fn from_value(v: &Value) -> Self {
        Self {
            metadata: v
                .get("metadata")
                .filter(|m| m.is_object())
                .and_then(|m| ChunkMetadata::deserialize(m).ok())
                .unwrap_or_default(),
            threads: objects(v, "threads").map(Thread::from_value).collect(),
            errors: objects(v, "errors").cloned().collect(),
        }
    }
}

impl Thread {
    fn from_value(v: &Value) -> Self {
        Self {
            id: v.get("id").and_then(lenient::id_string),
            messages: objects(v, "messages")
                .filter_map(PastMessage::from_value)
                .collect(),
        }
    }
}

impl PastMessage {
    fn from_value(v: &Value) -> Option<Self> {
        Some(Self {
            message: Message::deserialize(v).unwrap_or_default(),
            outbound: Outbound::deserialize(v).unwrap_or_default(),
            context: ContextField::deserialize(v)
                .ok()
                .and_then(|c| c.history_context)
                .unwrap_or_default(),
            raw: serde_json::value::to_raw_value(v).ok()?,
        })
    }

    /// One message buffered alone (see `shared::inbound::UpdateKind::HistoryMessage`);
    /// `None` unless it is an object.
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str::<Value>(json)
            .ok()
            .filter(Value::is_object)
            .and_then(|v| Self::from_value(&v))
    }

    /// Sent by the business: Meta adds `to` only then, and `from` is not the thread's customer.
    pub fn is_from_business(&self, thread_id: Option<&str>) -> bool {
        self.outbound.to.is_some()
            || (self.message.from.is_some() && self.message.from.as_deref() != thread_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(json: &str) -> HistoryValue {
        HistoryValue::from_value(&serde_json::from_str(json).unwrap())
    }

    const CHUNK: &str = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "history":[{"metadata":{"phase":1,"chunk_order":2,"progress":55},"threads":[{"id":"16505551234","messages":[
          {"from":"16505551234","id":"wamid.H1","timestamp":"1739230955","type":"text","text":{"body":"Hi"},"history_context":{"status":"READ"}},
          {"from":"15550783881","to":"16505551234","id":"wamid.H2","timestamp":"1739230999","type":"text","text":{"body":"Hello"},"history_context":{"status":"DELIVERED"}}
        ]}]}]}"#;

    #[test]
    fn reads_phases_threads_and_messages_in_order() {
        let h = history(CHUNK);
        let all: Vec<_> = h.messages().collect();
        assert_eq!(all.len(), 2);
        let (chunk, thread, first) = all[0];
        assert_eq!(
            chunk.metadata,
            ChunkMetadata {
                phase: Some(1),
                chunk_order: Some(2),
                progress: Some(55)
            }
        );
        assert_eq!(thread.id.as_deref(), Some("16505551234"));
        assert_eq!(first.message.id.as_deref(), Some("wamid.H1"));
        assert_eq!(first.context.status.as_deref(), Some("READ"));
        assert!(!first.is_from_business(thread.id.as_deref()));
        let (_, thread, second) = all[1];
        assert!(second.is_from_business(thread.id.as_deref()));
        assert_eq!(second.outbound.to.as_deref(), Some("16505551234"));
        assert!(!h.is_declined());
    }

    #[test]
    fn a_message_and_a_chunk_buffered_alone_read_the_same() {
        let m = PastMessage::parse(
            r#"{"from":"15550783881","id":"wamid.H2","type":"text","text":{"body":"x"},"history_context":{"status":"READ"}}"#,
        )
        .unwrap();
        assert_eq!(m.context.status.as_deref(), Some("READ"));
        assert!(m.is_from_business(Some("16505551234")));
        assert!(!m.is_from_business(Some("15550783881")));
        assert!(PastMessage::parse("7").is_none());
        assert!(PastMessage::parse("{").is_none());
        assert_eq!(
            ChunkMetadata::parse(r#"{"phase":"2","chunk_order":1,"progress":100}"#),
            ChunkMetadata {
                phase: Some(2),
                chunk_order: Some(1),
                progress: Some(100)
            }
        );
        assert_eq!(ChunkMetadata::parse("[1]"), ChunkMetadata::default());
    }

    #[test]
    fn numbers_sent_as_strings_are_read() {
        let h = history(
            r#"{"history":[{"metadata":{"phase":"0","chunk_order":"1","progress":"100"},"threads":[]}]}"#,
        );
        assert_eq!(h.chunks[0].metadata.progress, Some(100));
        assert_eq!(h.chunks[0].metadata.phase, Some(0));
    }

    #[test]
    fn a_declined_share_has_errors_and_no_message() {
        let h = history(
            r#"{"history":[{"errors":[{"code":2593109,"title":"History sync is turned off by the business"}]}]}"#,
        );
        assert!(h.is_declined());
        assert_eq!(h.chunks[0].errors[0]["code"], 2_593_109);
    }

    #[test]
    fn odd_entries_are_skipped() {
        let h = history(
            r#"{"history":[1,{"metadata":[],"threads":[null,{"id":5511,"messages":[[],"x",{"id":"wamid.H3"}]}]}]}"#,
        );
        let all: Vec<_> = h.messages().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1.id.as_deref(), Some("5511"));
        assert_eq!(all[0].0.metadata, ChunkMetadata::default());
        assert!(history(r#"{"history":"x"}"#).chunks.is_empty());
    }
}
