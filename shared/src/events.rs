//! The CRM event contract: one JSON envelope for every event, published on `crm-events.fifo`.
//!
//! `event_id` is derived from the update that caused the event, so re-deriving it after a crash or
//! a redelivery gives the same id and SQS FIFO (and the CRM) can drop the repeat. The JSON Schemas
//! in `schemas/events/` describe the envelope and each type's `data`; see `docs/crm-contract.md`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::queue::OutboundMessage;

/// The version of the envelope and data shapes; bumped on a breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// The SQS message attribute that carries the event type (consumers filter on it).
pub const TYPE_ATTRIBUTE: &str = "type";

/// Every event type the bridge emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "contact.opted_out")]
    ContactOptedOut,
    #[serde(rename = "contact.opted_in")]
    ContactOptedIn,
    #[serde(rename = "contact.number_changed")]
    ContactNumberChanged,
    #[serde(rename = "contact.user_id_changed")]
    ContactUserIdChanged,
    #[serde(rename = "template.status")]
    TemplateStatus,
    #[serde(rename = "template.quality")]
    TemplateQuality,
    #[serde(rename = "template.category_changed")]
    TemplateCategoryChanged,
    #[serde(rename = "phone_number.quality")]
    PhoneNumberQuality,
    #[serde(rename = "account.update")]
    AccountUpdate,
    #[serde(rename = "whatsapp.error")]
    WhatsappError,
    #[serde(rename = "whatsapp.unknown")]
    WhatsappUnknown,
    #[serde(rename = "command.accepted")]
    CommandAccepted,
    #[serde(rename = "command.rejected")]
    CommandRejected,
    #[serde(rename = "command.failed")]
    CommandFailed,
    #[serde(rename = "command.deferred")]
    CommandDeferred,
    #[serde(rename = "window.expiring")]
    WindowExpiring,
    #[serde(rename = "window.expired")]
    WindowExpired,
    #[serde(rename = "call.connected")]
    CallConnected,
    #[serde(rename = "call.terminated")]
    CallTerminated,
    #[serde(rename = "call.status")]
    CallStatus,
    #[serde(rename = "message.echo")]
    MessageEcho,
    #[serde(rename = "history.message")]
    HistoryMessage,
    #[serde(rename = "contact.synced")]
    ContactSynced,
    #[serde(rename = "group.lifecycle_update")]
    GroupLifecycleUpdate,
    #[serde(rename = "group.participants_update")]
    GroupParticipantsUpdate,
    #[serde(rename = "group.settings_update")]
    GroupSettingsUpdate,
    #[serde(rename = "group.status_update")]
    GroupStatusUpdate,
    #[serde(rename = "conversation.opened")]
    ConversationOpened,
    #[serde(rename = "conversation.first_response")]
    ConversationFirstResponse,
    #[serde(rename = "conversation.closed")]
    ConversationClosed,
    #[serde(rename = "conversation.abandoned")]
    ConversationAbandoned,
    #[serde(rename = "conversation.rated")]
    ConversationRated,
    #[serde(rename = "conversation.rating_commented")]
    ConversationRatingCommented,
    #[serde(rename = "message.media_stored")]
    MessageMediaStored,
    #[serde(rename = "message.media_failed")]
    MessageMediaFailed,
    /// `erase_contact` finished: everything held about the person is gone.
    #[serde(rename = "contact.erased")]
    ContactErased,
    /// `export_contact` finished: the document's presigned URL.
    #[serde(rename = "contact.exported")]
    ContactExported,
}

