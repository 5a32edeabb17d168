//! CRM commands: parsed and checked against the published JSON Schemas (`schemas/commands/`),
//! plus the few Meta limits a schema cannot say, before anything is sent.
//!
//! The per-type objects are Meta's own send API objects, so a valid command becomes a send body
//! by adding the envelope fields Meta wants (`messaging_product`, `to`/`recipient`, `type`).

use std::collections::HashMap;
use std::fmt;

use serde_json::{json, Map, Value};

use crate::schema::Schema;
use shared::identity::{Identity, UserId, WaId};

/// The command types, as named in the envelope's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandType {
    SendText,
    SendTemplate,
    SendMedia,
    SendInteractive,
    SendReaction,
    MarkRead,
    CloseConversation,
    RequestRating,
    EraseContact,
    ExportContact,
}

impl CommandType {
    pub const ALL: [CommandType; 10] = [
        Self::SendText,
        Self::SendTemplate,
        Self::SendMedia,
        Self::SendInteractive,
        Self::SendReaction,
        Self::MarkRead,
        Self::CloseConversation,
        Self::RequestRating,
        Self::EraseContact,
        Self::ExportContact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendText => "send_text",
            Self::SendTemplate => "send_template",
            Self::SendMedia => "send_media",
            Self::SendInteractive => "send_interactive",
            Self::SendReaction => "send_reaction",
            Self::MarkRead => "mark_read",
            Self::CloseConversation => "close_conversation",
            Self::RequestRating => "request_rating",
            Self::EraseContact => "erase_contact",
            Self::ExportContact => "export_contact",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A CRM command id: 1–128 characters of `[A-Za-z0-9._:-]` (also the FIFO dedup id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandId(String);

impl CommandId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The outbox key of this command's outcome (also the basis of its event ids).
    pub fn outcome_key(&self) -> String {
        format!("cmd:{}", self.0)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a command goes to, normalised with the processor's identity rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Phone(WaId),
    User(UserId),
}

impl Recipient {
    /// Accepts a phone number in any usual format with its country code (`+55 (11) 98765-4321`,
    /// `0055 11 …`, a bare wa_id) that is a valid number of that country, or a business-scoped
    /// user id (`US.1349…`).
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        let phone_like = s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'));
        if phone_like {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let digits = match digits.strip_prefix("00") {
                Some(rest) if !s.starts_with('+') => rest.to_owned(),
                _ => digits,
            };
            // Shape alone would take a national number (`11 98765-4321`) for another
            // country's: it must be a valid number where its first digits say it is.
            return WaId::parse(&digits)
                .filter(WaId::is_valid_number)
                .map(Self::Phone);
        }
        // Business-scoped user ids look like `US.13491208655302741918`: a region, a dot, an id.
        let bsuid = s.split_once('.').is_some_and(|(region, id)| {
            !region.is_empty()
                && region.bytes().all(|b| b.is_ascii_alphabetic())
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if bsuid {
            return UserId::parse(s).map(Self::User);
        }
        None
    }

    pub fn identity(&self) -> Identity {
        match self {
            Self::Phone(w) => Identity {
                wa_id: Some(w.clone()),
                user_id: None,
            },
            Self::User(u) => Identity {
                wa_id: None,
                user_id: Some(u.clone()),
            },
        }
    }

    /// The pair-rate key: the canonical phone form or the user id.
    pub fn rate_key(&self) -> String {
        match self {
            Self::Phone(w) => format!("wa:{}", w.canonical()),
            Self::User(u) => format!("uid:{}", u.as_str()),
        }
    }

    /// For logs: masked phone, user ids as they are (they are not phone numbers).
    pub fn masked(&self) -> String {
        match self {
            Self::Phone(w) => w.to_string(),
            Self::User(u) => u.as_str().to_owned(),
        }
    }
}

/// What a command asks Meta to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A message: Meta's `type` and its object.
    Message {
        kind: String,
        object: Value,
    },
    MarkRead {
        message_id: String,
        typing: bool,
    },
    /// `close_conversation`: nothing is sent ([`crate::close`]).
    Close(crate::close::Close),
    /// `request_rating`: the interactive choices and the request they belong to
    /// ([`crate::rating`]).
    Rating {
        request: crate::rating::RatingRequest,
        interactive: Value,
    },
    /// `erase_contact` / `export_contact`: nothing is sent ([`crate::privacy`]).
    Privacy(crate::privacy::Request),
}

/// A template to send, with the category the CRM declared (removed from what Meta gets).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub object: Value,
    pub declared_category: Option<String>,
}

impl Template {
    fn from_value(mut object: Value) -> Self {
        let declared_category = object
            .as_object_mut()
            .and_then(|o| o.remove("category"))
            .and_then(|c| c.as_str().map(str::to_ascii_lowercase));
        Self {
            object,
            declared_category,
        }
    }

    pub fn name(&self) -> &str {
        self.object
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn language(&self) -> &str {
        self.object
            .get("language")
            .and_then(|l| l.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A command that passed every check that needs no state.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub id: CommandId,
    pub kind: CommandType,
    pub phone_number_id: String,
    pub to: Option<Recipient>,
    pub payload: Payload,
    /// `send_template`'s template (with its declared category).
    pub template: Option<Template>,
    pub context: Option<Value>,
    pub fallback: Option<Template>,
    /// `expires_at` (Unix ms): past it the command is not sent (`command.failed`, `expired`).
    pub expires_at_ms: Option<i64>,
    /// Who asked (an agent's or a system's id in the CRM): kept in the outcome event and the
    /// audit (`shared::privacy::AuditRecord`).
    pub actor: Option<String>,
}

impl Command {
    /// Free-form messages need the customer-service window; templates, mark-read and a close
    /// (nothing is sent) do not.
    pub fn is_free_form(&self) -> bool {
        !matches!(
            self.kind,
            CommandType::SendTemplate
                | CommandType::MarkRead
                | CommandType::CloseConversation
                | CommandType::EraseContact
                | CommandType::ExportContact
        )
    }

    /// The Graph API body for this command, or for `template` sent in its place.
    pub fn send_body(&self, template: Option<&Template>, to: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert("messaging_product".into(), "whatsapp".into());
        let (kind, object) = match (&self.payload, template) {
            (Payload::MarkRead { message_id, typing }, _) => {
                body.insert("status".into(), "read".into());
                body.insert("message_id".into(), message_id.clone().into());
                if *typing {
                    body.insert("typing_indicator".into(), json!({"type": "text"}));
                }
                return Value::Object(body);
            }
            // Never sent: the flow closes the conversation (or erases, exports) before any send.
            (Payload::Close(_) | Payload::Privacy(_), _) => return Value::Object(body),
            (_, Some(t)) => ("template".to_owned(), t.object.clone()),
            (Payload::Message { kind, object }, None) => (kind.clone(), object.clone()),
            (Payload::Rating { interactive, .. }, None) => {
                ("interactive".to_owned(), interactive.clone())
            }
        };
        body.insert("recipient_type".into(), "individual".into());
        match &self.to {
            Some(Recipient::User(u)) => {
                body.insert("recipient".into(), u.as_str().into());
            }
            Some(Recipient::Phone(w)) => {
                let to = to
                    .map(str::to_owned)
                    .or_else(|| w.e164())
                    .unwrap_or_else(|| format!("+{}", w.canonical()));
                body.insert("to".into(), to.into());
            }
            None => {}
        }
        if template.is_none() {
            if let Some(context) = &self.context {
                body.insert("context".into(), context.clone());
            }
        }
        body.insert("type".into(), kind.clone().into());
        body.insert(kind, object);
        // Echoed by Meta in status webhooks: lets the CRM match a status to the command even
        // when the send's answer was lost.
        body.insert(
            "biz_opaque_callback_data".into(),
            self.id.as_str().to_owned().into(),
        );
        Value::Object(body)
    }
}

/// Why a command is refused without being sent (the `reason` of `command.rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Not JSON, or not the shape of its schema.
    InvalidCommand,
    /// Over one of Meta's limits (lengths, counts).
    LimitExceeded,
    UnknownPhoneNumberId,
    InvalidRecipient,
    WindowClosed,
    OptedOut,
    /// An authentication template to a business-scoped user id: Meta refuses it (131062).
    AuthenticationToUserId,
    /// `close_conversation`: the contact has no open conversation (or not the one named).
    NoOpenConversation,
    /// `request_rating`: no conversation to rate (none open or closed, or not the one named).
    NoConversation,
    /// `erase_contact` / `export_contact`: the bridge holds nothing about this person.
    UnknownContact,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCommand => "invalid_command",
            Self::LimitExceeded => "limit_exceeded",
            Self::UnknownPhoneNumberId => "unknown_phone_number_id",
            Self::InvalidRecipient => "invalid_recipient",
            Self::WindowClosed => "window_closed",
            Self::OptedOut => "opted_out",
            Self::AuthenticationToUserId => "authentication_to_user_id",
            Self::NoOpenConversation => "no_open_conversation",
            Self::NoConversation => "no_conversation",
            Self::UnknownContact => "unknown_contact",
        }
    }
}

/// A refusal: machine-readable reason, a sentence for people, and the JSON pointer at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub message: String,
    pub field: Option<String>,
}

impl Rejection {
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            field: None,
        }
    }
}

