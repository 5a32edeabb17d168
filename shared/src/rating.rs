//! CSAT rating requests: the scale, the option ids the sender puts on the choices it sends and
//! the processor recognises in the customer's answer, and a score typed as a bare number.
//! One home, so the two functions can never disagree on what an answer looks like.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The prefix of every rating option id: `rating:<request_id>:<score>`.
const OPTION_PREFIX: &str = "rating:";

/// The most options a rating offers: an interactive list holds at most 10 rows.
pub const MAX_OPTIONS: u8 = 10;

/// Reply buttons hold at most 3 options; a larger scale is sent as a list.
pub const MAX_BUTTONS: u8 = 3;

/// How long after the rating the customer's next free-text message is taken for its comment.
pub const COMMENT_SECS: i64 = 5 * 60;

/// A rating scale `1-N` (N from 2 to 10): the scores a customer may give. Stored as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scale {
    max: u8,
}

impl Scale {
    /// `request_rating`'s default scale, `1-5`.
    pub const DEFAULT: Scale = Scale { max: 5 };

    /// Reads `1-N`; anything else (another lower bound, N over [`MAX_OPTIONS`]) is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (low, high) = raw.trim().split_once('-')?;
        let max: u8 = high.trim().parse().ok()?;
        (low.trim() == "1" && (2..=MAX_OPTIONS).contains(&max)).then_some(Self { max })
    }

    /// The highest score (the lowest is 1).
    pub fn max(self) -> u8 {
        self.max
    }

    /// Every score, lowest first.
    pub fn scores(self) -> impl Iterator<Item = u8> {
        1..=self.max
    }

    pub fn contains(self, score: u8) -> bool {
        (1..=self.max).contains(&score)
    }

    /// Whether the choices fit reply buttons (else a list).
    pub fn fits_buttons(self) -> bool {
        self.max <= MAX_BUTTONS
    }
}

impl Default for Scale {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<String> for Scale {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or_else(|| format!("not a rating scale 1-N (N 2..=10): {raw:?}"))
    }
}

impl From<Scale> for String {
    fn from(scale: Scale) -> Self {
        scale.to_string()
    }
}

/// A contact's rating request, on their conversation record: pending until the customer
/// answers, then rated until their comment (or any other message, or [`COMMENT_SECS`]) ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RatingState {
    /// Sent (the `request_rating` command Meta accepted); no answer yet.
    Pending {
        request_id: String,
        conversation_id: String,
        scale: Scale,
        /// When Meta accepted the request (Unix seconds).
        requested_at: i64,
        command_id: String,
    },
    /// Answered with `score`; the next free-text message within [`COMMENT_SECS`] is its comment.
    Rated {
        request_id: String,
        conversation_id: String,
        scale: Scale,
        score: u8,
        /// Meta's timestamp of the answer (Unix seconds).
        rated_at: i64,
        rated_wamid: String,
    },
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1-{}", self.max)
    }
}