impl EventType {
    pub const ALL: [EventType; 39] = [
        Self::MessageReceived,
        Self::MessageStatus,
        Self::ContactOptedOut,
        Self::ContactOptedIn,
        Self::ContactNumberChanged,
        Self::ContactUserIdChanged,
        Self::TemplateStatus,
        Self::TemplateQuality,
        Self::TemplateCategoryChanged,
        Self::PhoneNumberQuality,
        Self::AccountUpdate,
        Self::WhatsappError,
        Self::WhatsappUnknown,
        Self::CommandAccepted,
        Self::CommandRejected,
        Self::CommandFailed,
        Self::CommandDeferred,
        Self::WindowExpiring,
        Self::WindowExpired,
        Self::CallConnected,
        Self::CallTerminated,
        Self::CallStatus,
        Self::MessageEcho,
        Self::HistoryMessage,
        Self::ContactSynced,
        Self::GroupLifecycleUpdate,
        Self::GroupParticipantsUpdate,
        Self::GroupSettingsUpdate,
        Self::GroupStatusUpdate,
        Self::ConversationOpened,
        Self::ConversationFirstResponse,
        Self::ConversationClosed,
        Self::ConversationAbandoned,
        Self::ConversationRated,
        Self::ConversationRatingCommented,
        Self::MessageMediaStored,
        Self::MessageMediaFailed,
        Self::ContactErased,
        Self::ContactExported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageReceived => "message.received",
            Self::MessageStatus => "message.status",
            Self::ContactOptedOut => "contact.opted_out",
            Self::ContactOptedIn => "contact.opted_in",
            Self::ContactNumberChanged => "contact.number_changed",
            Self::ContactUserIdChanged => "contact.user_id_changed",
            Self::TemplateStatus => "template.status",
            Self::TemplateQuality => "template.quality",
            Self::TemplateCategoryChanged => "template.category_changed",
            Self::PhoneNumberQuality => "phone_number.quality",
            Self::AccountUpdate => "account.update",
            Self::WhatsappError => "whatsapp.error",
            Self::WhatsappUnknown => "whatsapp.unknown",
            Self::CommandAccepted => "command.accepted",
            Self::CommandRejected => "command.rejected",
            Self::CommandFailed => "command.failed",
            Self::CommandDeferred => "command.deferred",
            Self::WindowExpiring => "window.expiring",
            Self::WindowExpired => "window.expired",
            Self::CallConnected => "call.connected",
            Self::CallTerminated => "call.terminated",
            Self::CallStatus => "call.status",
            Self::MessageEcho => "message.echo",
            Self::HistoryMessage => "history.message",
            Self::ContactSynced => "contact.synced",
            Self::GroupLifecycleUpdate => "group.lifecycle_update",
            Self::GroupParticipantsUpdate => "group.participants_update",
            Self::GroupSettingsUpdate => "group.settings_update",
            Self::GroupStatusUpdate => "group.status_update",
            Self::ConversationOpened => "conversation.opened",
            Self::ConversationFirstResponse => "conversation.first_response",
            Self::ConversationClosed => "conversation.closed",
            Self::ConversationAbandoned => "conversation.abandoned",
            Self::ConversationRated => "conversation.rated",
            Self::ConversationRatingCommented => "conversation.rating_commented",
            Self::MessageMediaStored => "message.media_stored",
            Self::MessageMediaFailed => "message.media_failed",
            Self::ContactErased => "contact.erased",
            Self::ContactExported => "contact.exported",
        }
    }

    /// The event type for a non-`messages` webhook field.
    pub fn for_field(field: &str) -> Self {
        match field {
            "message_template_status_update" => Self::TemplateStatus,
            "message_template_quality_update" => Self::TemplateQuality,
            "phone_number_quality_update" => Self::PhoneNumberQuality,
            "account_update" => Self::AccountUpdate,
            _ => Self::WhatsappUnknown,
        }
    }
}

/// The contact block of the envelope (`phone` in E.164). Absent fields are `null`, except the
/// two Meta sends only to some integrators (`parent_user_id`, `username`): left out until known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRef {
    pub id: String,
    pub wa_id: Option<String>,
    pub phone: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    /// The parent business-scoped user id (`CC.ENT.…`), spanning linked business portfolios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    /// The person's WhatsApp username, when they use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// One CRM event. `data` is kept as raw JSON so Meta's original objects inside it are passed on
/// byte for byte.
#[derive(Debug, Serialize, Deserialize)]
pub struct CrmEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub schema_version: u32,
    /// RFC 3339, UTC, from Meta's timestamp when the update has one.
    pub occurred_at: String,
    pub phone_number_id: Option<String>,
    pub waba_id: Option<String>,
    pub contact: Option<ContactRef>,
    pub data: Box<RawValue>,
}

/// An event ready to publish, as kept in the outbox until SQS has accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub event_id: String,
    pub event_type: String,
    pub group_id: String,
    pub body: String,
}

impl PendingEvent {
    /// The FIFO message: group = contact (or business number), dedup id = `event_id`, type attribute.
    pub fn to_message(&self) -> OutboundMessage {
        OutboundMessage {
            body: self.body.clone(),
            group_id: Some(self.group_id.clone()),
            dedup_id: Some(self.event_id.clone()),
            attributes: vec![(TYPE_ATTRIBUTE.to_owned(), self.event_type.clone())],
        }
    }
}

impl CrmEvent {
    /// Serialises the event for the outbox. The group is the contact id, else the business
    /// number, else the WABA.
    pub fn pending(&self) -> Result<PendingEvent, serde_json::Error> {
        let group_id = self
            .contact
            .as_ref()
            .map(|c| c.id.clone())
            .or_else(|| self.phone_number_id.clone())
            .or_else(|| self.waba_id.clone())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(PendingEvent {
            event_id: self.event_id.clone(),
            event_type: self.event_type.as_str().to_owned(),
            group_id,
            body: serde_json::to_string(self)?,
        })
    }
}

