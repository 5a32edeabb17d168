//! Change fields other than `messages`: the value is parsed once; the fields the bridge acts on
//! (template status and category updates, `user_preferences`, `calls`, `user_id_update`, the
//! coexistence fields `smb_message_echoes`, `history` and `smb_app_state_sync`, the group
//! fields) are read into their typed model, and a summary of scalar fields is kept for the CRM
//! events every field gets.

use serde::Deserialize;
use serde_json::{Map, Value};
use shared::lenient;

use super::call::CallsValue;
use super::echo::EchoesValue;
use super::group::{GroupField, GroupsValue};
use super::history::HistoryValue;
use super::preferences::UserPreferences;
use super::state_sync::StateSyncValue;
use super::user_id_update::UserIdUpdates;
use super::Metadata;

/// Top-level fields copied into an event's `data` when present, so the CRM need not dig into
/// `original`.
const SUMMARY_FIELDS: [&str; 14] = [
    "event",
    "message_template_id",
    "message_template_name",
    "message_template_language",
    "message_template_category",
    "reason",
    "previous_quality_score",
    "new_quality_score",
    "display_phone_number",
    "phone_number",
    "current_limit",
    "code",
    "title",
    "message",
];

/// One change value as read once.
#[derive(Debug, Clone, Default)]
pub struct ChangeValue {
    pub metadata: Option<Metadata>,
    /// The [`SUMMARY_FIELDS`] present with a scalar value, as Meta sent them.
    pub summary: Map<String, Value>,
    pub kind: ChangeKind,
}

/// The typed part of a change, by its `field`.
#[derive(Debug, Clone, Default)]
pub enum ChangeKind {
    TemplateStatus(TemplateStatusUpdate),
    TemplateCategory(TemplateCategoryUpdate),
    UserPreferences(UserPreferences),
    Calls(CallsValue),
    UserIdUpdate(UserIdUpdates),
    MessageEchoes(EchoesValue),
    History(HistoryValue),
    StateSync(StateSyncValue),
    Groups(GroupsValue),
    #[default]
    Other,
}

impl ChangeValue {
    pub fn parse(field: &str, json: &str) -> Self {
        let value: Value = serde_json::from_str(json).unwrap_or_default();
        let summary = SUMMARY_FIELDS
            .iter()
            .filter_map(|f| {
                let v = value.get(*f).filter(|v| !v.is_object() && !v.is_array())?;
                Some(((*f).to_owned(), v.clone()))
            })
            .collect();
        let metadata = value
            .get("metadata")
            .filter(|m| m.is_object())
            .and_then(|m| Metadata::deserialize(m).ok());
        // Serde would fill a struct from a list by position: only an object is read.
        let typed = |v: &Value| -> Option<ChangeKind> {
            if !v.is_object() {
                return None;
            }
            Some(match field {
                "message_template_status_update" => {
                    ChangeKind::TemplateStatus(TemplateStatusUpdate::deserialize(v).ok()?)
                }
                "template_category_update" => {
                    ChangeKind::TemplateCategory(TemplateCategoryUpdate::deserialize(v).ok()?)
                }
                "user_preferences" => {
                    ChangeKind::UserPreferences(UserPreferences::deserialize(v).ok()?)
                }
                "calls" => ChangeKind::Calls(CallsValue::from_value(v)),
                "user_id_update" => ChangeKind::UserIdUpdate(UserIdUpdates::deserialize(v).ok()?),
                "smb_message_echoes" => ChangeKind::MessageEchoes(EchoesValue::from_value(v)),
                "history" => ChangeKind::History(HistoryValue::from_value(v)),
                "smb_app_state_sync" => ChangeKind::StateSync(StateSyncValue::from_value(v)),
                f => ChangeKind::Groups(GroupsValue::from_value(GroupField::parse(f)?, v)),
            })
        };
        Self {
            kind: typed(&value).unwrap_or_default(),
            metadata,
            summary,
        }
    }
}

/// `message_template_status_update`: APPROVED, REJECTED, PAUSED, … with the template's
/// category when Meta includes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplateStatusUpdate {
    #[serde(default, deserialize_with = "lenient::text")]
    pub event: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_language: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_category: Option<String>,
}

/// `template_category_update`: a completed recategorisation carries `previous_category` and
/// `new_category`; an impending one `correct_category` (and no `previous_category`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplateCategoryUpdate {
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub message_template_language: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub previous_category: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub new_category: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub correct_category: Option<String>,
    /// When an impending change takes effect (Unix seconds), when Meta says.
    #[serde(default, deserialize_with = "lenient::int")]
    pub category_update_timestamp: Option<i64>,
}

/// A recategorisation as the CRM hears of it: categories in lower case (as `pricing` has them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryChange {
    pub previous_category: Option<String>,
    pub new_category: String,
    /// `false`: done (Meta's webhook time); `true`: announced for `effective_at`.
    pub impending: bool,
    /// Unix seconds, when Meta says (an impending change without a date has none).
    pub effective_at: Option<i64>,
}

impl TemplateCategoryUpdate {
    /// The change this update reports, given the webhook's time (`None` for a shape that says
    /// neither a done nor an impending change).
    pub fn change(&self, webhook_time: i64) -> Option<CategoryChange> {
        let lower = |c: &String| c.to_ascii_lowercase();
        if self.previous_category.is_some() {
            return Some(CategoryChange {
                previous_category: self.previous_category.as_ref().map(lower),
                new_category: self.new_category.as_ref().map(lower)?,
                impending: false,
                effective_at: Some(webhook_time),
            });
        }
        Some(CategoryChange {
            // Until it takes effect the template keeps the category it has now.
            previous_category: self.new_category.as_ref().map(lower),
            new_category: self.correct_category.as_ref().map(lower)?,
            impending: true,
            effective_at: self
                .category_update_timestamp
                .filter(|t| *t >= shared::delivery::EARLIEST_META_TIME),
        })
    }
}
