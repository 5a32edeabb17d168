//! `request_rating` (CSAT): the question with one choice per score — reply buttons for up to 3
//! scores, else an interactive list — whose ids (`rating:<request_id>:<score>`, see
//! `shared::rating`) the processor recognises in the customer's tap. The request id derives from
//! the command, so a redelivery builds the same choices and records the same pending request.

use serde_json::{json, Value};
use shared::rating::{self, RatingState, Scale};
use shared::store::ConversationRecord;

use crate::command::{Command, CommandId, Payload, RejectReason, Rejection};

/// The label of the button that opens the list, when the command gives none.
const DEFAULT_LIST_BUTTON: &str = "Rate";

/// What the accepted send records as the contact's pending rating request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingRequest {
    pub request_id: String,
    pub scale: Scale,
    /// The conversation the CRM named; else the open (or last closed) one at acceptance.
    pub conversation_id: Option<String>,
}

impl RatingRequest {
    /// The request and its interactive object, from a command its schema accepted.
    pub fn from_value(business: &str, id: &CommandId, value: &Value) -> (Self, Value) {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let scale = text("scale").and_then(Scale::parse).unwrap_or_default();
        let request = Self {
            request_id: rating::request_id(business, id.as_str()),
            scale,
            conversation_id: text("conversation_id").map(str::to_owned),
        };
        let question = text("question").unwrap_or_default();
        let button = text("button").unwrap_or(DEFAULT_LIST_BUTTON);
        let interactive = request.interactive(question, button);
        (request, interactive)
    }

    /// Meta's interactive object: reply buttons when the scale fits them, else a one-section
    /// list (a scale has at most 10 scores, a list at most 10 rows).
    fn interactive(&self, question: &str, button: &str) -> Value {
        let option = |score: u8| {
            (
                rating::option_id(&self.request_id, score),
                score.to_string(),
            )
        };
        if self.scale.fits_buttons() {
            let buttons: Vec<Value> = self
                .scale
                .scores()
                .map(option)
                .map(|(id, title)| json!({"type": "reply", "reply": {"id": id, "title": title}}))
                .collect();
            json!({"type": "button", "body": {"text": question}, "action": {"buttons": buttons}})
        } else {
            let rows: Vec<Value> = self
                .scale
                .scores()
                .map(option)
                .map(|(id, title)| json!({"id": id, "title": title}))
                .collect();
            json!({"type": "list", "body": {"text": question},
                   "action": {"button": button, "sections": [{"title": self.scale.to_string(), "rows": rows}]}})
        }
    }
}

/// The conversation a rating rates: the one the CRM named if it is the contact's open or last
/// closed conversation; else the open one, else the one closed last. `None` when there is none.
pub fn conversation_to_rate(
    conv: Option<&ConversationRecord>,
    requested: Option<&str>,
) -> Option<String> {
    let conv = conv?;
    let open = conv.open.as_ref().map(|o| o.conversation_id.as_str());
    let last = conv.last_conversation_id.as_deref();
    match requested {
        Some(id) => (open == Some(id) || last == Some(id)).then(|| id.to_owned()),
        None => open.or(last).map(str::to_owned),
    }
}

/// Why a `request_rating` may not be sent: there is no conversation to rate. `None` for every
/// other command, and for a rating that has one.
pub fn refusal(command: &Command, conv: Option<&ConversationRecord>) -> Option<Rejection> {
    let Payload::Rating { request, .. } = &command.payload else {
        return None;
    };
    if conversation_to_rate(conv, request.conversation_id.as_deref()).is_some() {
        return None;
    }
    let mut r = Rejection::new(
        RejectReason::NoConversation,
        match request.conversation_id {
            Some(_) => {
                "conversation_id is neither the contact's open conversation nor the one closed last"
            }
            None => "the contact has no open or closed conversation to rate",
        },
    );
    r.field = request
        .conversation_id
        .as_ref()
        .map(|_| "/conversation_id".to_owned());
    Some(r)
}

/// The accepted request, pending on the conversation until the customer answers; it replaces an
/// earlier request. Nothing is recorded when the conversation to rate is gone (the send went
/// out; the answer will be an ordinary message).
pub fn record_pending(
    conv: &mut ConversationRecord,
    request: &RatingRequest,
    command_id: &str,
    requested_at: i64,
) {
    let Some(conversation_id) =
        conversation_to_rate(Some(conv), request.conversation_id.as_deref())
    else {
        tracing::warn!(
            command_id,
            "no conversation to rate at acceptance; the rating request is not recorded"
        );
        return;
    };
    conv.rating = Some(Box::new(RatingState::Pending {
        request_id: request.request_id.clone(),
        conversation_id,
        scale: request.scale,
        requested_at,
        command_id: command_id.to_owned(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: Value) -> (RatingRequest, Value) {
        let mut value = json!({"type": "request_rating", "question": "How did we do?"});
        if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
            v.extend(e.clone());
        }
        let id = CommandId::parse("crm-rate-1").unwrap();
        RatingRequest::from_value("106540352242922", &id, &value)
    }

    #[test]
    fn a_default_scale_is_a_list_of_five_rows_whose_ids_the_processor_recognises() {
        let (req, interactive) = request(json!({}));
        assert_eq!(req.scale, Scale::DEFAULT);
        assert_eq!(interactive["type"], "list");
        assert_eq!(interactive["body"]["text"], "How did we do?");
        assert_eq!(interactive["action"]["button"], "Rate");
        let rows = interactive["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap();
        assert_eq!(rows.len(), 5);
        for (i, row) in rows.iter().enumerate() {
            let id = row["id"].as_str().unwrap();
            let score = u8::try_from(i + 1).unwrap();
            assert_eq!(
                rating::parse_option_id(id),
                Some((req.request_id.as_str(), score))
            );
            assert_eq!(row["title"], score.to_string());
        }
    }

    #[test]
    fn a_scale_of_three_is_sent_as_reply_buttons_and_ten_as_a_list_of_ten() {
        let (_, buttons) = request(json!({"scale": "1-3"}));
        assert_eq!(buttons["type"], "button");
        assert_eq!(
            buttons["action"]["buttons"].as_array().map(Vec::len),
            Some(3)
        );
        let (req, list) =
            request(json!({"scale": "1-10", "button": "Avaliar", "conversation_id": "cv_1"}));
        assert_eq!(list["action"]["button"], "Avaliar");
        assert_eq!(
            list["action"]["sections"][0]["rows"]
                .as_array()
                .map(Vec::len),
            Some(10)
        );
        assert_eq!(req.conversation_id.as_deref(), Some("cv_1"));
    }
}
