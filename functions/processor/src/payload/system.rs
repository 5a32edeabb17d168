//! `system` messages: Meta's notices about the customer (a number or user id change), not words
//! the customer wrote. They carry no `contacts` block; the message's `from` / `from_user_id`
//! name the person as they were before the change.

use serde::Deserialize;
use shared::identity::{UserId, WaId};
use shared::lenient;

/// `user_changed_number`: the new number in `wa_id` (`new_wa_id` in older payloads), and since
/// 2026 the new business-scoped user id in `user_id` (a number change issues a new one);
/// `user_changed_user_id`: the new user id in `user_id` (`parent_user_id` the new parent id),
/// `body` "User <name> changed from <old id> to <new id>".
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

    pub fn is_user_id_change(&self) -> bool {
        self.kind.as_deref() == Some("user_changed_user_id")
    }

    /// The identity change this notice announces, `None` for other system types (or one that
    /// names nothing new).
    pub fn identity_change(&self) -> Option<IdentityChange> {
        let new_user_id = self
            .user_id
            .as_deref()
            .or(self.new_user_id.as_deref())
            .and_then(UserId::parse);
        let change = if self.is_number_change() {
            IdentityChange {
                new_wa_id: self.new_number().and_then(WaId::parse),
                new_user_id,
                new_parent_user_id: self.parent_user_id.as_deref().and_then(UserId::parse),
                previous_user_id: None,
            }
        } else if self.is_user_id_change() {
            IdentityChange {
                // Meta leaves the number out of a user id change; one sent anyway is the
                // person's number now.
                new_wa_id: self.new_number().and_then(WaId::parse),
                previous_user_id: self.previous_user_id_in_body(new_user_id.as_ref()),
                new_user_id,
                new_parent_user_id: self.parent_user_id.as_deref().and_then(UserId::parse),
            }
        } else {
            return None;
        };
        (change.new_wa_id.is_some() || change.new_user_id.is_some()).then_some(change)
    }

    /// The old id in Meta's "… changed from <old> to <new>", when `<new>` is the new user id
    /// (the message's `from_user_id` is preferred; this serves a notice without one).
    fn previous_user_id_in_body(&self, new: Option<&UserId>) -> Option<UserId> {
        let (_, rest) = self.body.as_deref()?.rsplit_once(" changed from ")?;
        let (old, to) = rest.split_once(" to ")?;
        let to = UserId::parse(to.trim_end_matches('.'))?;
        if Some(&to) != new || WaId::parse(old).is_some() {
            return None;
        }
        UserId::parse(old)
    }
}

/// What a `system` notice moves the contact to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityChange {
    pub new_wa_id: Option<WaId>,
    pub new_user_id: Option<UserId>,
    pub new_parent_user_id: Option<UserId>,
    /// The user id before, when the notice says it (see [`System::identity_change`]).
    pub previous_user_id: Option<UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(json: &str) -> System {
        lenient::parse(json)
    }

    #[test]
    fn a_user_id_change_names_the_new_id_its_parent_and_the_old_id_from_the_body() {
        let s = system(
            r#"{"body":"User Ana changed from BR.111 to BR.222","user_id":"BR.222","parent_user_id":"BR.ENT.9","type":"user_changed_user_id"}"#,
        );
        let change = s.identity_change().unwrap();
        assert_eq!(change.new_user_id, UserId::parse("BR.222"));
        assert_eq!(change.new_parent_user_id, UserId::parse("BR.ENT.9"));
        assert_eq!(change.previous_user_id, UserId::parse("BR.111"));
        assert_eq!(change.new_wa_id, None);
    }

    #[test]
    fn a_body_that_does_not_end_in_the_new_id_gives_no_previous_id() {
        let s = system(
            r#"{"body":"User Ana changed from BR.111 to BR.333","user_id":"BR.222","type":"user_changed_user_id"}"#,
        );
        assert_eq!(s.identity_change().unwrap().previous_user_id, None);
        let phones = system(
            r#"{"body":"User Ana changed from 5511987654321 to BR.222","user_id":"BR.222","type":"user_changed_user_id"}"#,
        );
        assert_eq!(phones.identity_change().unwrap().previous_user_id, None);
    }

    #[test]
    fn a_number_change_carries_the_new_user_id_too() {
        let s = system(
            r#"{"body":"User A changed from 5511987654321 to 5511976543210","wa_id":"5511976543210","user_id":"BR.222","type":"user_changed_number"}"#,
        );
        let change = s.identity_change().unwrap();
        assert_eq!(change.new_wa_id, WaId::parse("5511976543210"));
        assert_eq!(change.new_user_id, UserId::parse("BR.222"));
        assert_eq!(change.previous_user_id, None);
    }

    #[test]
    fn other_system_types_and_notices_naming_nothing_new_change_nothing() {
        assert!(
            system(r#"{"type":"customer_identity_changed","user_id":"BR.1"}"#)
                .identity_change()
                .is_none()
        );
        assert!(system(r#"{"type":"user_changed_user_id","user_id":"a#b"}"#)
            .identity_change()
            .is_none());
        assert!(system(r#"{"type":"user_changed_number","wa_id":12}"#)
            .identity_change()
            .is_none());
    }
}
