//! `smb_app_state_sync`: the WhatsApp Business app's address book on a coexistence number.
//! Each `state_sync[]` entry is `{type: "contact", contact{full_name, first_name,
//! phone_number}, action: "add" | "remove", metadata{timestamp}}`; `add` also stands for an
//! edit, and a removal carries no names.

use serde::Deserialize;
use serde_json::Value;
use shared::lenient;

use super::{items, Item};

/// The value of a `smb_app_state_sync` change.
#[derive(Debug, Clone, Default)]
pub struct StateSyncValue {
    pub entries: Vec<Item<StateSync>>,
}

/// One `state_sync[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StateSync {
    /// `contact` (the only type Meta documents).
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub contact: Option<SyncedContact>,
    /// `add` (added or edited) or `remove`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub action: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub metadata: Option<SyncMetadata>,
}

/// A contact as the business's address book has it (names are personal data: events only).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SyncedContact {
    #[serde(default, deserialize_with = "lenient::text")]
    pub full_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub first_name: Option<String>,
    /// The contact's WhatsApp number.
    #[serde(default, deserialize_with = "lenient::text")]
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SyncMetadata {
    #[serde(default, deserialize_with = "lenient::int")]
    pub timestamp: Option<i64>,
}

/// What happened to a contact in the app's address book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    /// Added or edited.
    Add,
    Remove,
}

impl SyncAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
        }
    }
}

impl StateSyncValue {
    /// Reads a `smb_app_state_sync` value; entries that are not objects are left out.
    pub fn from_value(value: &Value) -> Self {
        Self {
            entries: items(value, "state_sync"),
        }
    }
}

impl StateSync {
    /// A contact entry with a known action and a number; `None` for anything else.
    pub fn contact_change(&self) -> Option<(SyncAction, &SyncedContact, &str)> {
        if self.kind.as_deref().is_some_and(|k| k != "contact") {
            return None;
        }
        let action = match self.action.as_deref()? {
            "add" => SyncAction::Add,
            "remove" => SyncAction::Remove,
            _ => return None,
        };
        let contact = self.contact.as_ref()?;
        Some((action, contact, contact.phone_number.as_deref()?))
    }

    pub fn timestamp(&self) -> Option<i64> {
        self.metadata.as_ref().and_then(|m| m.timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(json: &str) -> StateSyncValue {
        StateSyncValue::from_value(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn reads_additions_and_removals_as_meta_documents_them() {
        let v = sync(
            r#"{"messaging_product":"whatsapp","state_sync":[
              {"type":"contact","contact":{"full_name":"Pablo Morales","first_name":"Pablo","phone_number":"16505551234"},"action":"add","metadata":{"timestamp":"1739321024"}},
              {"type":"contact","contact":{"phone_number":"16505551235"},"action":"remove","metadata":{"timestamp":1739321025}}]}"#,
        );
        let (action, contact, number) = v.entries[0].typed.contact_change().unwrap();
        assert_eq!(action, SyncAction::Add);
        assert_eq!(contact.full_name.as_deref(), Some("Pablo Morales"));
        assert_eq!(contact.first_name.as_deref(), Some("Pablo"));
        assert_eq!(number, "16505551234");
        assert_eq!(v.entries[0].typed.timestamp(), Some(1_739_321_024));
        let (action, contact, _) = v.entries[1].typed.contact_change().unwrap();
        assert_eq!(action, SyncAction::Remove);
        assert_eq!(contact.full_name, None);
        assert_eq!(v.entries[1].typed.timestamp(), Some(1_739_321_025));
    }

    #[test]
    fn entries_of_another_type_or_action_or_without_a_number_are_not_contact_changes() {
        let v = sync(
            r#"{"state_sync":[
              {"type":"label","action":"add"},
              {"type":"contact","contact":{"phone_number":"1"},"action":"archive"},
              {"type":"contact","contact":{"full_name":"X"},"action":"add"},
              {"type":"contact","action":"add"},
              3]}"#,
        );
        assert_eq!(v.entries.len(), 4);
        assert!(v.entries.iter().all(|e| e.typed.contact_change().is_none()));
    }
}
