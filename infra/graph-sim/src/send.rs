//! Validation of `POST /{version}/{phone_number_id}/messages` bodies, with Meta's codes: 131008
//! when a required parameter is absent, 100 when one has the wrong value or shape.

use serde_json::{Map, Value};

use crate::errors::MetaError;

/// Message types the send endpoint accepts.
pub const MESSAGE_TYPES: &[&str] = &[
    "text",
    "template",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "interactive",
    "reaction",
    "location",
    "contacts",
];

const TEXT_BODY_MAX: usize = 4096;
const CAPTION_MAX: usize = 1024;

/// A send request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRequest {
    /// `{"status":"read","message_id":…}`: answered `{"success":true}`.
    MarkRead {
        message_id: String,
    },
    Message(OutboundMessage),
}

/// A message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub recipient: Recipient,
    /// The `type` (defaults to `text`, as at Meta).
    pub kind: String,
    /// A template's `(name, language code)`, so its category can be looked up.
    pub template: Option<(String, String)>,
}

impl OutboundMessage {
    /// Templates may be sent outside the customer-service window; everything else may not.
    pub fn is_free_form(&self) -> bool {
        self.kind != "template"
    }
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// `to`: a phone number as given and its digits (what Meta answers as `wa_id`).
    Phone { input: String, wa_id: String },
    /// `recipient`: a business-scoped user id such as `US.13491208655302741918`.
    UserId(String),
}

impl Recipient {
    /// What the request named, echoed as `contacts[].input`.
    pub fn input(&self) -> &str {
        match self {
            Recipient::Phone { input, .. } => input,
            Recipient::UserId(id) => id,
        }
    }
}

/// Checks a parsed request body the way Meta does and says what it asks for.
pub fn validate(body: &Value, business_number: &str) -> Result<SendRequest, MetaError> {
    let root = body
        .as_object()
        .ok_or_else(|| MetaError::invalid("The request body must be a JSON object."))?;
    match root.get("messaging_product") {
        None | Some(Value::Null) => {
            return Err(MetaError::missing(
                "The parameter messaging_product is required.",
            ))
        }
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(_) => {
            return Err(MetaError::invalid(
                "Param messaging_product must be 'whatsapp'.",
            ))
        }
    }
    if root.contains_key("status") {
        return validate_mark_read(root);
    }
    if let Some(rt) = root.get("recipient_type") {
        if !matches!(rt.as_str(), Some("individual" | "group")) {
            return Err(MetaError::invalid(
                "Param recipient_type must be 'individual'.",
            ));
        }
    }
    let recipient = recipient(root, business_number)?;
    let kind = match root.get("type") {
        None | Some(Value::Null) => "text",
        Some(Value::String(t)) if MESSAGE_TYPES.contains(&t.as_str()) => t.as_str(),
        Some(_) => {
            return Err(MetaError::invalid(format!(
                "Param type must be one of {{{}}}.",
                MESSAGE_TYPES.join(", ")
            )))
        }
    };
    let object = match root.get(kind) {
        None | Some(Value::Null) => {
            return Err(MetaError::missing(format!(
                "The parameter {kind} is required."
            )))
        }
        Some(Value::Array(items)) if kind == "contacts" => {
            validate_contacts(items)?;
            None
        }
        Some(Value::Object(o)) if kind != "contacts" => Some(o),
        Some(_) => {
            let shape = if kind == "contacts" {
                "an array"
            } else {
                "an object"
            };
            return Err(MetaError::invalid(format!("Param {kind} must be {shape}.")));
        }
    };
    if let Some(object) = object {
        match kind {
            "text" => validate_text(object)?,
            "template" => validate_template(object)?,
            "interactive" => validate_interactive(object)?,
            "reaction" => validate_reaction(object)?,
            "location" => validate_location(object)?,
            media => validate_media(media, object)?,
        }
    }
    let template = object.filter(|_| kind == "template").and_then(|t| {
        let name = t.get("name")?.as_str()?;
        let language = t.get("language")?.get("code")?.as_str()?;
        Some((name.to_owned(), language.to_owned()))
    });
    Ok(SendRequest::Message(OutboundMessage {
        recipient,
        kind: kind.to_owned(),
        template,
    }))
}

