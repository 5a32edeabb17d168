//! Everything that is not a message or a status: template and quality updates, account updates,
//! errors and fields not known yet are forwarded as typed events with the original value;
//! `user_preferences` stop/resume go to the consent ledger. Calls, the group fields and the
//! coexistence fields (echoes, history, the app's address book) have their own modules; a
//! history the business declined to share is forwarded as `whatsapp.error`.

use serde_json::Map;
use shared::consent::{ConsentAction, ConsentSource, Decision};
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore, TemplateCategoryRecord, Write};

use crate::contact::Resolved;
use crate::payload::change::{ChangeKind, ChangeValue};
use crate::payload::preferences::UserPreferences;
use crate::{digest, ProcessError, State, UpdateContext};

/// A change other than `messages`, by its typed kind.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &ChangeValue,
) -> Result<Applied, ProcessError> {
    match &value.kind {
        ChangeKind::UserPreferences(prefs) if !prefs.user_preferences.is_empty() => {
            preferences(state, ctx, update, prefs).await
        }
        ChangeKind::Calls(calls) if !calls.is_empty() => {
            crate::call::process(state, ctx, update, calls).await
        }
        ChangeKind::UserIdUpdate(ids) if !ids.user_id_update.is_empty() => {
            crate::user_id::process(state, ctx, update, ids).await
        }
        ChangeKind::MessageEchoes(echoes) if !echoes.echoes.is_empty() => {
            crate::echo::process(state, ctx, update, echoes).await
        }
        ChangeKind::History(history) if history.messages().next().is_some() => {
            let applied = crate::history::process(state, ctx, update, history).await?;
            if history.chunks.iter().all(|c| c.errors.is_empty()) {
                return Ok(applied);
            }
            // A chunk with errors beside the messages: the CRM hears of those too.
            forward(state, ctx, update, value, EventType::WhatsappError).await
        }
        ChangeKind::History(history) if history.is_declined() => {
            forward(state, ctx, update, value, EventType::WhatsappError).await
        }
        ChangeKind::StateSync(sync) if !sync.entries.is_empty() => {
            crate::state_sync::process(state, ctx, update, sync).await
        }
        ChangeKind::Groups(groups) => crate::group::process(state, ctx, update, groups).await,
        ChangeKind::TemplateCategory(t) if t.change(0).is_some() => {
            forward(
                state,
                ctx,
                update,
                value,
                EventType::TemplateCategoryChanged,
            )
            .await
        }
        _ => {
            forward(
                state,
                ctx,
                update,
                value,
                EventType::for_field(&update.field),
            )
            .await
        }
    }
}

/// Forwards the update's value as one event of `event_type`.
/// After a field's readable entries were applied (`last`): if some could not be read, the whole
/// change goes to the CRM once more, raw, as `whatsapp.unknown`, so nothing Meta sent is lost.
pub(crate) async fn forward_if_unread<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    unread: bool,
    last: Applied,
) -> Result<Applied, ProcessError> {
    if !unread {
        return Ok(last);
    }
    forward(
        state,
        ctx,
        update,
        &Default::default(),
        EventType::WhatsappUnknown,
    )
    .await
}

