//! CSAT answers: a customer message that answers the contact's pending rating request — a tap on
//! one of its choices (`rating:<request_id>:<score>` in a list or button reply, or a template's
//! quick-reply payload), or a score typed as a bare number — within `RATING_WINDOW_MINUTES` of
//! the request becomes `conversation.rated`; the next message, when it is text within
//! `shared::rating::COMMENT_SECS` of the rating, becomes `conversation.rating_commented`.
//!
//! Both are decided on the conversation record and committed with the message (its outbox key
//! is the wamid's), so a redelivered webhook finds the message applied and rates nothing twice;
//! the record then holds the request as rated, so a second tap is an ordinary message. An answer
//! or a comment is not a new request: the caller does not count it in the conversation.

use shared::conversation::Lifecycle;
use shared::rating::{self, RatingState, Scale, COMMENT_SECS};
use shared::store::ConversationRecord;

use crate::payload::message::Message;

/// A customer message as the rating rules see it.
pub(crate) struct Answer<'m> {
    pub msg: &'m Message,
    pub msg_type: &'m str,
    pub wamid: Option<&'m str>,
    /// Meta's timestamp (Unix seconds).
    pub at: i64,
}

/// The rating event this message makes, if any, with the record's rating state moved on: a
/// pending request answered becomes rated; a rated one ends with the next message (its comment
/// or not); a request past `window_secs` ends unanswered with the next message.
pub(crate) fn answer(
    conv: &mut ConversationRecord,
    message: &Answer<'_>,
    window_secs: i64,
) -> Option<Lifecycle> {
    let state = conv.rating.as_deref()?.clone();
    let wamid = message.wamid?;
    match state {
        RatingState::Pending {
            request_id,
            conversation_id,
            scale,
            requested_at,
            ..
        } => {
            if message.at > requested_at + window_secs {
                conv.rating = None;
                return None;
            }
            if message.at < requested_at {
                // Written before the request (a late delivery): not its answer.
                return None;
            }
            let score = score(message, &request_id, scale)?;
            conv.rating = Some(Box::new(RatingState::Rated {
                request_id,
                conversation_id: conversation_id.clone(),
                scale,
                score,
                rated_at: message.at,
                rated_wamid: wamid.to_owned(),
            }));
            Some(Lifecycle::Rated {
                conversation_id,
                at: message.at,
                score: u32::from(score),
                scale: scale.to_string(),
                comment: None,
                rated_wamid: wamid.to_owned(),
            })
        }
        RatingState::Rated {
            conversation_id,
            scale,
            score,
            rated_at,
            rated_wamid,
            ..
        } => {
            if message.at < rated_at {
                return None;
            }
            conv.rating = None;
            let comment = message
                .msg
                .text_body()
                .filter(|_| message.msg_type == "text" && message.at <= rated_at + COMMENT_SECS)
                .map(str::trim)
                .filter(|t| !t.is_empty())?;
            Some(Lifecycle::RatingCommented {
                conversation_id,
                at: message.at,
                score: u32::from(score),
                scale: scale.to_string(),
                comment: comment.to_owned(),
                comment_wamid: wamid.to_owned(),
                rated_wamid,
            })
        }
    }
}