fn validate_mark_read(root: &Map<String, Value>) -> Result<SendRequest, MetaError> {
    if root.get("status").and_then(Value::as_str) != Some("read") {
        return Err(MetaError::invalid("Param status must be 'read'."));
    }
    let message_id = required_str(root, "message_id", "message_id")?;
    if message_id.trim().is_empty() {
        return Err(MetaError::invalid("Param message_id must not be empty."));
    }
    if let Some(indicator) = root.get("typing_indicator") {
        if indicator.get("type").and_then(Value::as_str) != Some("text") {
            return Err(MetaError::invalid(
                "Param typing_indicator['type'] must be 'text'.",
            ));
        }
    }
    Ok(SendRequest::MarkRead {
        message_id: message_id.to_owned(),
    })
}

fn recipient(root: &Map<String, Value>, business_number: &str) -> Result<Recipient, MetaError> {
    let to = match root.get("to") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(MetaError::invalid("Param to must be a string.")),
    };
    if let Some(input) = to {
        let allowed =
            |c: char| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.');
        let wa_id: String = input.chars().filter(char::is_ascii_digit).collect();
        if !input.chars().all(allowed) || wa_id.is_empty() || wa_id.len() > 15 {
            return Err(MetaError::invalid(
                "Param to must be a phone number: up to 15 digits, optionally with a leading +.",
            ));
        }
        let business: String = business_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if wa_id == business {
            return Err(MetaError::code(
                131021,
                "Sender and recipient phone number is the same.",
            ));
        }
        return Ok(Recipient::Phone { input, wa_id });
    }
    match root.get("recipient") {
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(Recipient::UserId(id.clone())),
        None | Some(Value::Null) => Err(MetaError::missing(
            "The parameter to is required (or recipient for a business-scoped user id).",
        )),
        Some(_) => Err(MetaError::invalid(
            "Param recipient must be a non-empty string.",
        )),
    }
}

fn validate_text(text: &Map<String, Value>) -> Result<(), MetaError> {
    let body = required_str(text, "body", "text['body']")?;
    if body.is_empty() {
        return Err(MetaError::invalid("Param text['body'] must not be empty."));
    }
    max_chars(body, TEXT_BODY_MAX, "text['body']")?;
    if text.get("preview_url").is_some_and(|v| !v.is_boolean()) {
        return Err(MetaError::invalid(
            "Param text['preview_url'] must be a boolean.",
        ));
    }
    Ok(())
}

fn validate_template(template: &Map<String, Value>) -> Result<(), MetaError> {
    let name = required_str(template, "name", "template['name']")?;
    if name.is_empty() {
        return Err(MetaError::invalid(
            "Param template['name'] must not be empty.",
        ));
    }
    let language = required_object(template, "language", "template['language']")?;
    required_str(language, "code", "template['language']['code']")?;
    match template.get("components") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(components)) => {
            for (i, component) in components.iter().enumerate() {
                let path = format!("template['components'][{i}]");
                let component = component.as_object().ok_or_else(|| {
                    MetaError::invalid(format!("Param {path} must be an object."))
                })?;
                required_str(component, "type", &format!("{path}['type']"))?;
                if let Some(params) = component.get("parameters") {
                    if !params.is_array() {
                        return Err(MetaError::invalid(format!(
                            "Param {path}['parameters'] must be an array."
                        )));
                    }
                }
            }
            Ok(())
        }
        Some(_) => Err(MetaError::invalid(
            "Param template['components'] must be an array.",
        )),
    }
}

fn validate_media(kind: &str, media: &Map<String, Value>) -> Result<(), MetaError> {
    let id = optional_str(media, "id", &format!("{kind}['id']"))?;
    let link = optional_str(media, "link", &format!("{kind}['link']"))?;
    match (id, link) {
        (None, None) => {
            return Err(MetaError::missing(format!(
                "The parameter {kind}['id'] or {kind}['link'] is required."
            )))
        }
        (Some(_), Some(_)) => {
            return Err(MetaError::invalid(format!(
                "Param {kind} must have either id or link, not both."
            )))
        }
        (None, Some(link)) if !(link.starts_with("https://") || link.starts_with("http://")) => {
            return Err(MetaError::invalid(format!(
                "Param {kind}['link'] must be an http(s) URL."
            )))
        }
        _ => {}
    }
    if let Some(caption) = optional_str(media, "caption", &format!("{kind}['caption']"))? {
        if matches!(kind, "audio" | "sticker") {
            return Err(MetaError::invalid(format!(
                "Param {kind}['caption'] is not supported for {kind} messages."
            )));
        }
        max_chars(caption, CAPTION_MAX, &format!("{kind}['caption']"))?;
    }
    Ok(())
}

