//! A person's business-scoped user id changes (`system` `user_changed_user_id` or
//! `user_changed_number`, and the `user_id_update` field): the same contact moves to the new id
//! — aliases re-pointed in the transaction that records the event — so its conversation, window
//! and consent follow. Meta may report one change both ways: the second report finds the contact
//! already moved and emits nothing.

use serde_json::{Map, Value};
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::identity::{Identity, UserId, WaId};
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore, StoreError};

use crate::contact::Resolved;
use crate::payload::system::IdentityChange;
use crate::payload::user_id_update::{UserIdUpdate, UserIdUpdates};
use crate::{digest, ProcessError, State, UpdateContext};

/// The contact a change is about: found by the old identity (`identity`: the number and user id
/// the notice came from), else by the new user id (already moved by an earlier report), else a
/// new contact under the new identity.
pub(crate) async fn resolve<S: ProcessorStore>(
    store: &S,
    business: &str,
    identity: &Identity,
    change: &IdentityChange,
    name: Option<&str>,
    now_ms: i64,
    retention: &shared::retention::Retention,
) -> Result<Option<Resolved>, StoreError> {
    let Some(new) = &change.new_user_id else {
        return Resolved::find(store, business, identity, name, now_ms, retention).await;
    };
    let before = Identity {
        wa_id: identity.wa_id.clone(),
        user_id: identity.user_id.clone().or(change.previous_user_id.clone()),
    };
    if !before.is_empty() {
        if let Some(found) =
            Resolved::find(store, business, &before, name, now_ms, retention).await?
        {
            if !found.is_new() {
                return Ok(Some(found));
            }
        }
    }
    let after = Identity {
        wa_id: identity.wa_id.clone(),
        user_id: Some(new.clone()),
    };
    Resolved::find(store, business, &after, name, now_ms, retention).await
}

/// Applies a `system` notice's change to `r` and returns the events it causes:
/// `contact.number_changed` when the number moved, `contact.user_id_changed` when the user id
/// did (a number change carries both). `old_wa` and `old_user_id` are the message's `from` and
/// `from_user_id`.
pub(crate) fn apply_notice(
    r: &mut Resolved,
    change: &IdentityChange,
    old_wa: Option<&WaId>,
    old_user_id: Option<&UserId>,
    wamid: &str,
) -> Vec<(EventType, Map<String, Value>)> {
    let mut out = Vec::new();
    if let Some(new) = &change.new_wa_id {
        if r.record.wa_id.as_deref() != Some(new.as_str()) {
            let before = r.record.to_ref();
            r.change_number(old_wa, new);
            let mut data = Map::new();
            data.insert("previous_wa_id".into(), before.wa_id.into());
            data.insert("previous_phone".into(), before.phone.into());
            data.insert("wa_id".into(), r.record.wa_id.clone().into());
            data.insert("phone".into(), r.record.phone.clone().into());
            data.insert("wamid".into(), wamid.into());
            out.push((EventType::ContactNumberChanged, data));
        }
    }
    if let Some(new) = &change.new_user_id {
        let old: Vec<&UserId> = old_user_id
            .into_iter()
            .chain(change.previous_user_id.as_ref())
            .collect();
        let wamid = (!wamid.is_empty()).then_some(wamid);
        out.extend(move_user_id(
            r,
            &old,
            new,
            change.new_parent_user_id.as_ref(),
            wamid,
        ));
    }
    out
}

/// Moves `r` to `new` and describes it as `contact.user_id_changed`, unless it is there
/// already (a second report of the same change).
fn move_user_id(
    r: &mut Resolved,
    old: &[&UserId],
    new: &UserId,
    new_parent: Option<&UserId>,
    wamid: Option<&str>,
) -> Option<(EventType, Map<String, Value>)> {
    let stored = r.stored().cloned();
    let before_user_id = stored.as_ref().and_then(|s| s.user_id.clone());
    if before_user_id.as_deref() == Some(new.as_str()) {
        // Already moved; the parent id may still be news.
        r.learn(new_parent.map(UserId::as_str), None);
        return None;
    }
    let previous_user_id = before_user_id.or_else(|| old.first().map(|u| u.as_str().to_owned()));
    let previous_parent = stored.and_then(|s| s.parent_user_id);
    r.change_user_id(old, new, new_parent);
    let mut data = Map::new();
    data.insert("previous_user_id".into(), previous_user_id.into());
    data.insert("user_id".into(), new.as_str().into());
    data.insert("previous_parent_user_id".into(), previous_parent.into());
    data.insert(
        "parent_user_id".into(),
        r.record.parent_user_id.clone().into(),
    );
    data.insert("wamid".into(), wamid.into());
    Some((EventType::ContactUserIdChanged, data))
}

/// `user_id_update`: each entry moves one person, once (the entry's key is its dedup marker).
/// If an entry names no usable current user id, the change is also forwarded once, raw, as
/// `whatsapp.unknown`, so the CRM still sees what Meta sent.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &UserIdUpdates,
) -> Result<Applied, ProcessError> {
    let base = digest(&[&update.waba_id, update.update.get()]);
    let mut last = Applied::Nothing;
    let mut unknown = 0usize;
    for (index, entry) in value.user_id_update.iter().enumerate() {
        let Some(new) = current_user_id(entry) else {
            unknown += 1;
            tracing::warn!(
                "user_id_update entry names no current user id; forwarded as whatsapp.unknown"
            );
            continue;
        };
        let key = format!("user-id:{base}:{index}");
        last = outbox::apply_once(&state.store, &state.events, &key, || {
            plan(state, ctx, value, entry, &new, &key)
        })
        .await?;
    }
    crate::change::forward_if_unread(state, ctx, update, unknown > 0, last).await
}

fn current_user_id(entry: &UserIdUpdate) -> Option<UserId> {
    let current = entry.user_id.as_ref()?.current.as_deref()?;
    UserId::parse(current)
}

async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    value: &UserIdUpdates,
    entry: &UserIdUpdate,
    new: &UserId,
    key: &str,
) -> Result<Option<Commit>, ProcessError> {
    let ids = entry.user_id.as_ref();
    let previous = ids
        .and_then(|i| i.previous.as_deref())
        .and_then(UserId::parse);
    let parent = entry.parent_user_id.as_ref();
    let change = IdentityChange {
        new_wa_id: None,
        new_parent_user_id: parent
            .and_then(|p| p.current.as_deref())
            .and_then(UserId::parse),
        previous_user_id: previous.clone(),
        new_user_id: Some(new.clone()),
    };
    let contact = value.contact_of(entry);
    let identity = Identity::new(entry.wa_id.as_deref(), None);
    let Some(mut resolved) = resolve(
        &state.store,
        &ctx.business,
        &identity,
        &change,
        contact.and_then(|c| c.name()),
        ctx.now_ms,
        &ctx.retention,
    )
    .await?
    else {
        return Ok(None);
    };
    resolved.learn(None, contact.and_then(|c| c.username()));
    let old: Vec<&UserId> = previous.iter().collect();
    let moved = move_user_id(
        &mut resolved,
        &old,
        new,
        change.new_parent_user_id.as_ref(),
        None,
    );
    let Some((event_type, data)) = moved else {
        tracing::info!("user id already current; nothing to change");
        return Ok(None);
    };
    let occurred_at = meta_time(entry.timestamp, ctx.received_at, "user_id_update");
    let event = ctx.source(key).event(
        event_type,
        0,
        occurred_at,
        Some(resolved.record.to_ref()),
        events::data(data)?,
    )?;
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes: resolved.writes(ctx.now_ms),
    }))
}