pub(crate) async fn forward<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &ChangeValue,
    event_type: EventType,
) -> Result<Applied, ProcessError> {
    let key = format!(
        "change:{}",
        digest(&[&update.field, &update.waba_id, update.update.get()])
    );
    let mut data = Map::new();
    data.insert("field".into(), update.field.as_ref().into());
    data.extend(value.summary.clone());
    let occurred_at = meta_time(update.entry_time, ctx.received_at, "change");
    if let ChangeKind::TemplateCategory(t) = &value.kind {
        if let Some(c) = t.change(occurred_at) {
            data.insert("previous_category".into(), c.previous_category.into());
            data.insert("new_category".into(), c.new_category.into());
            data.insert("impending".into(), c.impending.into());
            data.insert(
                "effective_at".into(),
                c.effective_at.map(events::rfc3339).into(),
            );
        }
    }
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
        writes: template_category(&value.kind, occurred_at)
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
    kind: &ChangeKind,
    occurred_at: i64,
) -> Option<TemplateCategoryRecord> {
    let (name, language, category) = match kind {
        ChangeKind::TemplateStatus(t) => (
            t.message_template_name.as_ref()?,
            t.message_template_language.as_ref()?,
            t.message_template_category.as_ref()?,
        ),
        ChangeKind::TemplateCategory(t) if t.previous_category.is_some() => (
            t.message_template_name.as_ref()?,
            t.message_template_language.as_ref()?,
            t.new_category.as_ref()?,
        ),
        _ => return None,
    };
    Some(TemplateCategoryRecord {
        name: name.clone(),
        language: language.clone(),
        category: category.to_ascii_lowercase(),
        updated_at: occurred_at,
    })
}

/// `user_preferences`: each marketing stop/resume becomes a ledger entry and an event.
pub(crate) async fn preferences<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    prefs: &UserPreferences,
) -> Result<Applied, ProcessError> {
    let base = digest(&[&update.waba_id, update.update.get()]);
    let mut last = Applied::Nothing;
    for (index, pref) in prefs.user_preferences.iter().enumerate() {
        let contact = prefs.contact_of(pref);
        let identity = Identity::new(
            pref.wa_id.as_deref(),
            pref.user_id
                .as_deref()
                .or_else(|| contact.and_then(|c| c.user_id.as_deref())),
        );
        let name = contact.and_then(|c| c.name());
        let action = match pref.value.as_deref() {
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
            occurred_at: meta_time(pref.timestamp, ctx.received_at, "user_preferences"),
            trigger_wamid: None,
            trigger: pref.category.clone().or_else(|| pref.detail.clone()),
            update_key: key.clone(),
        };
        last = outbox::apply_once(&state.store, &state.events, &key, || {
            plan_preference(state, ctx, &identity, name, &decision)
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
    let Some(mut resolved) = Resolved::find(
        &state.store,
        &ctx.business,
        identity,
        name,
        ctx.now_ms,
        &ctx.retention,
    )
    .await?
    else {
        tracing::warn!("user preference names no wa_id or user_id; skipped");
        return Ok(None);
    };
    let (entry, effective) = decision.apply(&mut resolved.record, 0, ctx.now_ms, &ctx.retention);
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
    use crate::payload::change::ChangeValue;

    fn learned(field: &str, json: &str) -> Option<shared::store::TemplateCategoryRecord> {
        template_category(&ChangeValue::parse(field, json).kind, 7)
    }

    #[test]
    fn learns_a_category_from_a_status_update_and_a_completed_category_change() {
        let status = r#"{"event": "APPROVED", "message_template_name": "promo", "message_template_language": "pt_BR", "message_template_category": "MARKETING"}"#;
        let learned_status = learned("message_template_status_update", status).unwrap();
        assert_eq!(
            (
                learned_status.name.as_str(),
                learned_status.language.as_str(),
                learned_status.category.as_str()
            ),
            ("promo", "pt_BR", "marketing")
        );
        let changed = r#"{"message_template_name": "aviso", "message_template_language": "es", "previous_category": "UTILITY", "new_category": "MARKETING"}"#;
        assert_eq!(
            learned("template_category_update", changed)
                .unwrap()
                .category,
            "marketing"
        );
    }

    #[test]
    fn ignores_impending_changes_and_changes_without_a_category() {
        let impending = r#"{"message_template_name": "aviso", "message_template_language": "es", "correct_category": "MARKETING", "new_category": "UTILITY"}"#;
        assert!(learned("template_category_update", impending).is_none());
        let no_category = r#"{"event": "APPROVED", "message_template_name": "x", "message_template_language": "en"}"#;
        assert!(learned("message_template_status_update", no_category).is_none());
        assert!(learned("account_update", "{}").is_none());
    }
}
