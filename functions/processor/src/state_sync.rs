//! `smb_app_state_sync`: a contact added to (or edited in) or removed from the WhatsApp
//! Business app's address book becomes one `contact.synced` with the app's names. The names
//! are the business's own labels: they go to the CRM in the event and never into a log line,
//! and they do not replace the WhatsApp profile name the contact record keeps. An addition
//! creates the contact when it is new; a removal never creates one.

use serde_json::Map;
use shared::delivery::meta_time;
use shared::events::{self, EventType};
use shared::identity::Identity;
use shared::inbound::BufferedUpdate;
use shared::outbox::{self, Applied};
use shared::queue::MessageSink;
use shared::store::{Commit, ProcessorStore};
use shared::telemetry::mask_phone;

use crate::contact::Resolved;
use crate::payload::state_sync::{StateSyncValue, SyncAction, SyncedContact};
use crate::{digest, ProcessError, State, UpdateContext};

/// Each contact change once; entries of another kind (or without a number or a known action)
/// make the change also forwarded raw, once, as `whatsapp.unknown`.
pub(crate) async fn process<S: ProcessorStore, Q: MessageSink>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    update: &BufferedUpdate<'_>,
    value: &StateSyncValue,
) -> Result<Applied, ProcessError> {
    let mut last = Applied::Nothing;
    let mut unknown = 0usize;
    for entry in &value.entries {
        let Some((action, contact, number)) = entry.typed.contact_change() else {
            unknown += 1;
            tracing::warn!(
                kind = ?entry.typed.kind.as_deref().map(shared::redact::vocabulary),
                action = ?entry.typed.action.as_deref().map(shared::redact::vocabulary),
                "state sync entry not a known contact change; forwarded as whatsapp.unknown"
            );
            continue;
        };
        let key = format!(
            "sync:{}",
            digest(&[&ctx.business, &update.waba_id, entry.raw.get()])
        );
        let synced = Synced {
            key: &key,
            action,
            contact,
            identity: Identity::new(Some(number), None),
            occurred_at: meta_time(entry.typed.timestamp(), ctx.received_at, "state sync"),
            raw: &entry.raw,
        };
        last = outbox::apply_once(&state.store, &state.events, &key, || {
            plan(state, ctx, &synced)
        })
        .await?;
    }
    crate::change::forward_if_unread(state, ctx, update, unknown > 0, last).await
}

struct Synced<'a> {
    key: &'a str,
    action: SyncAction,
    contact: &'a SyncedContact,
    identity: Identity,
    occurred_at: i64,
    raw: &'a serde_json::value::RawValue,
}

async fn plan<S: ProcessorStore, Q>(
    state: &State<S, Q>,
    ctx: &UpdateContext,
    s: &Synced<'_>,
) -> Result<Option<Commit>, ProcessError> {
    let resolved = Resolved::find(
        &state.store,
        &ctx.business,
        &s.identity,
        None,
        ctx.now_ms,
        &ctx.retention,
    )
    .await?;
    let writes = match &resolved {
        Some(r) if s.action == SyncAction::Add || !r.is_new() => r.writes(ctx.now_ms),
        _ => Vec::new(),
    };
    tracing::info!(
        contact = %s.identity.wa_id.as_ref().map(|w| mask_phone(w.as_str())).unwrap_or_default(),
        action = s.action.as_str(),
        "address book change planned"
    );
    let mut data = Map::new();
    data.insert("action".into(), s.action.as_str().into());
    data.insert("phone_number".into(), s.contact.phone_number.clone().into());
    data.insert("full_name".into(), s.contact.full_name.clone().into());
    data.insert("first_name".into(), s.contact.first_name.clone().into());
    // A removal of a contact never stored names no stored contact: the event says so.
    let contact = resolved
        .as_ref()
        .filter(|r| s.action == SyncAction::Add || !r.is_new())
        .map(|r| r.record.to_ref());
    let event = ctx.source(s.key).event(
        EventType::ContactSynced,
        0,
        s.occurred_at,
        contact,
        events::data_with_original(data, s.raw)?,
    )?;
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            s.key,
            vec![event],
            ctx.now_ms,
            ctx.marker_ttl(),
        )),
        writes,
    }))
}
