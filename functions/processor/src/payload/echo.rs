//! `smb_message_echoes`: messages the business typed in the WhatsApp Business app (or a linked
//! device) on a number that also uses the API ("coexistence"). Each `message_echoes[]` entry is
//! shaped like an inbound message plus `to` (the customer); `from` is the business number.
//! Meta documents `text`, media, `edit` (`edit{original_message_id, message{type, <type>}}`)
//! and `revoke` (`revoke{original_message_id}`) among its types.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use shared::lenient;

use super::message::Message;

/// The value of a `smb_message_echoes` change.
#[derive(Debug, Clone, Default)]
pub struct EchoesValue {
    pub echoes: Vec<Echo>,
}

/// One echoed message: its common and content fields as an inbound [`Message`] reads them,
/// the fields only an echo has, and Meta's object as sent (the event's `original`).
#[derive(Debug, Clone)]
pub struct Echo {
    pub message: Message,
    pub outbound: Outbound,
    pub raw: Box<RawValue>,
}

/// What an echo (or a history message the business sent) has beside an inbound message's fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Outbound {
    /// The customer's number.
    #[serde(default, deserialize_with = "lenient::text")]
    pub to: Option<String>,
    /// The customer's business-scoped user id (2026), when Meta sends it.
    #[serde(default, deserialize_with = "lenient::text")]
    pub to_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub edit: Option<Edit>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub revoke: Option<Revoke>,
}

/// `type: "edit"`: the new version of an earlier message.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Edit {
    #[serde(default, deserialize_with = "lenient::text")]
    pub original_message_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub message: Option<Message>,
}

/// `type: "revoke"`: an earlier message deleted for everyone.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Revoke {
    #[serde(default, deserialize_with = "lenient::text")]
    pub original_message_id: Option<String>,
}

/// Whether an echo is a message, the edit of one, or the deletion of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoKind {
    Sent,
    Edited,
    Revoked,
}

impl EchoesValue {
    /// Reads a `smb_message_echoes` value; entries that are not objects are left out.
    pub fn from_value(value: &Value) -> Self {
        let entries = value.get("message_echoes").and_then(Value::as_array);
        Self {
            echoes: entries
                .into_iter()
                .flatten()
                .filter_map(Echo::from_value)
                .collect(),
        }
    }
}

impl Echo {
    /// One entry, `None` unless it is an object.
    pub fn from_value(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        Some(Self {
            message: Message::deserialize(v).unwrap_or_default(),
            outbound: Outbound::deserialize(v).unwrap_or_default(),
            raw: serde_json::value::to_raw_value(v).ok()?,
        })
    }

    pub fn kind(&self) -> EchoKind {
        self.outbound.kind(self.message.kind.as_deref())
    }

    /// The message whose content the CRM reads: for an edit, the new version under the echo's
    /// own id, time and sender; otherwise the echo itself.
    pub fn content(&self) -> Message {
        self.outbound.content(&self.message)
    }
}

impl Outbound {
    pub fn kind(&self, message_type: Option<&str>) -> EchoKind {
        match message_type {
            Some("edit") => EchoKind::Edited,
            Some("revoke") => EchoKind::Revoked,
            _ => EchoKind::Sent,
        }
    }

    /// The id of the message an edit or revoke is about.
    pub fn original_message_id(&self) -> Option<&str> {
        self.edit
            .as_ref()
            .and_then(|e| e.original_message_id.as_deref())
            .or_else(|| {
                self.revoke
                    .as_ref()
                    .and_then(|r| r.original_message_id.as_deref())
            })
    }

    /// See [`Echo::content`].
    pub fn content(&self, message: &Message) -> Message {
        match (
            self.kind(message.kind.as_deref()),
            self.edit.as_ref().and_then(|e| e.message.as_ref()),
        ) {
            (EchoKind::Edited, Some(new)) => Message {
                id: message.id.clone(),
                from: message.from.clone(),
                from_user_id: message.from_user_id.clone(),
                timestamp: message.timestamp,
                ..new.clone()
            },
            _ => message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echoes(json: &str) -> EchoesValue {
        EchoesValue::from_value(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn reads_a_text_echo_as_meta_documents_it() {
        let v = echoes(
            r#"{"messaging_product":"whatsapp","message_echoes":[{"from":"15550783881","to":"16505551234",
            "id":"wamid.E1","timestamp":"1739321024","type":"text","text":{"body":"Here's the info"}}]}"#,
        );
        let e = &v.echoes[0];
        assert_eq!(e.kind(), EchoKind::Sent);
        assert_eq!(e.outbound.to.as_deref(), Some("16505551234"));
        assert_eq!(e.message.id.as_deref(), Some("wamid.E1"));
        assert_eq!(e.message.timestamp, Some(1_739_321_024));
        assert_eq!(e.content().text_body(), Some("Here's the info"));
        assert!(e.raw.get().contains("Here's the info"));
    }

    #[test]
    fn an_edit_reads_the_new_content_under_the_echos_own_id() {
        let v = echoes(
            r#"{"message_echoes":[{"from":"15550783881","to":"16505551234","id":"wamid.E2",
            "timestamp":"1739321100","type":"edit","edit":{"original_message_id":"wamid.E1",
            "message":{"type":"text","text":{"body":"Corrected"}}}}]}"#,
        );
        let e = &v.echoes[0];
        assert_eq!(e.kind(), EchoKind::Edited);
        assert_eq!(e.outbound.original_message_id(), Some("wamid.E1"));
        let content = e.content();
        assert_eq!(content.kind.as_deref(), Some("text"));
        assert_eq!(content.text_body(), Some("Corrected"));
        assert_eq!(content.id.as_deref(), Some("wamid.E2"));
        assert_eq!(content.timestamp, Some(1_739_321_100));
    }

    #[test]
    fn a_revoke_names_the_message_deleted() {
        let v = echoes(
            r#"{"message_echoes":[{"from":"15550783881","to":"16505551234","id":"wamid.E3",
            "timestamp":"1739321200","type":"revoke","revoke":{"original_message_id":"wamid.E1"}}]}"#,
        );
        assert_eq!(v.echoes[0].kind(), EchoKind::Revoked);
        assert_eq!(v.echoes[0].outbound.original_message_id(), Some("wamid.E1"));
    }

    #[test]
    fn odd_entries_are_skipped_and_odd_fields_cost_only_themselves() {
        let v = echoes(
            r#"{"message_echoes":[7,"x",[],{"to":5511,"id":"wamid.E4","type":"edit","edit":[1]}]}"#,
        );
        assert_eq!(v.echoes.len(), 1);
        let e = &v.echoes[0];
        assert_eq!(e.outbound.to.as_deref(), Some("5511"));
        assert_eq!(e.kind(), EchoKind::Edited);
        assert_eq!(e.outbound.original_message_id(), None);
        // An edit without its new version keeps the echo itself.
        assert_eq!(e.content().kind.as_deref(), Some("edit"));
        assert!(echoes(r#"{"message_echoes":{}}"#).echoes.is_empty());
        assert!(echoes("[]").echoes.is_empty());
    }
}