/// The score a message gives request `request_id`: a tapped choice of this request, or a
/// number on the scale typed (or a template quick-reply button's text).
fn score(message: &Answer<'_>, request_id: &str, scale: Scale) -> Option<u8> {
    let tapped = |id: Option<&str>| {
        rating::parse_option_id(id?)
            .filter(|(request, score)| *request == request_id && scale.contains(*score))
            .map(|(_, score)| score)
    };
    let msg = message.msg;
    match message.msg_type {
        "interactive" => tapped(msg.interactive.as_ref()?.reply()?.id.as_deref()),
        "button" => {
            let button = msg.button.as_ref()?;
            tapped(button.payload.as_deref())
                .or_else(|| rating::typed_score(button.text.as_deref()?, scale))
        }
        "text" => rating::typed_score(msg.text_body()?, scale),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const T: i64 = 1_764_489_600;
    const REQUEST: &str = "rq_00112233aabbccdd";

    fn pending() -> ConversationRecord {
        ConversationRecord {
            rating: Some(Box::new(RatingState::Pending {
                request_id: REQUEST.into(),
                conversation_id: "cv_4f0c2a9d81b7e3f65a1d0c28".into(),
                scale: Scale::DEFAULT,
                requested_at: T,
                command_id: "c-rate".into(),
            })),
            ..ConversationRecord::default()
        }
    }

    fn message(v: Value) -> Message {
        serde_json::from_value(v).expect("a message")
    }

    fn tap(kind: &str, id: &str) -> Message {
        let reply = if kind == "list_reply" {
            "list_reply"
        } else {
            "button_reply"
        };
        message(
            json!({"type": "interactive", "interactive": {"type": reply, reply: {"id": id, "title": "4"}}}),
        )
    }

    fn text(body: &str) -> Message {
        message(json!({"type": "text", "text": {"body": body}}))
    }

    fn run(conv: &mut ConversationRecord, msg: &Message, at: i64) -> Option<Lifecycle> {
        let msg_type = msg.kind.clone().unwrap_or_default();
        let wamid = format!("wamid.{at}");
        let a = Answer {
            msg,
            msg_type: &msg_type,
            wamid: Some(&wamid),
            at,
        };
        answer(conv, &a, 1440 * 60)
    }

    fn score_of(event: Option<Lifecycle>) -> Option<u32> {
        match event {
            Some(Lifecycle::Rated { score, .. }) => Some(score),
            _ => None,
        }
    }

    #[test]
    fn a_tap_on_a_choice_of_the_pending_request_rates_once() {
        let mut conv = pending();
        let id = rating::option_id(REQUEST, 4);
        assert_eq!(
            score_of(run(&mut conv, &tap("list_reply", &id), T + 30)),
            Some(4)
        );
        assert!(matches!(
            conv.rating.as_deref(),
            Some(RatingState::Rated { score: 4, .. })
        ));
        // A second tap (a new wamid) is not a second rating, nor a comment.
        assert_eq!(run(&mut conv, &tap("list_reply", &id), T + 40), None);
        assert!(conv.rating.is_none());
    }

    #[test]
    fn a_reply_button_and_a_template_quick_reply_rate_too() {
        let mut conv = pending();
        let id = rating::option_id(REQUEST, 2);
        assert_eq!(
            score_of(run(&mut conv, &tap("button_reply", &id), T + 1)),
            Some(2)
        );
        let mut conv = pending();
        let quick = message(json!({"type": "button", "button": {"payload": "x", "text": "5"}}));
        assert_eq!(score_of(run(&mut conv, &quick, T + 1)), Some(5));
    }

    #[test]
    fn a_typed_number_on_the_scale_rates_and_words_or_off_scale_numbers_do_not() {
        let mut conv = pending();
        assert_eq!(
            run(&mut conv, &text("I want to talk to someone"), T + 5),
            None
        );
        assert_eq!(run(&mut conv, &text("7"), T + 6), None);
        assert!(matches!(
            conv.rating.as_deref(),
            Some(RatingState::Pending { .. })
        ));
        assert_eq!(score_of(run(&mut conv, &text(" 4 "), T + 7)), Some(4));
    }

    #[test]
    fn a_tap_of_another_request_or_an_answer_past_the_window_is_an_ordinary_message() {
        let mut conv = pending();
        let other = rating::option_id("rq_ffff", 4);
        assert_eq!(run(&mut conv, &tap("list_reply", &other), T + 5), None);
        assert!(conv.rating.is_some(), "still pending");
        assert_eq!(run(&mut conv, &text("4"), T + 1440 * 60 + 1), None);
        assert!(conv.rating.is_none(), "the request ended unanswered");
        let mut none = ConversationRecord::default();
        let id = rating::option_id(REQUEST, 4);
        assert_eq!(run(&mut none, &tap("list_reply", &id), T), None);
    }

    #[test]
    fn a_message_written_before_the_request_is_not_its_answer() {
        let mut conv = pending();
        assert_eq!(run(&mut conv, &text("4"), T - 10), None);
        assert!(matches!(
            conv.rating.as_deref(),
            Some(RatingState::Pending { .. })
        ));
    }

    #[test]
    fn the_next_text_within_five_minutes_is_the_comment_once() {
        let mut conv = pending();
        run(&mut conv, &text("5"), T + 10);
        match run(&mut conv, &text("Rápido e gentil"), T + 10 + COMMENT_SECS) {
            Some(Lifecycle::RatingCommented {
                comment,
                score,
                rated_wamid,
                ..
            }) => {
                assert_eq!(comment, "Rápido e gentil");
                assert_eq!(score, 5);
                assert_eq!(rated_wamid, format!("wamid.{}", T + 10));
            }
            other => panic!("expected a comment, got {other:?}"),
        }
        assert_eq!(
            run(&mut conv, &text("and another thing"), T + 20 + 60),
            None
        );
    }

    #[test]
    fn a_late_or_non_text_next_message_ends_the_rating_without_a_comment() {
        let mut late = pending();
        run(&mut late, &text("5"), T + 10);
        assert_eq!(run(&mut late, &text("thanks"), T + 11 + COMMENT_SECS), None);
        assert!(late.rating.is_none());
        let mut image = pending();
        run(&mut image, &text("5"), T + 10);
        let photo = message(json!({"type": "image", "image": {"id": "1"}}));
        assert_eq!(run(&mut image, &photo, T + 20), None);
        assert!(image.rating.is_none());
    }
}