/// Where an update came from; builds the events it causes with deterministic ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSource {
    /// The update's dedup key (see `docs/data-model.md`).
    pub update_key: String,
    pub phone_number_id: Option<String>,
    pub waba_id: Option<String>,
}

impl EventSource {
    /// The `index`-th event of `event_type` for this update, ready for the outbox.
    pub fn event(
        &self,
        event_type: EventType,
        index: usize,
        occurred_at: i64,
        contact: Option<ContactRef>,
        data: Box<RawValue>,
    ) -> Result<PendingEvent, serde_json::Error> {
        CrmEvent {
            event_id: event_id(&self.update_key, event_type, index),
            event_type,
            schema_version: SCHEMA_VERSION,
            occurred_at: rfc3339(occurred_at),
            phone_number_id: self.phone_number_id.clone(),
            waba_id: self.waba_id.clone(),
            contact,
            data,
        }
        .pending()
    }
}

/// The deterministic id of the `index`-th event of `event_type` caused by the update `update_key`.
pub fn event_id(update_key: &str, event_type: EventType, index: usize) -> String {
    let digest =
        Sha256::digest(format!("{update_key}\n{}\n{index}", event_type.as_str()).as_bytes());
    format!("ev_{}", hex::encode(digest.get(..16).unwrap_or_default()))
}

/// Builds an event's `data`: the normalised `fields` plus Meta's `original` object, unchanged.
pub fn data_with_original(
    fields: serde_json::Map<String, serde_json::Value>,
    original: &RawValue,
) -> Result<Box<RawValue>, serde_json::Error> {
    #[derive(Serialize)]
    struct Data<'a> {
        #[serde(flatten)]
        fields: serde_json::Map<String, serde_json::Value>,
        original: &'a RawValue,
    }
    serde_json::value::to_raw_value(&Data { fields, original })
}

/// Builds an event's `data` from normalised fields only.
pub fn data(
    fields: serde_json::Map<String, serde_json::Value>,
) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(&fields)
}

/// An RFC 3339 date-time (`2026-11-30T08:00:00Z`, `2026-11-30T05:00:00.250-03:00`) as Unix
/// milliseconds; `None` when it is not one (a date alone, no offset, a field out of range).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut millis = 0;
    if sep(i, b".") {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let digits = &s[start..end.min(start + 3)];
        millis = digits.parse::<i64>().ok()? * 10_i64.pow(3 - digits.len() as u32);
        i = end;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if b.len() == i + 1 => 0,
        b'+' | b'-' if b.len() == i + 6 && sep(i + 3, b":") => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if b[i] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(month - 1).ok()?)?;
    if !(1..=max_day).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds * 1000 + millis)
}

/// Unix seconds as RFC 3339 UTC (`2025-06-08T20:59:43Z`).
pub fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_deterministic_and_distinct_per_type_and_index() {
        let a = event_id("msg:wamid.A", EventType::MessageReceived, 0);
        assert_eq!(a, event_id("msg:wamid.A", EventType::MessageReceived, 0));
        assert_ne!(a, event_id("msg:wamid.A", EventType::ContactOptedOut, 0));
        assert_ne!(a, event_id("msg:wamid.A", EventType::MessageReceived, 1));
        assert_ne!(a, event_id("msg:wamid.B", EventType::MessageReceived, 0));
        assert_eq!(a.len(), 35);
    }

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2025-06-08T20:59:43Z"),
            Some(1_749_416_383_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-06-08T17:59:43.25-03:00"),
            Some(1_749_416_383_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00+00:00"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "2025-06-08",
            "2025-06-08T20:59:43",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-06-08T24:00:00Z",
            "2025-06-08T20:59:43.Z",
            "2025-06-08T20:59:43+0300",
            "2025-06-08T20:59:43Zjunk",
            "２０２５-06-08T20:59:43Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        for t in [0, 951_782_400, 1_749_416_383, 4_102_444_800] {
            assert_eq!(parse_rfc3339_ms(&rfc3339(t)), Some(t * 1000));
        }
    }

    #[test]
    fn formats_unix_seconds_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_749_416_383), "2025-06-08T20:59:43Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn keeps_the_original_object_byte_for_byte() {
        let original = RawValue::from_string(r#"{"body":"Ol\u00e1"}"#.to_owned()).unwrap();
        let mut fields = serde_json::Map::new();
        fields.insert("text".into(), "Olá".into());
        let data = data_with_original(fields, &original).unwrap();
        assert_eq!(
            data.get(),
            r#"{"text":"Olá","original":{"body":"Ol\u00e1"}}"#
        );
    }

    #[test]
    fn type_names_round_trip_through_serde() {
        for t in EventType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }
}
