//! `close_conversation`: the CRM ends the contact's open conversation. Nothing is sent to Meta;
//! the outcome is `command.accepted` (`wamid: null`) committed with `conversation.closed`
//! (`closed_by: crm`) — and `conversation.abandoned` when customer messages were never
//! answered — and the conversation's state, in one transaction.

use serde_json::Value;

use crate::command::{RejectReason, Rejection};

/// What the CRM says about the close.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Close {
    /// The conversation to close; with `to`, a guard (the open one must be it).
    pub conversation_id: Option<String>,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    pub actor: Option<String>,
}

impl Close {
    /// From a command its schema accepted; it must name the contact (`to`) or the conversation.
    pub fn from_value(value: &Value, has_to: bool) -> Result<Self, Rejection> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let close = Self {
            conversation_id: text("conversation_id"),
            reason: text("reason"),
            tags: value
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            actor: text("actor"),
        };
        if !has_to && close.conversation_id.is_none() {
            return Err(Rejection {
                reason: RejectReason::InvalidCommand,
                message: "close_conversation needs `to` or `conversation_id`".into(),
                field: Some("/to".into()),
            });
        }
        Ok(close)
    }
}
