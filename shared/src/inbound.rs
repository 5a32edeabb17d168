//! Meta's webhook envelope, split into one buffered item per update.
//!
//! One POST may batch up to 1000 updates across `entry[]`, `changes[]`, `messages[]` and
//! `statuses[]`; peers that read only `[0]` lose data. Every update becomes one
//! [`BufferedUpdate`] carrying the update's JSON exactly as Meta sent it (borrowed from the body,
//! never re-serialised) plus the context the processor needs: the change's `field`, `metadata`,
//! the WABA id, the matching contact block and the receive time. A `history` change (coexistence:
//! the WhatsApp Business app's past chats, possibly thousands of messages in one change) is split
//! the same way, one item per past message with its thread and chunk.

use crate::redact::JsonError;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The only `object` value Meta sends for WhatsApp Business webhooks.
pub const WABA_OBJECT: &str = "whatsapp_business_account";

/// What kind of update an item is; the processor dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// One element of `value.messages[]`.
    Message,
    /// One element of `value.statuses[]`.
    Status,
    /// One element of `value.errors[]` (errors about the whole change, not a message).
    Error,
    /// A whole change `value` of any other shape (templates, quality, account,
    /// `user_preferences`, fields not known yet).
    Change,
    /// One message of a `history` change's threads (the WhatsApp Business app's past chats,
    /// coexistence): Meta may put thousands in one change, past what one queue message holds
    /// and one invocation processes, so each is buffered alone with its thread and chunk.
    HistoryMessage,
}

/// One update as buffered on the inbound queue (serialised by the webhook, read by the processor).
#[derive(Debug, Serialize, Deserialize)]
pub struct BufferedUpdate<'a> {
    pub kind: UpdateKind,
    #[serde(borrow)]
    pub field: Cow<'a, str>,
    #[serde(borrow)]
    pub waba_id: Cow<'a, str>,
    /// `entry[].time` for fields that carry it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_time: Option<i64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<&'a RawValue>,
    /// The message, status, error or change value exactly as Meta sent it.
    #[serde(borrow)]
    pub update: &'a RawValue,
    /// [`UpdateKind::HistoryMessage`] only: the thread's `id` (the customer's number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// [`UpdateKind::HistoryMessage`] only: the chunk's `metadata` (`phase`, `chunk_order`,
    /// `progress`) as Meta sent it.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<&'a RawValue>,
    /// When the webhook received the POST (Unix milliseconds).
    pub received_at_ms: i64,
    /// A claim check: `update` was too large for one queue message and is in the bucket at this
    /// key (`shared::blob::keys::update` of its bytes); `update` is then `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
}

impl<'a> BufferedUpdate<'a> {
    /// This update with `update` left out and `key` naming where its bytes are stored.
    pub fn by_reference(&self, key: String) -> BufferedUpdate<'a> {
        self.with_update(RawValue::NULL, Some(key))
    }

    /// This update carrying `update` (a claim check's bytes read back) and no reference.
    pub fn with_update<'b>(
        &self,
        update: &'b RawValue,
        stored: Option<String>,
    ) -> BufferedUpdate<'b>
    where
        'a: 'b,
    {
        BufferedUpdate {
            kind: self.kind,
            field: self.field.clone(),
            waba_id: self.waba_id.clone(),
            entry_time: self.entry_time,
            metadata: self.metadata,
            contact: self.contact,
            update,
            thread_id: self.thread_id.clone(),
            chunk: self.chunk,
            received_at_ms: self.received_at_ms,
            stored,
        }
    }
}

/// Why a signed body is not a WhatsApp webhook we can buffer (400 at the edge).
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not valid JSON")]
    NotJson(#[source] JsonError),
    #[error("body is not a WhatsApp Business Account webhook envelope")]
    NotEnvelope(#[source] JsonError),
    /// The value is not kept: it is whatever the sender put there.
    #[error("object is not \"whatsapp_business_account\"")]
    WrongObject,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    object: Cow<'a, str>,
    #[serde(borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, deserialize_with = "id_as_str")]
    id: Cow<'a, str>,
    #[serde(default)]
    time: Option<i64>,
    #[serde(borrow, default)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(borrow)]
    field: Cow<'a, str>,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct MessagesValue<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    contacts: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    statuses: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    errors: Vec<&'a RawValue>,
}

/// A `history` change value, read only as far as splitting it needs.
#[derive(Deserialize)]
struct HistoryValue<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    history: Vec<HistoryChunk<'a>>,
}

