//! The `contacts[]` block Meta sends beside a message (and in `user_preferences`): who wrote.

use serde::Deserialize;
use shared::lenient;

/// One contact block. Since 2026 `wa_id` is optional (username users arrive with `user_id`
/// alone) and `parent_user_id` spans linked business portfolios.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContactBlock {
    #[serde(default, deserialize_with = "lenient::object")]
    pub profile: Option<Profile>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub parent_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub username: Option<String>,
}

impl ContactBlock {
    pub fn name(&self) -> Option<&str> {
        self.profile.as_ref().and_then(|p| p.name.as_deref())
    }

    pub fn username(&self) -> Option<&str> {
        self.profile.as_ref().and_then(|p| p.username.as_deref())
    }
}
