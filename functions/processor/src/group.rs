//! The Groups API's fields: each `groups[]` entry of `group_lifecycle_update`,
//! `group_participants_update`, `group_settings_update` and `group_status_update` becomes one
//! CRM event named after its field (`group.lifecycle_update`, …), with Meta's `type`, the group
//! id, the business's `request_id` and the errors normalised, and Meta's entry in `original`.
//! Group changes touch no contact, window or consent: they are about the group, and the
//! business number's FIFO group orders them.

use serde_json::{Map, Value};
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore};

use crate::payload::group::{GroupChange, GroupField, GroupsValue, Participant};
use crate::payload::Item;
use crate::{digest, ProcessError, State, UpdateContext};

impl GroupField {
    pub(crate) fn event_type(self) -> EventType {
        match self {
            Self::Lifecycle => EventType::GroupLifecycleUpdate,
            Self::Participants => EventType::GroupParticipantsUpdate,
            Self::Settings => EventType::GroupSettingsUpdate,
            Self::Status => EventType::GroupStatusUpdate,
        }
    }
}

/// One event per entry that names a group and a type; if any entry does not, the change is
/// also forwarded once, raw, as `whatsapp.unknown`, so the CRM still sees what Meta sent.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &GroupsValue,
) -> Result<Applied, ProcessError> {
    let mut last = Applied::Nothing;
    let mut unknown = value.groups.is_empty();
    for (index, item) in value.groups.iter().enumerate() {
        let Some(data) = data(value.field, &item.typed) else {
            unknown = true;
            tracing::warn!(
                field = %update.field,
                "group change without a group id or a type; forwarded as whatsapp.unknown"
            );
            continue;
        };
        // Meta sends no id per change: the entry's own bytes (and its place) key it, so a
        // redelivered webhook gives the same key and the outbox makes it one event.
        let key = format!(
            "group:{}",
            digest(&[
                &update.field,
                &ctx.business,
                &index.to_string(),
                item.raw.get()
            ])
        );
        // Each entry has its own `timestamp`; the webhook's `entry[].time` stands in without one.
        let at = item.typed.timestamp.or(update.entry_time);
        let occurred_at = meta_time(at, ctx.received_at, "group change");
        last = outbox::apply_once(&state.store, &state.events, &key, || {
            plan(ctx, value.field, item, &key, occurred_at, data.clone())
        })
        .await?;
    }
    crate::change::forward_if_unread(state, ctx, update, unknown, last).await
}

async fn plan(
    ctx: &UpdateContext,
    field: GroupField,
    item: &Item<GroupChange>,
    key: &str,
    occurred_at: i64,
    data: Map<String, Value>,
) -> Result<Option<Commit>, ProcessError> {
    let event = ctx.source(key).event(
        field.event_type(),
        0,
        occurred_at,
        None,
        events::data_with_original(data, &item.raw)?,
    )?;
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes: Vec::new(),
    }))
}

/// The normalised fields of a group event (see `schemas/events/group.*.json`); `None` for an
/// entry without a group id or a type.
fn data(field: GroupField, g: &GroupChange) -> Option<Map<String, Value>> {
    let mut d = Map::new();
    d.insert("group_id".into(), g.group_id.clone()?.into());
    d.insert("type".into(), g.kind.clone()?.into());
    d.insert("request_id".into(), g.request_id.clone().into());
    d.insert("succeeded".into(), g.errors.is_empty().into());
    d.insert(
        "errors".into(),
        serde_json::to_value(&g.errors).unwrap_or_default(),
    );
    match field {
        GroupField::Lifecycle => {
            d.insert("subject".into(), g.subject.clone().into());
            d.insert("description".into(), g.description.clone().into());
            d.insert("invite_link".into(), g.invite_link.clone().into());
            d.insert(
                "join_approval_mode".into(),
                g.join_approval_mode.clone().into(),
            );
        }
        GroupField::Participants => {
            d.insert("reason".into(), g.reason.clone().into());
            d.insert("initiated_by".into(), g.initiated_by.clone().into());
            d.insert("join_request_id".into(), g.join_request_id.clone().into());
            d.insert("added".into(), participants(&g.added_participants));
            d.insert("removed".into(), participants(&g.removed_participants));
            d.insert("failed".into(), participants(&g.failed_participants));
        }
        GroupField::Settings => {
            d.insert("subject".into(), g.subject.clone().into());
            d.insert("description".into(), g.description.clone().into());
        }
        GroupField::Status => {
            let suspended = match g.kind.as_deref() {
                Some("group_suspend") => Some(true),
                Some("group_suspend_cleared") => Some(false),
                _ => None,
            };
            d.insert("suspended".into(), suspended.into());
        }
    }
    Some(d)
}

/// Participants as the CRM reads them: `wa_id`, `user_id` and the `errors` of a failed one.
fn participants(list: &[Participant]) -> Value {
    list.iter()
        .map(|p| {
            serde_json::json!({
                "wa_id": p.wa_id,
                "user_id": p.user_id,
                "errors": serde_json::to_value(&p.errors).unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::group::GroupsValue;

    fn first(field: &str, json: &str) -> Option<Map<String, Value>> {
        let f = GroupField::parse(field).unwrap();
        let v = GroupsValue::from_value(f, &serde_json::from_str(json).unwrap());
        data(f, &v.groups[0].typed)
    }

    #[test]
    fn a_suspension_and_its_clearing_say_suspended() {
        let on = first(
            "group_status_update",
            r#"{"groups":[{"group_id":"G","type":"group_suspend","timestamp":"1749416383"}]}"#,
        )
        .unwrap();
        assert_eq!(on["suspended"], true);
        assert_eq!(on["succeeded"], true);
        let off = first(
            "group_status_update",
            r#"{"groups":[{"group_id":"G","type":"group_suspend_cleared"}]}"#,
        )
        .unwrap();
        assert_eq!(off["suspended"], false);
    }

    #[test]
    fn a_failed_removal_lists_who_failed_and_why() {
        let d = first(
            "group_participants_update",
            r#"{"groups":[{"group_id":"G","type":"group_participants_remove","request_id":"r1",
                "removed_participants":[{"wa_id":"5511987650001"}],
                "failed_participants":[{"wa_id":"5511987650002","errors":[{"code":131203,"title":"t"}]}],
                "errors":[{"code":131210,"title":"partial"}]}]}"#,
        )
        .unwrap();
        assert_eq!(d["succeeded"], false);
        assert_eq!(d["request_id"], "r1");
        assert_eq!(d["removed"][0]["wa_id"], "5511987650001");
        assert_eq!(d["failed"][0]["errors"][0]["code"], 131_203);
        assert_eq!(d["errors"][0]["code"], 131_210);
        assert_eq!(d["added"], serde_json::json!([]));
    }

    #[test]
    fn an_entry_without_a_group_id_or_a_type_has_no_event_data() {
        assert!(first(
            "group_lifecycle_update",
            r#"{"groups":[{"type":"group_create"}]}"#
        )
        .is_none());
        assert!(first("group_settings_update", r#"{"groups":[{"group_id":"G"}]}"#).is_none());
    }
}
