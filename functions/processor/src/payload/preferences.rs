//! `user_preferences`: a customer chose to stop or resume marketing messages in WhatsApp.

use serde::Deserialize;
use shared::lenient;

use super::contact::ContactBlock;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserPreferences {
    #[serde(default, deserialize_with = "lenient::list")]
    pub user_preferences: Vec<Preference>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub contacts: Vec<ContactBlock>,
}

/// `{wa_id, user_id?, category: "marketing_messages", value: "stop" | "resume", timestamp}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Preference {
    #[serde(default, deserialize_with = "lenient::text")]
    pub wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub detail: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
}

impl UserPreferences {
    /// The contact block of a preference: same `wa_id`, or same `user_id`.
    pub fn contact_of(&self, pref: &Preference) -> Option<&ContactBlock> {
        self.contacts.iter().find(|c| {
            pref.wa_id.is_some() && c.wa_id == pref.wa_id
                || pref.user_id.is_some() && c.user_id == pref.user_id
        })
    }
}
