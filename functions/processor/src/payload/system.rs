//! `system` messages: Meta's notices about the customer (a number or user id change), not words
//! the customer wrote.

use serde::Deserialize;
use shared::lenient;

/// `user_changed_number`: the new number in `wa_id` (`new_wa_id` in older payloads);
/// `user_changed_user_id`: the new business-scoped user id.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct System {
    #[serde(default, deserialize_with = "lenient::text", rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub new_wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub new_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub parent_user_id: Option<String>,
}

impl System {
    /// The customer's new number, whichever field carries it.
    pub fn new_number(&self) -> Option<&str> {
        self.wa_id.as_deref().or(self.new_wa_id.as_deref())
    }

    pub fn is_number_change(&self) -> bool {
        self.kind.as_deref() == Some("user_changed_number")
    }
}