/// A body that could not become a [`Command`], with whatever identified it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub command_id: Option<CommandId>,
    pub kind: Option<CommandType>,
    pub phone_number_id: Option<String>,
    pub rejection: Rejection,
}

/// An embedded schema that does not compile (a build defect, reported at cold start).
#[derive(Debug, thiserror::Error)]
#[error("command schema {name} does not compile: {reason}")]
pub struct SchemaError {
    name: &'static str,
    reason: String,
}

/// The command schemas, compiled once at cold start.
pub struct Validators {
    envelope: Schema,
    by_type: HashMap<CommandType, Schema>,
    template: Schema,
}

const SCHEMAS: [(&str, &str); 11] = [
    (
        "envelope",
        include_str!("../../../schemas/commands/envelope.json"),
    ),
    (
        "send_text",
        include_str!("../../../schemas/commands/send_text.json"),
    ),
    (
        "send_template",
        include_str!("../../../schemas/commands/send_template.json"),
    ),
    (
        "send_media",
        include_str!("../../../schemas/commands/send_media.json"),
    ),
    (
        "send_interactive",
        include_str!("../../../schemas/commands/send_interactive.json"),
    ),
    (
        "send_reaction",
        include_str!("../../../schemas/commands/send_reaction.json"),
    ),
    (
        "mark_read",
        include_str!("../../../schemas/commands/mark_read.json"),
    ),
    (
        "close_conversation",
        include_str!("../../../schemas/commands/close_conversation.json"),
    ),
    (
        "request_rating",
        include_str!("../../../schemas/commands/request_rating.json"),
    ),
    (
        "erase_contact",
        include_str!("../../../schemas/commands/erase_contact.json"),
    ),
    (
        "export_contact",
        include_str!("../../../schemas/commands/export_contact.json"),
    ),
];

