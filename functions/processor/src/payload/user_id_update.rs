//! `user_id_update`: a person's business-scoped user id (and parent id) changed, reported as a
//! field of its own (the same change also arrives as a `system` `user_changed_user_id` message).

use serde::Deserialize;
use shared::lenient;

use super::contact::ContactBlock;

/// `{contacts: [{profile, wa_id?}], user_id_update: [{wa_id?, detail, user_id: {previous,
/// current}, parent_user_id?: {previous, current}, timestamp}]}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserIdUpdates {
    #[serde(default, deserialize_with = "lenient::list")]
    pub user_id_update: Vec<UserIdUpdate>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub contacts: Vec<ContactBlock>,
}

/// One person's change. `wa_id` is left out for people whose number Meta may not share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserIdUpdate {
    #[serde(default, deserialize_with = "lenient::text")]
    pub wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub detail: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub user_id: Option<IdPair>,
    /// Only for businesses with parent user ids enabled.
    #[serde(default, deserialize_with = "lenient::object")]
    pub parent_user_id: Option<IdPair>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
}

/// `{previous, current}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdPair {
    #[serde(default, deserialize_with = "lenient::text")]
    pub previous: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub current: Option<String>,
}

impl UserIdUpdates {
    /// The contact block of an update: same `wa_id`, when it has one; else the only block.
    pub fn contact_of(&self, update: &UserIdUpdate) -> Option<&ContactBlock> {
        match &update.wa_id {
            Some(wa) => self.contacts.iter().find(|c| c.wa_id.as_ref() == Some(wa)),
            None if self.contacts.len() == 1 && self.user_id_update.len() == 1 => {
                self.contacts.first()
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meta_s_shape_and_tolerates_odd_fields() {
        let v: UserIdUpdates = lenient::parse(
            r#"{"contacts":[{"profile":{"name":"Ana"},"wa_id":"5511987654321"}],
                "user_id_update":[{"wa_id":"5511987654321","detail":"User id for Ana has been updated.",
                  "user_id":{"previous":"BR.1","current":"BR.2"},
                  "parent_user_id":{"previous":"BR.ENT.1","current":"BR.ENT.2"},"timestamp":"1749416383"},
                  {"user_id":"not an object","timestamp":[]}]}"#,
        );
        assert_eq!(v.user_id_update.len(), 2);
        let first = &v.user_id_update[0];
        let ids = first.user_id.as_ref().unwrap();
        assert_eq!(ids.previous.as_deref(), Some("BR.1"));
        assert_eq!(ids.current.as_deref(), Some("BR.2"));
        assert_eq!(
            first.parent_user_id.as_ref().unwrap().current.as_deref(),
            Some("BR.ENT.2")
        );
        assert_eq!(first.timestamp, Some(1_749_416_383));
        assert_eq!(v.contact_of(first).and_then(|c| c.name()), Some("Ana"));
        assert!(v.user_id_update[1].user_id.is_none());
    }
}
