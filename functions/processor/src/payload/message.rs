//! One element of `value.messages[]`: the fields every message has, and its typed content.

use serde::Deserialize;
use serde_json::Value;
use shared::delivery::{meta_errors, MetaError};
use shared::lenient;

use super::content::{Button, Context, Interactive, Location, Media, Order, Reaction, Text};
use super::system::System;

/// An inbound message. Since 2026 `from` is omitted for username users (`from_user_id` is
/// there instead); `group_id` marks a group chat.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Message {
    #[serde(default, deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub from_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub from_parent_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text", rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub text: Option<Text>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub image: Option<Media>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub video: Option<Media>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub audio: Option<Media>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub document: Option<Media>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub sticker: Option<Media>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub location: Option<Location>,
    /// Shared contact cards, passed on as Meta sent them.
    #[serde(default, deserialize_with = "lenient::values")]
    pub contacts: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub interactive: Option<Interactive>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub button: Option<Button>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub reaction: Option<Reaction>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub order: Option<Order>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub system: Option<System>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub context: Option<Context>,
    /// A click-to-WhatsApp ad's referral, passed on as Meta sent it.
    #[serde(default, deserialize_with = "lenient::json_object")]
    pub referral: Option<Value>,
    #[serde(default, deserialize_with = "meta_errors")]
    pub errors: Vec<MetaError>,
}

impl Message {
    /// The media object of a media `kind` (`image`, `video`, `audio`, `document`, `sticker`).
    pub fn media(&self, kind: &str) -> Option<&Media> {
        match kind {
            "image" => self.image.as_ref(),
            "video" => self.video.as_ref(),
            "audio" => self.audio.as_ref(),
            "document" => self.document.as_ref(),
            "sticker" => self.sticker.as_ref(),
            _ => None,
        }
    }

    pub fn text_body(&self) -> Option<&str> {
        self.text.as_ref().and_then(|t| t.body.as_deref())
    }
}
