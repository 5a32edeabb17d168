//! Business metrics derived from the CRM events a commit produced: what the CRM heard, counted
//! per business number (`phone_number_id`), so the dashboard and the CRM never disagree.
//!
//! A [`Tally`] is built from committed events only (see [`crate::outbox::commit`]): an update
//! seen before commits nothing and counts nothing. Event types that carry a metric are matched
//! on their type strings, so lifecycle events count as soon as some function emits them.
//! Nothing personal is read into a tally: business number, template name, pricing category and
//! type, numbers.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::events::PendingEvent;

/// Dimension: the business number every metric is kept per.
pub const NUMBER: &str = "phone_number_id";
/// Dimension: a template's name (with [`NUMBER`]).
pub const TEMPLATE: &str = "template";
/// Dimensions: Meta's pricing category and type of a delivered message (with [`NUMBER`]).
pub const PRICING_CATEGORY: &str = "pricing_category";
pub const PRICING_TYPE: &str = "pricing_type";

/// Per number: `message.received`.
pub const MESSAGES_IN: &str = "MessagesIn";
/// Per number: `command.accepted` with a wamid (a message Meta took; not `mark_read`).
pub const MESSAGES_OUT: &str = "MessagesOut";
/// Per number: `conversation.first_response`'s `response_seconds`.
pub const FIRST_RESPONSE_SECONDS: &str = "FirstResponseSeconds";
pub const CONVERSATIONS_OPENED: &str = "ConversationsOpened";
pub const CONVERSATIONS_CLOSED: &str = "ConversationsClosed";
pub const CONVERSATIONS_ABANDONED: &str = "ConversationsAbandoned";
/// Per number: `conversation.rated`.
pub const RATINGS: &str = "Ratings";
/// Per number: `conversation.rated`'s `score`, on the scale the request used.
pub const RATING_SCORE: &str = "RatingScore";
/// Per number and template: messages of the template that reached sent, delivered, read, failed.
pub const TEMPLATES_SENT: &str = "TemplatesSent";
pub const TEMPLATES_DELIVERED: &str = "TemplatesDelivered";
pub const TEMPLATES_READ: &str = "TemplatesRead";
pub const TEMPLATES_FAILED: &str = "TemplatesFailed";
/// Per number, pricing category and type: messages that reached delivered (Meta charges per
/// delivered message), from their status's `pricing` block.
pub const PRICED_MESSAGES: &str = "PricedMessages";

/// The longest template name, pricing value or business number kept as a dimension (Meta's
/// template names stop at 512); longer or odd values count under [`OTHER`].
const MAX_DIMENSION_CHARS: usize = 512;
/// The dimension value of a template name or pricing field that is not a plain identifier.
pub const OTHER: &str = "other";

/// The metrics of one business number.
#[derive(Debug, Clone, Default, PartialEq)]
struct NumberTally {
    messages_in: u64,
    messages_out: u64,
    opened: u64,
    closed: u64,
    abandoned: u64,
    ratings: u64,
    first_response_seconds: Vec<f64>,
    rating_scores: Vec<f64>,
}

/// How far messages of one template got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TemplateTally {
    sent: u64,
    delivered: u64,
    read: u64,
    failed: u64,
}

impl TemplateTally {
    fn add(&mut self, other: TemplateTally) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.read += other.read;
        self.failed += other.failed;
    }
}

/// The business metrics of some committed events, aggregated per dimension set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    numbers: BTreeMap<String, NumberTally>,
    templates: BTreeMap<(String, String), TemplateTally>,
    /// (number, category, type) → delivered messages.
    pricing: BTreeMap<(String, String, String), u64>,
}

/// The part of an event's envelope a metric needs.
#[derive(Deserialize)]
struct Envelope<'a> {
    phone_number_id: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// The part of `message.status`'s data a metric needs.
#[derive(Deserialize)]
struct StatusData {
    status: Option<String>,
    previous_status: Option<String>,
    template: Option<String>,
    pricing: Option<Pricing>,
}

