//! The type-specific part of an inbound message (`text`, media, `location`, `interactive`,
//! `button`, `reaction`, `order`) and its `context`, each a lenient typed model.

use serde::Deserialize;
use serde_json::Value;
use shared::lenient;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Text {
    #[serde(default, deserialize_with = "lenient::text")]
    pub body: Option<String>,
}

/// `image`, `video`, `audio`, `document`, `sticker`: `filename` is a document's, `voice` an
/// audio's, `animated` a sticker's.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Media {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub mime_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub sha256: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub caption: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub filename: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub voice: Option<bool>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub animated: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Location {
    #[serde(default, deserialize_with = "lenient::float")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::float")]
    pub longitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub address: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub url: Option<String>,
}

/// A reply to an interactive message: the reply object sits under the key its `type` names.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Interactive {
    #[serde(default, deserialize_with = "lenient::text", rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub button_reply: Option<Reply>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub list_reply: Option<Reply>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub nfm_reply: Option<Reply>,
    /// Reply kinds Meta may add: read as a [`Reply`] when their name is the `type`.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

impl Interactive {
    /// The reply object the `type` names.
    pub fn reply(&self) -> Option<Reply> {
        match self.kind.as_deref()? {
            "button_reply" => self.button_reply.clone(),
            "list_reply" => self.list_reply.clone(),
            "nfm_reply" => self.nfm_reply.clone(),
            other => {
                let reply = self.other.get(other).filter(|r| r.is_object())?;
                Reply::deserialize(reply).ok()
            }
        }
    }
}

/// `button_reply {id, title}`, `list_reply {id, title, description}`, `nfm_reply {response_json,
/// body, name}` (a Flow's answer, `response_json` a JSON string).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reply {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::any")]
    pub response_json: Option<Value>,
}

impl Reply {
    /// A Flow's answer parsed for the CRM; kept as sent when it is not a JSON string.
    pub fn response(&self) -> Value {
        match &self.response_json {
            Some(Value::String(text)) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            Some(other) => other.clone(),
            None => Value::Null,
        }
    }
}

/// A tap on a template's quick reply.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Button {
    #[serde(default, deserialize_with = "lenient::text")]
    pub payload: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub text: Option<String>,
}

/// An empty or missing `emoji` is a reaction removed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reaction {
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Order {
    #[serde(default, deserialize_with = "lenient::text")]
    pub catalog_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub text: Option<String>,
    /// Passed on as Meta sent them.
    #[serde(default, deserialize_with = "lenient::values")]
    pub product_items: Vec<Value>,
}

/// `context`: a reply (`from`, `id`), a forward flag, or a product enquiry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Context {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub forwarded: Option<bool>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub frequently_forwarded: Option<bool>,
    #[serde(default, deserialize_with = "lenient::json_object")]
    pub referred_product: Option<Value>,
}
