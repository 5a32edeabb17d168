//! Everything that is not a message or a status: template and quality updates, account updates,
//! errors and fields not known yet are forwarded as typed events with the original value;
//! `user_preferences` stop/resume go to the consent ledger.

use serde_json::{Map, Value};
use shared::consent::{ConsentAction, ConsentSource, Decision};
use shared::delivery::{as_i64, meta_time};
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore, TemplateCategoryRecord, Write};

use crate::contact::Resolved;
use crate::message::str_at;
use crate::{digest, ProcessError, State, UpdateContext};

/// Top-level fields copied into `data` when present, so the CRM need not dig into `original`.
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

/// Forwards the update's value as one event of `event_type`.
pub(crate) async fn forward<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    event_type: EventType,
) -> Result<Applied, ProcessError> {
    let key = format!(
        "change:{}",
        digest(&[&update.field, &update.waba_id, update.update.get()])
    );
    let value: Value = serde_json::from_str(update.update.get()).unwrap_or_default();
    let mut data = Map::new();
    data.insert("field".into(), update.field.as_ref().into());
    for f in SUMMARY_FIELDS {
        if let Some(v) = value.get(f).filter(|v| !v.is_object() && !v.is_array()) {
            data.insert(f.into(), v.clone());
        }
    }
    let occurred_at = meta_time(update.entry_time, ctx.received_at, "change");
    let event = ctx.source(&key).event(
        event_type,
        0,
        occurred_at,
        None,
        events::data_with_original(data, update.update)?,
    )?;
    let commit = Commit {
        outbox: Some(outbox::outbox(
            &key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes: template_category(&update.field, &value, occurred_at)
            .map(Write::TemplateCategory)
            .into_iter()
            .collect(),
    };
    outbox::apply_once(&state.store, &state.events, &key, || {
        let commit = commit.clone();
        async move { Ok::<_, ProcessError>(Some(commit)) }
    })
    .await
}

/// A template's category when the change reports one: `message_template_status_update` with
/// `message_template_category`, or a completed `template_category_update` (`previous_category`
/// and `new_category`; an impending change, with `correct_category`, is not recorded yet).
pub(crate) fn template_category(
    field: &str,
    value: &Value,
    occurred_at: i64,
) -> Option<TemplateCategoryRecord> {
    let text = |k: &str| value.get(k).and_then(Value::as_str);
    let category = match field {
        "message_template_status_update" => text("message_template_category")?,
        "template_category_update" if value.get("previous_category").is_some() => {
            text("new_category")?
        }
        _ => return None,
    };
    Some(TemplateCategoryRecord {
        name: text("message_template_name")?.to_owned(),
        language: text("message_template_language")?.to_owned(),
        category: category.to_ascii_lowercase(),
        updated_at: occurred_at,
    })
}

/// `user_preferences`: each marketing stop/resume becomes a ledger entry and an event.
pub(crate) async fn preferences<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
) -> Result<Applied, ProcessError> {
    let value: Value = serde_json::from_str(update.update.get()).unwrap_or_default();
    let prefs = value
        .get("user_preferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if prefs.is_empty() {
        return forward(state, ctx, update, EventType::WhatsappUnknown).await;
    }
    let contacts = value
        .get("contacts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let base = digest(&[&update.waba_id, update.update.get()]);
    let mut last = Applied::Nothing;
    for (index, pref) in prefs.iter().enumerate() {
        let wa_id = str_at(pref, &["wa_id"]);
        let contact = contacts.iter().find(|c| {
            wa_id.is_some() && str_at(c, &["wa_id"]) == wa_id
                || str_at(pref, &["user_id"]).is_some()
                    && str_at(c, &["user_id"]) == str_at(pref, &["user_id"])
        });
        let identity = Identity::new(
            wa_id.as_deref(),
            str_at(pref, &["user_id"])
                .or_else(|| contact.and_then(|c| str_at(c, &["user_id"])))
                .as_deref(),
        );
        let name = contact.and_then(|c| str_at(c, &["profile", "name"]));
        let action = match str_at(pref, &["value"]).as_deref() {
            Some("stop") => ConsentAction::OptOut,
            Some("resume") => ConsentAction::OptIn,
            other => {
                let value = other.map(shared::redact::vocabulary);
                tracing::warn!(value = ?value, "user preference value not known; skipped");
                continue;
            }
        };
        let key = format!("prefs:{base}:{index}");
        let decision = Decision {
            action,
            source: ConsentSource::UserPreferences,
            occurred_at: meta_time(
                pref.get("timestamp").and_then(as_i64),
                ctx.received_at,
                "user_preferences",
            ),
            trigger_wamid: None,
            trigger: str_at(pref, &["category"]).or_else(|| str_at(pref, &["detail"])),
            update_key: key.clone(),
        };
        last = outbox::apply_once(&state.store, &state.events, &key, || {
            plan_preference(state, ctx, &identity, name.as_deref(), &decision)
        })
        .await?;
    }
    Ok(last)
}

async fn plan_preference<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    identity: &Identity,
    name: Option<&str>,
    decision: &Decision,
) -> Result<Option<Commit>, ProcessError> {
    let Some(mut resolved) =
        Resolved::find(&state.store, &ctx.business, identity, name, ctx.now_ms).await?
    else {
        tracing::warn!("user preference names no wa_id or user_id; skipped");
        return Ok(None);
    };
    let (entry, effective) = decision.apply(&mut resolved.record, 0, ctx.now_ms);
    let mut writes = vec![Write::Consent(entry)];
    writes.extend(resolved.writes(ctx.now_ms));
    let event = ctx.source(&decision.update_key).event(
        decision.event_type(),
        0,
        decision.occurred_at,
        Some(resolved.record.to_ref()),
        events::data(decision.event_data(effective))?,
    )?;
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            &decision.update_key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes,
    }))
}

#[cfg(test)]
mod tests {
    use super::template_category;
    use serde_json::json;

    #[test]
    fn learns_a_category_from_a_status_update_and_a_completed_category_change() {
        let status = json!({"event": "APPROVED", "message_template_name": "promo", "message_template_language": "pt_BR", "message_template_category": "MARKETING"});
        let learned = template_category("message_template_status_update", &status, 7).unwrap();
        assert_eq!(
            (
                learned.name.as_str(),
                learned.language.as_str(),
                learned.category.as_str()
            ),
            ("promo", "pt_BR", "marketing")
        );
        let changed = json!({"message_template_name": "aviso", "message_template_language": "es", "previous_category": "UTILITY", "new_category": "MARKETING"});
        assert_eq!(
            template_category("template_category_update", &changed, 7)
                .unwrap()
                .category,
            "marketing"
        );
    }

    #[test]
    fn ignores_impending_changes_and_changes_without_a_category() {
        let impending = json!({"message_template_name": "aviso", "message_template_language": "es", "correct_category": "MARKETING", "new_category": "UTILITY"});
        assert!(template_category("template_category_update", &impending, 7).is_none());
        let no_category = json!({"event": "APPROVED", "message_template_name": "x", "message_template_language": "en"});
        assert!(template_category("message_template_status_update", &no_category, 7).is_none());
        assert!(template_category("account_update", &json!({}), 7).is_none());
    }
}