#[derive(Deserialize)]
struct Pricing {
    category: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Tally {
    /// The metrics of `events` (what one commit publishes).
    pub fn of(events: &[PendingEvent]) -> Self {
        let mut tally = Self::default();
        for event in events {
            tally.add(event);
        }
        tally
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty() && self.templates.is_empty() && self.pricing.is_empty()
    }

    /// Adds another tally (the next commit of the same invocation).
    pub fn merge(&mut self, other: Tally) {
        for (number, t) in other.numbers {
            let n = self.numbers.entry(number).or_default();
            n.messages_in += t.messages_in;
            n.messages_out += t.messages_out;
            n.opened += t.opened;
            n.closed += t.closed;
            n.abandoned += t.abandoned;
            n.ratings += t.ratings;
            n.first_response_seconds.extend(t.first_response_seconds);
            n.rating_scores.extend(t.rating_scores);
        }
        for (key, t) in other.templates {
            self.templates.entry(key).or_default().add(t);
        }
        for (key, count) in other.pricing {
            *self.pricing.entry(key).or_default() += count;
        }
    }

    /// Counts one event. An event without a usable business number, or whose body is not the
    /// envelope, counts nothing (every event the bridge builds is one).
    pub fn add(&mut self, event: &PendingEvent) {
        let Ok(envelope) = serde_json::from_str::<Envelope>(&event.body) else {
            return;
        };
        let Some(number) = envelope.phone_number_id.filter(|n| is_dimension_value(n)) else {
            return;
        };
        let data = envelope.data.map(RawValue::get).unwrap_or("null");
        match event.event_type.as_str() {
            "message.received" => self.number(&number).messages_in += 1,
            "command.accepted" if non_empty_string(data, "wamid") => {
                self.number(&number).messages_out += 1;
            }
            "conversation.opened" => self.number(&number).opened += 1,
            "conversation.closed" => self.number(&number).closed += 1,
            "conversation.abandoned" => self.number(&number).abandoned += 1,
            "conversation.first_response" => {
                if let Some(seconds) = number_field(data, "response_seconds").filter(|s| *s >= 0.0)
                {
                    self.number(&number).first_response_seconds.push(seconds);
                }
            }
            "conversation.rated" => {
                let n = self.number(&number);
                n.ratings += 1;
                if let Some(score) = number_field(data, "score") {
                    n.rating_scores.push(score);
                }
            }
            "message.status" => {
                if let Ok(status) = serde_json::from_str::<StatusData>(data) {
                    self.add_status(&number, &status);
                }
            }
            _ => {}
        }
    }

    fn number(&mut self, number: &str) -> &mut NumberTally {
        self.numbers.entry(number.to_owned()).or_default()
    }

    /// A status event moves one message forward from `previous_status` to `status`; every step
    /// it passes counts, so a `read` that arrives without its `delivered` (Meta sends only `read`
    /// when both happen together) still counts as delivered.
    fn add_status(&mut self, number: &str, s: &StatusData) {
        let rank = |status: Option<&str>| match status {
            None => Some(0),
            Some("sent") => Some(1),
            Some("delivered") => Some(2),
            Some("read" | "played") => Some(3),
            Some(_) => None,
        };
        let failed = s.status.as_deref() == Some("failed");
        let (from, to) = if failed {
            (0, 0)
        } else {
            match (
                rank(s.previous_status.as_deref()),
                rank(s.status.as_deref()),
            ) {
                (Some(from), Some(to)) if to > from => (from, to),
                _ => (0, 0),
            }
        };
        let reached = |step: u8| from < step && to >= step;
        let steps = TemplateTally {
            sent: u64::from(reached(1)),
            delivered: u64::from(reached(2)),
            read: u64::from(reached(3)),
            failed: u64::from(failed),
        };
        if let Some(template) = s.template.as_deref() {
            if steps != TemplateTally::default() {
                let t = self
                    .templates
                    .entry((number.to_owned(), dimension_or_other(template)))
                    .or_default();
                t.add(steps);
            }
        }
        if reached(2) {
            if let Some(p) = &s.pricing {
                let category = p
                    .category
                    .as_deref()
                    .map_or_else(|| OTHER.to_owned(), dimension_or_other);
                let kind = p
                    .kind
                    .as_deref()
                    .map_or_else(|| OTHER.to_owned(), dimension_or_other);
                *self
                    .pricing
                    .entry((number.to_owned(), category, kind))
                    .or_default() += 1;
            }
        }
    }
}

/// A value fit to be a dimension: a plain identifier (letters, digits, `_`, `-`, `.`) of at most
/// [`MAX_DIMENSION_CHARS`]. Meta's ids, template names and pricing values all are.
fn is_dimension_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_DIMENSION_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn dimension_or_other(s: &str) -> String {
    if is_dimension_value(s) {
        s.to_owned()
    } else {
        OTHER.to_owned()
    }
}

/// Whether `data` (a JSON object) has a non-empty string at `field`.
fn non_empty_string(data: &str, field: &str) -> bool {
    serde_json::from_str::<Map<String, Value>>(data)
        .ok()
        .and_then(|m| m.get(field).and_then(Value::as_str).map(|s| !s.is_empty()))
        .unwrap_or(false)
}

/// The finite number at `field` of `data` (a JSON object).
fn number_field(data: &str, field: &str) -> Option<f64> {
    serde_json::from_str::<Map<String, Value>>(data)
        .ok()?
        .get(field)?
        .as_f64()
        .filter(|v| v.is_finite())
}

mod emf;

pub use emf::Unit;

#[cfg(test)]
mod tests;
