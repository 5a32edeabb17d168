//! The Groups API's fields: `group_lifecycle_update` (a group created or deleted),
//! `group_participants_update` (joins, join requests, removals, leaves),
//! `group_settings_update` (subject, description, picture) and `group_status_update` (a group
//! suspended or cleared). Each value carries `groups[]`, one entry per group change, with Meta's
//! `type` (`group_create`, `group_participants_remove`, `group_suspend`, …), the `group_id`, a
//! `timestamp`, the `request_id` of the business's asynchronous call when it made one, and
//! `errors[]` when that call failed in whole or in part.

use serde::Deserialize;
use serde_json::Value;
use shared::delivery::{meta_errors, MetaError};
use shared::lenient;

use super::{items, Item};

/// The four group fields, as Meta names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Lifecycle,
    Participants,
    Settings,
    Status,
}

impl GroupField {
    pub fn parse(field: &str) -> Option<Self> {
        Some(match field {
            "group_lifecycle_update" => Self::Lifecycle,
            "group_participants_update" => Self::Participants,
            "group_settings_update" => Self::Settings,
            "group_status_update" => Self::Status,
            _ => return None,
        })
    }
}

/// The value of a group field: its entries, typed and as Meta sent them.
#[derive(Debug, Clone)]
pub struct GroupsValue {
    pub field: GroupField,
    pub groups: Vec<Item<GroupChange>>,
}

impl GroupsValue {
    /// Reads a group field's value; entries that are not objects are left out.
    pub fn from_value(field: GroupField, value: &Value) -> Self {
        Self {
            field,
            groups: items(value, "groups"),
        }
    }
}

/// One entry of `groups[]`. Fields are optional: which ones Meta sends depends on the `type`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupChange {
    #[serde(default, deserialize_with = "lenient::text")]
    pub group_id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub request_id: Option<String>,
    /// Lifecycle and settings: the group's subject and description.
    #[serde(default, deserialize_with = "lenient::text")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub description: Option<String>,
    /// Lifecycle: the invite link of a created group, and whether joining needs approval.
    #[serde(default, deserialize_with = "lenient::text")]
    pub invite_link: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub join_approval_mode: Option<String>,
    /// Participants: why (`invite_link`, …), who started it, and the join request's id.
    #[serde(default, deserialize_with = "lenient::text")]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub initiated_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub join_request_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub added_participants: Vec<Participant>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub removed_participants: Vec<Participant>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub failed_participants: Vec<Participant>,
    #[serde(default, deserialize_with = "meta_errors")]
    pub errors: Vec<MetaError>,
}

/// A participant named in a participants change: a number and (since 2026) a business-scoped
/// user id; a failed one carries its own `errors[]`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Participant {
    #[serde(default, deserialize_with = "lenient::text")]
    pub wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "meta_errors", skip_serializing)]
    pub errors: Vec<MetaError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(field: &str, json: &str) -> GroupsValue {
        let field = GroupField::parse(field).unwrap();
        GroupsValue::from_value(field, &serde_json::from_str(json).unwrap())
    }

    #[test]
    fn reads_a_created_group_and_a_removal_that_partly_failed() {
        let created = parse(
            "group_lifecycle_update",
            r#"{"groups":[{"timestamp":"1749416383","group_id":"Y2FwaV9ncm91cDox","type":"group_create",
                "request_id":"req-1","subject":"Pedidos","invite_link":"https://chat.whatsapp.com/X",
                "join_approval_mode":"auto_approve"}]}"#,
        );
        let g = &created.groups[0].typed;
        assert_eq!(g.group_id.as_deref(), Some("Y2FwaV9ncm91cDox"));
        assert_eq!(g.kind.as_deref(), Some("group_create"));
        assert_eq!(g.timestamp, Some(1_749_416_383));
        assert_eq!(
            g.invite_link.as_deref(),
            Some("https://chat.whatsapp.com/X")
        );

        let removal = parse(
            "group_participants_update",
            r#"{"groups":[{"group_id":"G","type":"group_participants_remove","request_id":"r",
                "removed_participants":[{"wa_id":"5511987650001"}],
                "failed_participants":[{"wa_id":"5511987650002","errors":[{"code":131203,"title":"t"}]}],
                "errors":[{"code":131210,"title":"partial"}]}]}"#,
        );
        let g = &removal.groups[0].typed;
        assert_eq!(
            g.removed_participants[0].wa_id.as_deref(),
            Some("5511987650001")
        );
        assert_eq!(g.failed_participants[0].errors[0].code, Some(131_203));
        assert_eq!(g.errors[0].code, Some(131_210));
    }

    #[test]
    fn odd_entries_and_fields_leave_the_rest() {
        let v = parse(
            "group_status_update",
            r#"{"groups":["not an object", {"group_id":7,"type":"group_suspend","timestamp":"soon",
                "added_participants":"nobody","errors":"none"}]}"#,
        );
        assert_eq!(v.groups.len(), 1);
        let g = &v.groups[0].typed;
        assert_eq!(g.group_id.as_deref(), Some("7"));
        assert_eq!(g.kind.as_deref(), Some("group_suspend"));
        assert_eq!(g.timestamp, None);
        assert!(g.added_participants.is_empty() && g.errors.is_empty());
        assert!(GroupField::parse("groups").is_none());
    }
}