/// The id of the rating a command requests: derived from the business number and the command id,
/// so a redelivered command builds the very same choices and stores the very same request.
pub fn request_id(business: &str, command_id: &str) -> String {
    let digest = Sha256::digest(format!("rating\n{business}\n{command_id}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("rq_{hex}")
}

/// The id of one choice, as sent in a list row or reply button.
pub fn option_id(request_id: &str, score: u8) -> String {
    format!("{OPTION_PREFIX}{request_id}:{score}")
}

/// A choice the customer tapped: the request it answers and the score. `None` for any other id
/// (the CRM's own interactive messages).
pub fn parse_option_id(id: &str) -> Option<(&str, u8)> {
    let rest = id.strip_prefix(OPTION_PREFIX)?;
    let (request_id, score) = rest.rsplit_once(':')?;
    let valid_request = request_id.strip_prefix("rq_").is_some_and(|hex| {
        (1..=32).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    let score: u8 = score.parse().ok()?;
    (valid_request && (1..=MAX_OPTIONS).contains(&score)).then_some((request_id, score))
}

/// A score typed as a bare number on the scale (`4`, ` 4 `, `4.`, `4/5` when the scale is 1-5);
/// `None` for anything with words, which is never taken for a rating.
pub fn typed_score(text: &str, scale: Scale) -> Option<u8> {
    let t = text.trim();
    let t = t.strip_suffix(['.', '!']).unwrap_or(t).trim_end();
    let number = match t.split_once('/') {
        Some((n, of)) if of.trim().parse::<u8>().ok() == Some(scale.max()) => n.trim_end(),
        Some(_) => return None,
        None => t,
    };
    if number.is_empty() || number.len() > 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let score: u8 = number.parse().ok()?;
    scale.contains(score).then_some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scales_from_one_to_two_through_ten_only() {
        assert_eq!(Scale::parse("1-5"), Some(Scale::DEFAULT));
        assert_eq!(Scale::parse("1-10").map(Scale::max), Some(10));
        assert_eq!(Scale::parse(" 1 - 3 ").map(Scale::max), Some(3));
        for bad in ["0-10", "1-11", "1-1", "2-5", "1-", "5", "", "1-x"] {
            assert_eq!(Scale::parse(bad), None, "{bad}");
        }
        assert_eq!(Scale::DEFAULT.to_string(), "1-5");
        assert!(Scale::parse("1-3").is_some_and(Scale::fits_buttons));
        assert!(!Scale::DEFAULT.fits_buttons());
    }

    #[test]
    fn an_option_id_round_trips_and_other_ids_are_not_ratings() {
        let rid = request_id("106540352242922", "crm-42");
        assert_eq!(rid, request_id("106540352242922", "crm-42"));
        assert_ne!(rid, request_id("106540352242922", "crm-43"));
        assert_ne!(rid, request_id("999", "crm-42"));
        let id = option_id(&rid, 4);
        assert!(id.len() <= 200, "fits a list row id");
        assert_eq!(parse_option_id(&id), Some((rid.as_str(), 4)));
        for other in [
            "yes",
            "rating:",
            "rating:rq_abc:",
            "rating:rq_abc:0",
            "rating:rq_abc:11",
            "rating:rq_xyz:4",
            "rating:abc:4",
            "rating:rq_abc:4:5",
            "rating:rq_abc:-1",
        ] {
            assert_eq!(parse_option_id(other), None, "{other}");
        }
    }

    #[test]
    fn a_bare_number_on_the_scale_is_a_typed_score_and_words_are_not() {
        let s = Scale::DEFAULT;
        for (text, score) in [
            ("4", 4),
            (" 5 ", 5),
            ("1.", 1),
            ("3!", 3),
            ("4/5", 4),
            ("2 / 5", 2),
        ] {
            assert_eq!(typed_score(text, s), Some(score), "{text:?}");
        }
        for text in [
            "6", "0", "4/10", "4 stars", "nota 4", "", "44", "-3", "٤", "4️⃣", "1-5",
        ] {
            assert_eq!(typed_score(text, s), None, "{text:?}");
        }
        assert_eq!(typed_score("10", Scale::parse("1-10").unwrap()), Some(10));
    }

    #[test]
    fn a_rating_state_round_trips_with_its_scale_as_text() {
        let state = RatingState::Pending {
            request_id: "rq_00aa".into(),
            conversation_id: "cv_1".into(),
            scale: Scale::parse("1-3").unwrap(),
            requested_at: 10,
            command_id: "c-1".into(),
        };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["state"], "pending");
        assert_eq!(json["scale"], "1-3");
        assert_eq!(serde_json::from_value::<RatingState>(json).unwrap(), state);
        let bad = serde_json::json!({"state": "pending", "request_id": "r", "conversation_id": "c",
                                     "scale": "0-99", "requested_at": 1, "command_id": "c"});
        assert!(serde_json::from_value::<RatingState>(bad).is_err());
    }

    #[test]
    fn closing_a_conversation_remembers_it_for_a_rating_requested_after_the_close() {
        use crate::conversation::{self, Close, ClosedBy, Entry};
        let mut conv = crate::store::ConversationRecord::default();
        conversation::customer_message(&mut conv, 100, "wamid.A", Some("wamid.A"), Entry::Organic);
        let open_id = conv.open.as_ref().map(|o| o.conversation_id.clone());
        let close = Close {
            by: ClosedBy::Crm,
            reason: None,
            tags: Vec::new(),
        };
        conversation::close(&mut conv, 200, close);
        assert!(conv.open.is_none());
        assert_eq!(conv.last_conversation_id, open_id);
    }
}