#[derive(Deserialize)]
struct HistoryChunk<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    threads: Vec<HistoryThread<'a>>,
    #[serde(borrow, default)]
    errors: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct HistoryThread<'a> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(borrow, default)]
    messages: Vec<&'a RawValue>,
}

/// The identifying fields of a message or contact, enough to pair them.
#[derive(Deserialize, Default)]
struct Who<'a> {
    #[serde(borrow, default)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    from_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    wa_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_id: Option<Cow<'a, str>>,
}

/// Meta sends entry ids as strings; accept a number too rather than lose the update.
fn id_as_str<'de, D>(d: D) -> Result<Cow<'de, str>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id<'a> {
        #[serde(borrow)]
        Text(Cow<'a, str>),
        Number(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Number(n) => Cow::Owned(n.to_string()),
    })
}

/// Splits a verified webhook body into one item per update. Nothing is dropped: a `messages`
/// change with no recognised array is buffered whole as a [`UpdateKind::Change`].
pub fn split(body: &[u8], received_at_ms: i64) -> Result<Vec<BufferedUpdate<'_>>, EnvelopeError> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => EnvelopeError::NotEnvelope(e.into()),
        _ => EnvelopeError::NotJson(e.into()),
    })?;
    if envelope.object != WABA_OBJECT {
        return Err(EnvelopeError::WrongObject);
    }
    let mut out = Vec::new();
    for entry in envelope.entry {
        for change in entry.changes {
            split_change(
                entry.id.clone(),
                entry.time,
                change,
                received_at_ms,
                &mut out,
            );
        }
    }
    Ok(out)
}

fn split_change<'a>(
    waba_id: Cow<'a, str>,
    entry_time: Option<i64>,
    change: Change<'a>,
    received_at_ms: i64,
    out: &mut Vec<BufferedUpdate<'a>>,
) {
    let item = |kind, metadata, contact, update| BufferedUpdate {
        kind,
        field: change.field.clone(),
        waba_id: waba_id.clone(),
        entry_time,
        metadata,
        contact,
        update,
        received_at_ms,
        thread_id: None,
        chunk: None,
        stored: None,
    };
    if change.field == "history" && split_history(&change, &item, out) {
        return;
    }
    let parsed = if change.field == "messages" {
        serde_json::from_str::<MessagesValue<'a>>(change.value.get()).ok()
    } else {
        None
    };
    let Some(value) =
        parsed.filter(|v| !(v.messages.is_empty() && v.statuses.is_empty() && v.errors.is_empty()))
    else {
        out.push(item(UpdateKind::Change, None, None, change.value));
        return;
    };
    let contacts: Vec<(Who<'a>, &'a RawValue)> = value
        .contacts
        .iter()
        .map(|c| (serde_json::from_str(c.get()).unwrap_or_default(), *c))
        .collect();
    for message in &value.messages {
        let contact = matching_contact(message, &contacts);
        out.push(item(UpdateKind::Message, value.metadata, contact, message));
    }
    for status in &value.statuses {
        out.push(item(UpdateKind::Status, value.metadata, None, status));
    }
    for error in &value.errors {
        out.push(item(UpdateKind::Error, value.metadata, None, error));
    }
}

/// Buffers each message of a `history` change alone (see [`UpdateKind::HistoryMessage`]);
/// `false` (buffer the change whole) when it has no message or a shape not known. A chunk
/// with errors beside messages elsewhere also buffers the change whole, so nothing is lost
/// (its messages are the same updates either way, applied once).
fn split_history<'a>(
    change: &Change<'a>,
    item: &impl Fn(
        UpdateKind,
        Option<&'a RawValue>,
        Option<&'a RawValue>,
        &'a RawValue,
    ) -> BufferedUpdate<'a>,
    out: &mut Vec<BufferedUpdate<'a>>,
) -> bool {
    let Ok(value) = serde_json::from_str::<HistoryValue<'a>>(change.value.get()) else {
        return false;
    };
    let before = out.len();
    for chunk in &value.history {
        for thread in &chunk.threads {
            let thread_id = thread.id.as_ref().and_then(crate::lenient::id_string);
            // Meta's messages are objects; anything else is not a message to buffer.
            for message in thread.messages.iter().filter(|m| m.get().starts_with('{')) {
                let mut u = item(UpdateKind::HistoryMessage, value.metadata, None, message);
                u.thread_id = thread_id.clone();
                u.chunk = chunk.metadata;
                out.push(u);
            }
        }
    }
    if out.len() == before {
        return false;
    }
    if value.history.iter().any(|c| c.errors.is_some()) {
        out.push(item(UpdateKind::Change, None, None, change.value));
    }
    true
}