fn validate_interactive(interactive: &Map<String, Value>) -> Result<(), MetaError> {
    let kind = required_str(interactive, "type", "interactive['type']")?;
    let action = required_object(interactive, "action", "interactive['action']")?;
    if let Some(body) = interactive.get("body") {
        let text = body.get("text").and_then(Value::as_str).ok_or_else(|| {
            MetaError::missing("The parameter interactive['body']['text'] is required.")
        })?;
        max_chars(text, 1024, "interactive['body']['text']")?;
    }
    if let Some(footer) = interactive.get("footer") {
        if let Some(text) = footer.get("text").and_then(Value::as_str) {
            max_chars(text, 60, "interactive['footer']['text']")?;
        }
    }
    match kind {
        "button" => {
            if !interactive.contains_key("body") {
                return Err(MetaError::missing(
                    "The parameter interactive['body'] is required.",
                ));
            }
            let buttons = action
                .get("buttons")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    MetaError::missing(
                        "The parameter interactive['action']['buttons'] is required.",
                    )
                })?;
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(MetaError::invalid(
                    "Param interactive['action']['buttons'] must have between 1 and 3 elements.",
                ));
            }
            for (i, button) in buttons.iter().enumerate() {
                let path = format!("interactive['action']['buttons'][{i}]['reply']");
                let reply = button
                    .get("reply")
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        MetaError::missing(format!("The parameter {path} is required."))
                    })?;
                let id = required_str(reply, "id", &format!("{path}['id']"))?;
                max_chars(id, 256, &format!("{path}['id']"))?;
                let title = required_str(reply, "title", &format!("{path}['title']"))?;
                max_chars(title, 20, &format!("{path}['title']"))?;
            }
        }
        "list" => {
            let button = required_str(action, "button", "interactive['action']['button']")?;
            max_chars(button, 20, "interactive['action']['button']")?;
            let sections = action
                .get("sections")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    MetaError::missing(
                        "The parameter interactive['action']['sections'] is required.",
                    )
                })?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(MetaError::invalid(
                    "Param interactive['action']['sections'] must have between 1 and 10 elements.",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn validate_reaction(reaction: &Map<String, Value>) -> Result<(), MetaError> {
    required_str(reaction, "message_id", "reaction['message_id']")?;
    // An empty emoji removes the reaction, so only its presence and type are checked.
    required_str(reaction, "emoji", "reaction['emoji']")?;
    Ok(())
}

fn validate_location(location: &Map<String, Value>) -> Result<(), MetaError> {
    for (key, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
        let path = format!("location['{key}']");
        let value = match location.get(key) {
            None | Some(Value::Null) => {
                return Err(MetaError::missing(format!(
                    "The parameter {path} is required."
                )))
            }
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        if !value.is_some_and(|v| v.is_finite() && v.abs() <= limit) {
            return Err(MetaError::invalid(format!(
                "Param {path} must be a number between -{limit} and {limit}."
            )));
        }
    }
    Ok(())
}

fn validate_contacts(contacts: &[Value]) -> Result<(), MetaError> {
    if contacts.is_empty() {
        return Err(MetaError::invalid("Param contacts must not be empty."));
    }
    for (i, contact) in contacts.iter().enumerate() {
        let path = format!("contacts[{i}]['name']['formatted_name']");
        let formatted = contact
            .get("name")
            .and_then(|n| n.get("formatted_name"))
            .and_then(Value::as_str);
        if formatted.is_none_or(str::is_empty) {
            return Err(MetaError::missing(format!(
                "The parameter {path} is required."
            )));
        }
    }
    Ok(())
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, MetaError> {
    optional_str(object, key, path)?
        .ok_or_else(|| MetaError::missing(format!("The parameter {path} is required.")))
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, MetaError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MetaError::invalid(format!(
            "Param {path} must be a string."
        ))),
    }
}

fn required_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, MetaError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(MetaError::missing(format!(
            "The parameter {path} is required."
        ))),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(MetaError::invalid(format!(
            "Param {path} must be an object."
        ))),
    }
}