/// Schema keywords that express one of Meta's limits rather than a shape.
const LIMIT_KEYWORDS: [&str; 4] = ["maxLength", "maxItems", "minItems", "minLength"];

impl Validators {
    pub fn load() -> Result<Self, SchemaError> {
        let compile = |name: &'static str, schema: &Value| {
            Schema::compile(schema).map_err(|e| SchemaError {
                name,
                reason: e.to_string(),
            })
        };
        let mut envelope = None;
        let mut by_type = HashMap::new();
        let mut template = None;
        for (name, text) in SCHEMAS {
            let schema: Value = serde_json::from_str(text).map_err(|e| SchemaError {
                name,
                reason: e.to_string(),
            })?;
            if name == "send_template" {
                let def =
                    schema
                        .pointer("/$defs/template")
                        .cloned()
                        .ok_or_else(|| SchemaError {
                            name,
                            reason: "no $defs/template".into(),
                        })?;
                template = Some(compile(name, &def)?);
            }
            let validator = compile(name, &schema)?;
            match CommandType::parse(name) {
                Some(t) => {
                    by_type.insert(t, validator);
                }
                None => envelope = Some(validator),
            }
        }
        let missing = |name| SchemaError {
            name,
            reason: "not embedded".into(),
        };
        Ok(Self {
            envelope: envelope.ok_or_else(|| missing("envelope"))?,
            template: template.ok_or_else(|| missing("send_template"))?,
            by_type,
        })
    }

    /// Parses and checks one command body.
    pub fn parse(&self, body: &str) -> Result<Command, Box<Invalid>> {
        let value: Value = serde_json::from_str(body).map_err(|e| {
            invalid(
                None,
                Rejection::new(
                    RejectReason::InvalidCommand,
                    format!(
                        "the command is not JSON: {}",
                        shared::redact::JsonError::from(e)
                    ),
                ),
            )
        })?;
        let mut seen = Invalid {
            command_id: value
                .get("command_id")
                .and_then(Value::as_str)
                .and_then(CommandId::parse),
            kind: value
                .get("type")
                .and_then(Value::as_str)
                .and_then(CommandType::parse),
            phone_number_id: value
                .get("phone_number_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            rejection: Rejection::new(RejectReason::InvalidCommand, ""),
        };
        let fail = |seen: &Invalid, rejection: Rejection| {
            Box::new(Invalid {
                rejection,
                ..seen.clone()
            })
        };
        check(&self.envelope, &value, "").map_err(|r| fail(&seen, r))?;
        let kind = seen.kind.ok_or_else(|| {
            fail(
                &seen,
                Rejection::new(RejectReason::InvalidCommand, "unknown command type"),
            )
        })?;
        if let Some(v) = self.by_type.get(&kind) {
            check(v, &value, "").map_err(|r| fail(&seen, r))?;
        }
        // request_rating's `template` is its fallback: sent when the window is closed.
        let fallback_field = match kind {
            CommandType::RequestRating => "template",
            _ => "fallback_template",
        };
        let fallback = match value.get(fallback_field) {
            Some(t) => {
                check(&self.template, t, &format!("/{fallback_field}"))
                    .map_err(|r| fail(&seen, r))?;
                Some(Template::from_value(t.clone()))
            }
            None => None,
        };
        extra_limits(&value).map_err(|r| fail(&seen, r))?;
        let to = match value.get("to").and_then(Value::as_str) {
            Some(raw) => Some(Recipient::parse(raw).ok_or_else(|| {
                let mut r = Rejection::new(
                    RejectReason::InvalidRecipient,
                    "`to` is neither a phone number with its country code nor a business-scoped user id",
                );
                r.field = Some("/to".into());
                fail(&seen, r)
            })?),
            None => None,
        };
        let expires_at_ms = match value.get("expires_at").and_then(Value::as_str) {
            Some(raw) => Some(shared::events::parse_rfc3339_ms(raw).ok_or_else(|| {
                let mut r = Rejection::new(
                    RejectReason::InvalidCommand,
                    "/expires_at: not an RFC 3339 date-time with an offset (2026-11-30T08:00:00Z)",
                );
                r.field = Some("/expires_at".into());
                fail(&seen, r)
            })?),
            None => None,
        };
        seen.rejection.message.clear();
        let id = seen
            .command_id
            .clone()
            .ok_or_else(|| fail(&seen, Rejection::new(RejectReason::InvalidCommand, "")))?;
        let phone_number_id = seen.phone_number_id.clone().unwrap_or_default();
        let (payload, template) = payload(kind, &value, &phone_number_id, &id, to.is_some())
            .map_err(|r| fail(&seen, r))?;
        Ok(Command {
            id,
            kind,
            phone_number_id,
            to,
            payload,
            template,
            context: value.get("context").cloned(),
            fallback,
            expires_at_ms,
            actor: value
                .get("actor")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

fn invalid(command_id: Option<CommandId>, rejection: Rejection) -> Box<Invalid> {
    Box::new(Invalid {
        command_id,
        kind: None,
        phone_number_id: None,
        rejection,
    })
}

/// The first schema violation, as a rejection naming the field.
fn check(schema: &Schema, value: &Value, prefix: &str) -> Result<(), Rejection> {
    let Some(err) = schema.first_violation(value) else {
        return Ok(());
    };
    let field = format!("{prefix}{}", err.path);
    let reason = if LIMIT_KEYWORDS.contains(&err.keyword) {
        RejectReason::LimitExceeded
    } else {
        RejectReason::InvalidCommand
    };
    let at = if field.is_empty() { "/" } else { &field };
    Err(Rejection {
        reason,
        // Never quotes the value (a phone number, a text): schema::Violation.
        message: format!("{at}: {}", err.message),
        field: Some(at.to_owned()),
    })
}

/// Limits that span several values: at most 10 list rows in all; unique reply-button ids.
fn extra_limits(value: &Value) -> Result<(), Rejection> {
    let Some(action) = value.pointer("/interactive/action") else {
        return Ok(());
    };
    if let Some(sections) = action.get("sections").and_then(Value::as_array) {
        let rows: usize = sections
            .iter()
            .filter_map(|s| s.get("rows").and_then(Value::as_array))
            .map(Vec::len)
            .sum();
        if rows > 10 {
            return Err(Rejection {
                reason: RejectReason::LimitExceeded,
                message: format!("a list may have at most 10 rows in all sections, has {rows}"),
                field: Some("/interactive/action/sections".into()),
            });
        }
    }
    if let Some(buttons) = action.get("buttons").and_then(Value::as_array) {
        let mut ids = std::collections::HashSet::new();
        for b in buttons {
            let id = b.pointer("/reply/id").and_then(Value::as_str).unwrap_or("");
            if !ids.insert(id) {
                return Err(Rejection {
                    reason: RejectReason::InvalidCommand,
                    message: format!("reply button ids must be unique; {id:?} repeats"),
                    field: Some("/interactive/action/buttons".into()),
                });
            }
        }
    }
    Ok(())
}

/// The command's payload; a close that names no conversation is refused here.
fn payload(
    kind: CommandType,
    value: &Value,
    phone_number_id: &str,
    id: &CommandId,
    has_to: bool,
) -> Result<(Payload, Option<Template>), Rejection> {
    let object = |key: &str| value.get(key).cloned().unwrap_or(Value::Null);
    let message = |k: &str| Payload::Message {
        kind: k.to_owned(),
        object: object(k),
    };
    Ok(match kind {
        CommandType::SendText => (message("text"), None),
        CommandType::SendTemplate => {
            let t = Template::from_value(object("template"));
            (
                Payload::Message {
                    kind: "template".into(),
                    object: t.object.clone(),
                },
                Some(t),
            )
        }
        CommandType::SendMedia => {
            let k = ["image", "video", "audio", "document", "sticker"]
                .into_iter()
                .find(|k| value.get(*k).is_some())
                .unwrap_or("image");
            (message(k), None)
        }
        CommandType::SendInteractive => (message("interactive"), None),
        CommandType::SendReaction => (message("reaction"), None),
        CommandType::CloseConversation => (
            Payload::Close(crate::close::Close::from_value(value, has_to)?),
            None,
        ),
        CommandType::EraseContact | CommandType::ExportContact => (
            Payload::Privacy(crate::privacy::Request::from_value(kind, value, has_to)?),
            None,
        ),
        CommandType::RequestRating => {
            let (request, interactive) =
                crate::rating::RatingRequest::from_value(phone_number_id, id, value);
            let rating = Payload::Rating {
                request,
                interactive,
            };
            (rating, None)
        }
        CommandType::MarkRead => (
            Payload::MarkRead {
                message_id: value
                    .get("message_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                typing: value
                    .get("typing_indicator")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            None,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators::load().unwrap()
    }

    fn cmd(extra: Value) -> String {
        let mut base = json!({"command_id":"c-1","phone_number_id":"106540352242922","to":"+55 (11) 98765-4321"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base.to_string()
    }

    fn rejection(body: String) -> Rejection {
        v().parse(&body).unwrap_err().rejection
    }

    #[test]
    fn accepts_a_text_and_builds_metas_body_in_e164() {
        let c = v()
            .parse(&cmd(json!({"type":"send_text","text":{"body":"Olá"}})))
            .unwrap();
        assert!(c.is_free_form());
        let body = c.send_body(None, None);
        assert_eq!(body["to"], "+5511987654321");
        assert_eq!(body["type"], "text");
        assert_eq!(body["text"]["body"], "Olá");
        assert_eq!(body["biz_opaque_callback_data"], "c-1");
    }

    #[test]
    fn normalises_phone_formats_and_user_ids_like_the_processor() {
        for raw in [
            "+55 11 98765-4321",
            "5511987654321",
            "0055 11 98765 4321",
            "(55) 11.98765.4321",
        ] {
            assert_eq!(
                Recipient::parse(raw).map(|r| r.rate_key()).as_deref(),
                Some("wa:5511987654321"),
                "{raw}"
            );
        }
        assert_eq!(
            Recipient::parse("551187654321")
                .map(|r| r.rate_key())
                .as_deref(),
            Some("wa:5511987654321")
        );
        assert!(matches!(
            Recipient::parse("US.13491208655302741918"),
            Some(Recipient::User(_))
        ));
        assert_eq!(Recipient::parse("12ab"), None);
    }

    #[test]
    fn a_phone_number_without_its_country_code_is_not_a_recipient() {
        // National forms of a São Paulo mobile and a US number: digits enough for a wa_id, but
        // read as international they name no valid number (`+1 198…`, `+65 0555…`).
        for raw in [
            "11987654321",
            "(11) 98765-4321",
            "6505551234",
            "0 11 98765 4321",
        ] {
            assert_eq!(Recipient::parse(raw), None, "{raw}");
        }
        for raw in [
            "+1 (650) 555-1234",
            "+5511900000000",
            "5491123456789",
            "5215512345678",
        ] {
            assert!(Recipient::parse(raw).is_some(), "{raw}");
        }
    }

    #[test]
    fn a_command_to_a_number_without_its_country_code_is_an_invalid_recipient() {
        let r = rejection(cmd(
            json!({"type":"send_text","text":{"body":"x"},"to":"11987654321"}),
        ));
        assert_eq!(r.reason, RejectReason::InvalidRecipient);
        assert_eq!(r.field.as_deref(), Some("/to"));
    }

    #[test]
    fn sends_to_a_business_scoped_user_id_with_recipient() {
        let c = v()
            .parse(&cmd(json!({"to":"US.1349","type":"send_reaction","reaction":{"message_id":"wamid.X","emoji":"👍"}})))
            .unwrap();
        let body = c.send_body(None, None);
        assert_eq!(body["recipient"], "US.1349");
        assert!(body.get("to").is_none());
    }

    #[test]
    fn rejects_four_buttons_and_long_titles_as_limits() {
        let button = |t: &str, id: &str| json!({"type":"reply","reply":{"id":id,"title":t}});
        let msg = |buttons: Value| {
            cmd(
                json!({"type":"send_interactive","interactive":{"type":"button","body":{"text":"pick"},"action":{"buttons":buttons}}}),
            )
        };
        assert!(v()
            .parse(&msg(json!([button("Yes", "y"), button("No", "n")])))
            .is_ok());
        let r = rejection(msg(json!([
            button("a", "1"),
            button("b", "2"),
            button("c", "3"),
            button("d", "4")
        ])));
        assert_eq!(r.reason, RejectReason::LimitExceeded);
        assert_eq!(r.field.as_deref(), Some("/interactive/action/buttons"));
        let r = rejection(msg(json!([button("a title that is too long", "1")])));
        assert_eq!(r.reason, RejectReason::LimitExceeded);
        assert_eq!(
            r.field.as_deref(),
            Some("/interactive/action/buttons/0/reply/title")
        );
        let r = rejection(msg(json!([button("a", "1"), button("b", "1")])));
        assert_eq!(r.reason, RejectReason::InvalidCommand);
    }

    #[test]
    fn rejects_a_long_caption_and_a_body_over_1024() {
        let r = rejection(cmd(
            json!({"type":"send_media","image":{"link":"https://x/y.png","caption":"x".repeat(1025)}}),
        ));
        assert_eq!(r.reason, RejectReason::LimitExceeded);
        let r = rejection(cmd(
            json!({"type":"send_interactive","interactive":{"type":"button","body":{"text":"é".repeat(1025)},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}}),
        ));
        assert_eq!(r.reason, RejectReason::LimitExceeded);
        assert!(v()
            .parse(&cmd(json!({"type":"send_interactive","interactive":{"type":"button","body":{"text":"é".repeat(1024)},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}})))
            .is_ok());
    }

    #[test]
    fn media_needs_exactly_one_kind_and_one_source() {
        assert!(v()
            .parse(&cmd(
                json!({"type":"send_media","document":{"id":"123","filename":"a.pdf"}})
            ))
            .is_ok());
        assert_eq!(
            rejection(cmd(
                json!({"type":"send_media","image":{"id":"1","link":"https://x"}})
            ))
            .reason,
            RejectReason::InvalidCommand
        );
        assert_eq!(
            rejection(cmd(
                json!({"type":"send_media","image":{"id":"1"},"video":{"id":"2"}})
            ))
            .reason,
            RejectReason::InvalidCommand
        );
        assert_eq!(
            rejection(cmd(
                json!({"type":"send_media","audio":{"id":"1","caption":"no"}})
            ))
            .reason,
            RejectReason::InvalidCommand
        );
    }

    #[test]
    fn media_by_key_names_an_object_under_media_only() {
        let hex = "0".repeat(64);
        let key = format!("media/106540352242922/ct_0123456789abcdef01234567/{hex}");
        assert!(v()
            .parse(&cmd(
                json!({"type":"send_media","image":{"key":key,"caption":"x"}})
            ))
            .is_ok());
        for bad in [
            format!("exports/106540352242922/ct_0123456789abcdef01234567/{hex}"),
            format!("updates/{hex}.json"),
            format!("media/../exports/{hex}"),
            format!("media/106540352242922/ct_0123456789abcdef01234567/{hex}.json"),
            "media/".to_owned(),
        ] {
            assert_eq!(
                rejection(cmd(json!({"type":"send_media","image":{"key":bad}}))).reason,
                RejectReason::InvalidCommand,
                "{bad}"
            );
        }
        assert_eq!(
            rejection(cmd(
                json!({"type":"send_media","image":{"key":key,"link":"https://x"}})
            ))
            .reason,
            RejectReason::InvalidCommand
        );
    }

    #[test]
    fn a_list_may_not_have_more_than_ten_rows_in_all() {
        let rows: Vec<Value> = (0..6)
            .map(|i| json!({"id":format!("r{i}"),"title":"t"}))
            .collect();
        let r = rejection(cmd(
            json!({"type":"send_interactive","interactive":{"type":"list","body":{"text":"b"},"action":{"button":"Open","sections":[{"title":"a","rows":rows},{"title":"b","rows":rows}]}}}),
        ));
        assert_eq!(r.reason, RejectReason::LimitExceeded);
    }

    #[test]
    fn keeps_the_declared_category_out_of_metas_template() {
        let c = v()
            .parse(&cmd(json!({"type":"send_template","template":{"name":"promo","language":{"code":"pt_BR"},"category":"MARKETING"}})))
            .unwrap();
        let t = c.template.as_ref().unwrap();
        assert_eq!(t.declared_category.as_deref(), Some("marketing"));
        let body = c.send_body(None, None);
        assert!(body["template"].get("category").is_none());
        assert!(!c.is_free_form());
    }

    #[test]
    fn a_fallback_template_is_checked_and_sent_in_place_of_the_text() {
        let c = v()
            .parse(&cmd(json!({"type":"send_text","text":{"body":"hi"},"context":{"message_id":"wamid.A"},"fallback_template":{"name":"hello","language":{"code":"en"}}})))
            .unwrap();
        let body = c.send_body(c.fallback.as_ref(), None);
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"]["name"], "hello");
        assert!(body.get("text").is_none() && body.get("context").is_none());
        let r = rejection(cmd(
            json!({"type":"send_text","text":{"body":"hi"},"fallback_template":{"name":"x"}}),
        ));
        assert_eq!(r.field.as_deref(), Some("/fallback_template"));
    }

    #[test]
    fn identifies_what_it_can_of_an_invalid_command() {
        let err = v()
            .parse(r#"{"command_id":"c-9","type":"send_text","phone_number_id":"1","to":"+1650"}"#)
            .unwrap_err();
        assert_eq!(err.command_id.as_ref().map(CommandId::as_str), Some("c-9"));
        assert_eq!(err.kind, Some(CommandType::SendText));
        assert_eq!(err.rejection.reason, RejectReason::InvalidCommand);
        assert_eq!(v().parse("nope").unwrap_err().command_id, None);
        let no_to = v().parse(
            r#"{"command_id":"c","type":"send_text","phone_number_id":"1","text":{"body":"x"}}"#,
        );
        assert!(no_to.is_err());
    }

    #[test]
    fn mark_read_needs_no_recipient() {
        let c = v()
            .parse(r#"{"command_id":"c","type":"mark_read","phone_number_id":"1","message_id":"wamid.A","typing_indicator":true}"#)
            .unwrap();
        let body = c.send_body(None, None);
        assert_eq!(
            body,
            json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.A","typing_indicator":{"type":"text"}})
        );
    }
}