/// The contact block whose `wa_id` is the message's `from` (or whose `user_id` is its
/// `from_user_id`); the only block when there is exactly one and nothing to compare.
fn matching_contact<'a>(
    message: &'a RawValue,
    contacts: &[(Who<'a>, &'a RawValue)],
) -> Option<&'a RawValue> {
    let who: Who<'_> = serde_json::from_str(message.get()).unwrap_or_default();
    let by_id = contacts.iter().find(|(c, _)| {
        (who.from.is_some() && c.wa_id == who.from)
            || (who.from_user_id.is_some() && c.user_id == who.from_user_id)
    });
    match (by_id, contacts) {
        (Some((_, raw)), _) => Some(*raw),
        (None, [(_, only)]) if who.from.is_none() && who.from_user_id.is_none() => Some(*only),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;

    #[test]
    fn keeps_the_message_exactly_as_meta_sent_it() {
        let items = split(TEXT.as_bytes(), 1).unwrap();
        assert_eq!(items.len(), 1);
        let item = &items[0];
        assert_eq!(item.kind, UpdateKind::Message);
        assert_eq!(item.waba_id, "102290129340398");
        assert_eq!(
            item.update.get(),
            r#"{"from":"16505551234","id":"wamid.A","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}"#
        );
        assert_eq!(
            item.contact.unwrap().get(),
            r#"{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}"#
        );
        assert!(item.metadata.unwrap().get().contains("106540352242922"));
    }

    #[test]
    fn pairs_each_message_with_its_own_contact() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"9"},
            "contacts":[{"wa_id":"111","profile":{"name":"A"}},{"wa_id":"222","profile":{"name":"B"}}],
            "messages":[{"from":"222","id":"m2"},{"from":"111","id":"m1"},{"from":"333","id":"m3"}]}}]}]}"#;
        let items = split(body.as_bytes(), 0).unwrap();
        assert!(items[0].contact.unwrap().get().contains("\"B\""));
        assert!(items[1].contact.unwrap().get().contains("\"A\""));
        assert!(items[2].contact.is_none());
    }

    #[test]
    fn splits_every_entry_change_message_and_status() {
        let body = r#"{"object":"whatsapp_business_account","entry":[
            {"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"a"},{"id":"b"}],"statuses":[{"id":"s"}]}},
                                 {"field":"messages","value":{"errors":[{"code":131000}]}}]},
            {"id":"2","time":1700000000,"changes":[{"field":"account_update","value":{"event":"X"}},
                                 {"field":"brand_new_field","value":[1,2]}]}]}"#;
        let items = split(body.as_bytes(), 0).unwrap();
        let kinds: Vec<_> = items
            .iter()
            .map(|i| (i.kind, i.field.as_ref(), i.waba_id.as_ref()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (UpdateKind::Message, "messages", "1"),
                (UpdateKind::Message, "messages", "1"),
                (UpdateKind::Status, "messages", "1"),
                (UpdateKind::Error, "messages", "1"),
                (UpdateKind::Change, "account_update", "2"),
                (UpdateKind::Change, "brand_new_field", "2"),
            ]
        );
        assert_eq!(items[4].entry_time, Some(1_700_000_000));
        assert_eq!(items[5].update.get(), "[1,2]");
    }

    #[test]
    fn buffers_a_messages_change_of_unknown_shape_whole() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"calls":[{"id":"c"}]}}]}]}"#;
        let items = split(body.as_bytes(), 0).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].kind, UpdateKind::Change);
    }

    #[test]
    fn buffers_each_history_message_alone_with_its_thread_and_chunk() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"history","value":{
            "metadata":{"phone_number_id":"9"},
            "history":[{"metadata":{"phase":1,"chunk_order":2,"progress":55},"threads":[
                {"id":"5511","messages":[{"id":"h1"},7,{"id":"h2"}]},{"id":5522,"messages":[{"id":"h3"}]}]},
              {"metadata":{"phase":2},"threads":[{"messages":[{"id":"h4"}]}]}]}}]}]}"#;
        let items = split(body.as_bytes(), 0).unwrap();
        let got: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.kind,
                    i.update.get(),
                    i.thread_id.as_deref(),
                    i.chunk.map(|c| c.get()),
                )
            })
            .collect();
        let first = Some(r#"{"phase":1,"chunk_order":2,"progress":55}"#);
        assert_eq!(
            got,
            vec![
                (
                    UpdateKind::HistoryMessage,
                    r#"{"id":"h1"}"#,
                    Some("5511"),
                    first
                ),
                (
                    UpdateKind::HistoryMessage,
                    r#"{"id":"h2"}"#,
                    Some("5511"),
                    first
                ),
                (
                    UpdateKind::HistoryMessage,
                    r#"{"id":"h3"}"#,
                    Some("5522"),
                    first
                ),
                (
                    UpdateKind::HistoryMessage,
                    r#"{"id":"h4"}"#,
                    None,
                    Some(r#"{"phase":2}"#)
                ),
            ]
        );
        assert!(items.iter().all(|i| i.field == "history"
            && i.metadata
                .is_some_and(|m| m.get() == r#"{"phone_number_id":"9"}"#)));
        let wire = serde_json::to_string(&items[2]).unwrap();
        let back: BufferedUpdate<'_> = serde_json::from_str(&wire).unwrap();
        assert_eq!(back.kind, UpdateKind::HistoryMessage);
        assert_eq!(back.thread_id.as_deref(), Some("5522"));
        assert_eq!(back.chunk.map(|c| c.get()), first);
    }

    #[test]
    fn buffers_a_history_without_messages_or_of_odd_shape_whole_and_errors_too() {
        for value in [
            r#"{"history":[{"errors":[{"code":2593109}]}]}"#,
            r#"{"history":[{"threads":[{"id":"1","messages":[]}]}]}"#,
            r#"{"history":{"threads":[]}}"#,
            r#"{"history":[{"threads":[{"id":"1","messages":{"id":"x"}}]}]}"#,
        ] {
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"history","value":{value}}}]}}]}}"#
            );
            let items = split(body.as_bytes(), 0).unwrap();
            assert_eq!(items.len(), 1, "{value}");
            assert_eq!(items[0].kind, UpdateKind::Change, "{value}");
            assert_eq!(items[0].update.get(), value);
        }
        let mixed = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"history","value":{"history":[
            {"threads":[{"id":"1","messages":[{"id":"h1"}]}]},{"errors":[{"code":1}]}]}}]}]}"#;
        let kinds: Vec<_> = split(mixed.as_bytes(), 0)
            .unwrap()
            .iter()
            .map(|i| i.kind)
            .collect();
        assert_eq!(kinds, [UpdateKind::HistoryMessage, UpdateKind::Change]);
    }

    #[test]
    fn keeps_unicode_escapes_verbatim() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"text":{"body":"Ol\u00e1 \ud83d\udc4b"}}]}}]}]}"#;
        let items = split(body.as_bytes(), 0).unwrap();
        assert_eq!(
            items[0].update.get(),
            r#"{"text":{"body":"Ol\u00e1 \ud83d\udc4b"}}"#
        );
    }

    #[test]
    fn round_trips_through_the_queue_format() {
        let items = split(TEXT.as_bytes(), 42).unwrap();
        let wire = serde_json::to_string(&items[0]).unwrap();
        let back: BufferedUpdate<'_> = serde_json::from_str(&wire).unwrap();
        assert_eq!(back.update.get(), items[0].update.get());
        assert_eq!(back.received_at_ms, 42);
    }

    #[test]
    fn rejects_what_is_not_meta_s_envelope() {
        assert!(matches!(
            split(b"not json", 0),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(split(b"", 0), Err(EnvelopeError::NotJson(_))));
        assert!(matches!(
            split(b"[1]", 0),
            Err(EnvelopeError::NotEnvelope(_))
        ));
        assert!(matches!(
            split(br#"{"object":"page","entry":[]}"#, 0),
            Err(EnvelopeError::WrongObject)
        ));
        assert!(matches!(
            split(br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}"#, 0),
            Err(EnvelopeError::NotEnvelope(_))
        ));
    }
}