fn max_chars(text: &str, max: usize, path: &str) -> Result<(), MetaError> {
    if text.chars().count() > max {
        return Err(MetaError::invalid(format!(
            "Param {path} must be at most {max} characters long."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BUSINESS: &str = "15550783881";

    fn code_of(body: Value) -> Option<u32> {
        validate(&body, BUSINESS).err().map(|e| e.code)
    }

    #[test]
    fn accepts_a_text_message_and_takes_the_digits_as_wa_id() {
        let req = validate(
            &json!({"messaging_product":"whatsapp","to":"+1 (650) 555-1234","type":"text","text":{"body":"hi"}}),
            BUSINESS,
        );
        assert_eq!(
            req.ok(),
            Some(SendRequest::Message(OutboundMessage {
                recipient: Recipient::Phone {
                    input: "+1 (650) 555-1234".into(),
                    wa_id: "16505551234".into()
                },
                kind: "text".into(),
                template: None,
            }))
        );
    }

    #[test]
    fn defaults_type_to_text_like_meta() {
        let req = validate(
            &json!({"messaging_product":"whatsapp","to":"16505551234","text":{"body":"hi"}}),
            BUSINESS,
        );
        assert!(matches!(req, Ok(SendRequest::Message(m)) if m.kind == "text"));
    }

    #[test]
    fn names_missing_parameters_with_131008() {
        assert_eq!(code_of(json!({"to":"1","text":{"body":"x"}})), Some(131008));
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","text":{"body":"x"}})),
            Some(131008)
        );
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","to":"1","type":"image"})),
            Some(131008)
        );
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","to":"1","text":{}})),
            Some(131008)
        );
        assert_eq!(
            code_of(
                json!({"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"x"}})
            ),
            Some(131008)
        );
    }

    #[test]
    fn rejects_wrong_values_with_100() {
        assert_eq!(code_of(json!([])), Some(100));
        assert_eq!(
            code_of(json!({"messaging_product":"sms","to":"1","text":{"body":"x"}})),
            Some(100)
        );
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","to":"1","type":"poll","poll":{}})),
            Some(100)
        );
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","to":"abc","text":{"body":"x"}})),
            Some(100)
        );
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","to":"1","text":"x"})),
            Some(100)
        );
        assert_eq!(
            code_of(
                json!({"messaging_product":"whatsapp","to":"1","text":{"body":"x".repeat(4097)}})
            ),
            Some(100)
        );
    }

    #[test]
    fn counts_the_4096_limit_in_characters_not_bytes() {
        let body = "é".repeat(4096);
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","to":"1","text":{"body":body}})),
            None
        );
    }

    #[test]
    fn answers_mark_as_read_requests() {
        let req = validate(
            &json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.X","typing_indicator":{"type":"text"}}),
            BUSINESS,
        );
        assert_eq!(
            req.ok(),
            Some(SendRequest::MarkRead {
                message_id: "wamid.X".into()
            })
        );
        assert_eq!(
            code_of(json!({"messaging_product":"whatsapp","status":"read"})),
            Some(131008)
        );
    }

    #[test]
    fn sends_to_a_business_scoped_user_id_with_recipient() {
        let req = validate(
            &json!({"messaging_product":"whatsapp","recipient":"US.1349","type":"reaction","reaction":{"message_id":"wamid.X","emoji":""}}),
            BUSINESS,
        );
        assert!(
            matches!(req, Ok(SendRequest::Message(m)) if m.recipient == Recipient::UserId("US.1349".into()))
        );
    }

    #[test]
    fn refuses_to_send_to_the_business_itself() {
        assert_eq!(
            code_of(
                json!({"messaging_product":"whatsapp","to":"+15550783881","text":{"body":"x"}})
            ),
            Some(131021)
        );
    }

    #[test]
    fn checks_interactive_button_limits() {
        let button = |title: &str| json!({"type":"reply","reply":{"id":"a","title":title}});
        let msg = |buttons: Value| {
            json!({"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{
                "type":"button","body":{"text":"pick"},"action":{"buttons":buttons}}})
        };
        assert_eq!(code_of(msg(json!([button("Yes"), button("No")]))), None);
        assert_eq!(
            code_of(msg(json!([
                button("x"),
                button("y"),
                button("z"),
                button("w")
            ]))),
            Some(100)
        );
        assert_eq!(
            code_of(msg(json!([button("a title that is too long")]))),
            Some(100)
        );
    }

    #[test]
    fn checks_media_location_and_contacts() {
        let base = |kind: &str, obj: Value| json!({"messaging_product":"whatsapp","to":"1","type":kind, kind: obj});
        assert_eq!(
            code_of(base(
                "image",
                json!({"link":"https://x/y.png","caption":"c"})
            )),
            None
        );
        assert_eq!(code_of(base("image", json!({"caption":"c"}))), Some(131008));
        assert_eq!(
            code_of(base("location", json!({"latitude":1.5,"longitude":"-20"}))),
            None
        );
        assert_eq!(
            code_of(base("location", json!({"latitude":91,"longitude":0}))),
            Some(100)
        );
        assert_eq!(
            code_of(base("contacts", json!([{"name":{"formatted_name":"A"}}]))),
            None
        );
        assert_eq!(
            code_of(base("contacts", json!([{"name":{}}]))),
            Some(131008)
        );
    }
}
