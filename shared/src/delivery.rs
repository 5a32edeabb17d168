//! Delivery statuses of outbound messages: applied monotonically, parked when early, forwarded
//! to the CRM once.
//!
//! sent < delivered < read < played; `failed` is terminal. A status that would not move a message
//! forward changes nothing and emits nothing. A status for a message the sender has not stored yet
//! is parked under the message's partition (only while the message is absent, checked in the same
//! transaction) and applied when the message appears: by [`apply_parked`], which the sender calls
//! after storing a wamid, and by the next status the processor sees for it. A status still parked
//! after `EXTERNAL_STATUS_PARK_SECONDS` is of a message the bridge did not send: [`external`]
//! forwards it (`origin: "external"`, `command_id: null`) and keeps that message's status, so its
//! later statuses apply at once. Every status event is keyed `status:<wamid>:<status>`, whoever
//! emits it, so a status is forwarded once even when the sender's store and the wait race. A
//! parked status is removed only after its event is published, never in the event's own commit:
//! a publish that fails leaves it parked and due, and the next apply (or the release) publishes
//! the committed event instead of losing it. Most statuses only move the bridge's own message
//! forward: those skip the outbox transaction ([`direct`]).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::consent::{ConsentAction, ConsentSource, Decision};
use crate::events::{self, EventSource, EventType, PendingEvent};
use crate::identity::Identity;
use crate::outbox::{self, Applied, OutboxError};
use crate::queue::MessageSink;
use crate::store::{
    keys, Commit, Direction, Expect, MessageRecord, MessageState, ParkedStatus, ProcessorStore,
    StoreError, Versioned, Write,
};

mod direct;
pub mod external;
mod payload;

pub use crate::lenient::as_i64;
pub use payload::{meta_errors, MetaPricing, MetaStatus};

/// Error code: more than 24 h since the customer last wrote (the window is closed).
pub const WINDOW_CLOSED: i64 = 131_047;
/// Error code: the user stopped marketing messages.
pub const MARKETING_OPT_OUT: i64 = 131_050;

/// An outbound message's delivery status. Ordered as declared, which is rank order (the
/// unpublished statuses of a message are kept in it, `crate::store::unpublished`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
        }
    }

    /// Order in which statuses may follow each other; `failed` outranks everything.
    pub fn rank(self) -> u8 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Played => 4,
            Self::Failed => 9,
        }
    }

    /// Whether `next` moves a message currently at `current` forward.
    pub fn advances(current: Option<Self>, next: Self) -> bool {
        match current {
            None => true,
            Some(Self::Failed) => false,
            Some(c) => next.rank() > c.rank(),
        }
    }
}

/// One error attached to a failed status (or a message), as the CRM receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaError {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
}

impl MetaError {
    /// Reads Meta's `errors[]` leniently: odd shapes give empty fields, never a failure.
    pub fn list(errors: Option<&Value>) -> Vec<Self> {
        errors.and_then(|e| meta_errors(e).ok()).unwrap_or_default()
    }
}

/// A status update from Meta.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub wamid: String,
    pub status: DeliveryStatus,
    /// Unix seconds.
    pub timestamp: i64,
    pub recipient_id: Option<String>,
    pub recipient_user_id: Option<String>,
    pub errors: Vec<MetaError>,
    /// The rest of Meta's status, typed (pricing, conversation, callback data).
    pub meta: MetaStatus,
    /// Meta's status object as received.
    pub raw: Box<RawValue>,
}

/// Why a status cannot be applied as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusParseError {
    #[error("status is not a JSON object")]
    NotObject,
    #[error("status has no message id")]
    NoId,
    /// The value as [`crate::redact::vocabulary`] shows it: it comes from the webhook body.
    #[error("status value {0:?} is not one we know")]
    UnknownStatus(String),
}

impl StatusUpdate {
    /// Parses Meta's status object; the timestamp passes [`meta_time`] against `received_at`
    /// (seconds).
    pub fn parse(raw: &RawValue, received_at: i64) -> Result<Self, StatusParseError> {
        let value: Value =
            serde_json::from_str(raw.get()).map_err(|_| StatusParseError::NotObject)?;
        if !value.is_object() {
            return Err(StatusParseError::NotObject);
        }
        let mut meta = MetaStatus::deserialize(value).map_err(|_| StatusParseError::NotObject)?;
        let wamid = meta.id.take().ok_or(StatusParseError::NoId)?;
        let status_text = meta.status.take().unwrap_or_default();
        let status = DeliveryStatus::parse(&status_text).ok_or_else(|| {
            StatusParseError::UnknownStatus(crate::redact::vocabulary(&status_text))
        })?;
        Ok(Self {
            wamid,
            status,
            timestamp: meta_time(meta.timestamp, received_at, "status"),
            recipient_id: meta.recipient_id.clone(),
            recipient_user_id: meta.recipient_user_id.clone(),
            errors: std::mem::take(&mut meta.errors),
            meta,
            raw: raw.to_owned(),
        })
    }

    fn from_parked(p: &ParkedStatus) -> Option<Self> {
        let raw = RawValue::from_string(p.raw.clone()).ok()?;
        let mut parsed = Self::parse(&raw, p.timestamp).ok()?;
        parsed.status = p.status;
        Some(parsed)
    }

    /// The dedup key of this status.
    pub fn update_key(&self) -> String {
        format!("status:{}:{}", self.wamid, self.status.as_str())
    }

    /// The group a status is about (`recipient_type: group`: Meta's `recipient_id` is then the
    /// group id, not a person).
    pub fn group_id(&self) -> Option<&str> {
        let group = self.meta.recipient_type.as_deref() == Some("group");
        group.then_some(self.recipient_id.as_deref()).flatten()
    }

    fn has_error(&self, code: i64) -> bool {
        self.errors.iter().any(|e| e.code == Some(code))
    }
}

/// Where statuses are applied and how long parked ones are kept.
#[derive(Debug, Clone)]
pub struct StatusContext {
    /// The business number (`phone_number_id`) the status came through.
    pub business: String,
    pub waba_id: Option<String>,
    pub now_ms: i64,
    /// Lifetimes: parked statuses, `EXTERNAL` records and outbox items live
    /// [`crate::retention::Retention::marker_ttl`] (`RETENTION_DAYS`, at least 8 days); a contact and conversation
    /// a status changes are stamped anew.
    pub retention: crate::retention::Retention,
}

/// How a status is applied when its message is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Just arrived from Meta: park it, due for [`external`] forwarding `park_secs` from now.
    Arrived { park_secs: i64 },
    /// Parked earlier, now being applied because its message appeared: wait if it has not.
    Parked,
    /// Parked for the whole wait: the message is not the bridge's; forward it as external
    /// (the caller unparks it once the event is published).
    Released,
}

/// How long a status waits for its message by default (`EXTERNAL_STATUS_PARK_SECONDS`).
pub const EXTERNAL_STATUS_PARK: std::time::Duration = std::time::Duration::from_secs(300);

/// Applies one status (parking it if its message is not stored yet, for
/// [`EXTERNAL_STATUS_PARK`]), then any statuses parked for the same message. Returns what
/// happened to `update` itself.
pub async fn apply_status<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    update: &StatusUpdate,
) -> Result<Applied, OutboxError> {
    apply_status_parking(store, sink, ctx, update, EXTERNAL_STATUS_PARK).await
}

/// [`apply_status`] with the wait before a parked status is forwarded as one of a message the
/// bridge did not send (the processor's `EXTERNAL_STATUS_PARK_SECONDS`).
pub async fn apply_status_parking<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    update: &StatusUpdate,
    park: std::time::Duration,
) -> Result<Applied, OutboxError> {
    let park_secs = i64::try_from(park.as_secs()).unwrap_or(i64::MAX);
    let applied = apply_one(store, sink, ctx, update, Mode::Arrived { park_secs }).await?;
    apply_parked(store, sink, ctx, &update.wamid).await?;
    Ok(applied)
}

/// Applies every status parked for `wamid`, lowest rank first. The sender calls this right after
/// storing an outbound message; it is a no-op when nothing is parked.
pub async fn apply_parked<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    wamid: &str,
) -> Result<usize, OutboxError> {
    let state = store.load_message(wamid).await?;
    if state.message.is_none() && state.external.is_none() {
        return Ok(0);
    }
    let mut parked = state.parked;
    parked.sort_by_key(|p| p.status.rank());
    let mut applied = 0;
    let mut done = Vec::new();
    for p in &parked {
        let Some(update) = StatusUpdate::from_parked(p) else {
            tracing::error!(
                wamid,
                status = p.status.as_str(),
                "parked status is unreadable; left in place"
            );
            continue;
        };
        let ctx = StatusContext {
            business: p.business.clone(),
            ..ctx.clone()
        };
        if !matches!(
            apply_one(store, sink, &ctx, &update, Mode::Parked).await?,
            Applied::Nothing
        ) {
            applied += 1;
        }
        done.push(p.status);
    }
    // One write for all: a failure before this point leaves them all parked, and the next
    // apply republishes whatever is unpublished and removes them then.
    unpark(store, wamid, &done).await?;
    Ok(applied)
}

/// Removes parked statuses once their events are published (or there was none to send). Until
/// then each stays parked and due: whoever applies it next (the sender's retry, the next status for
/// the message, the schedule's release) finds the committed outbox and publishes it, with its
/// original `event_id`. Removed by someone else first: nothing left to do.
async fn unpark<S: ProcessorStore>(
    store: &S,
    wamid: &str,
    statuses: &[DeliveryStatus],
) -> Result<(), OutboxError> {
    if statuses.is_empty() {
        return Ok(());
    }
    let writes = statuses
        .iter()
        .map(|status| Write::Unpark {
            wamid: wamid.to_owned(),
            status: *status,
        })
        .collect();
    // A conflict means one was removed by another run meanwhile: those left are removed by
    // the next apply, which finds their events published.
    store
        .commit(Commit {
            outbox: None,
            writes,
        })
        .await?;
    Ok(())
}

/// Applies one status: directly when it only moves the bridge's message forward ([`direct`]),
/// else through the outbox transaction, which starts from the message as read here.
async fn apply_one<S: ProcessorStore, Q: MessageSink>(
    store: &S,
    sink: &Q,
    ctx: &StatusContext,
    update: &StatusUpdate,
    mode: Mode,
) -> Result<Applied, OutboxError> {
    let key = update.update_key();
    for attempt in 0..outbox::ATTEMPTS {
        outbox::backoff(attempt).await;
        let state = store.load_message(&update.wamid).await?;
        match direct::route(&state, update) {
            direct::Route::Direct(message) => {
                match direct::apply(store, sink, ctx, update, &key, message).await? {
                    Some(applied) => return Ok(applied),
                    None => continue, // another status moved the message: read it again
                }
            }
            direct::Route::Republish(message, previous) => {
                return direct::republish(
                    store,
                    sink,
                    ctx,
                    update,
                    &key,
                    &message.record,
                    previous,
                )
                .await;
            }
            // The earlier status is usually being published right now: read again shortly
            // (about a second in all); a crashed one is published by its own redelivery.
            direct::Route::Wait if attempt + 1 < outbox::ATTEMPTS => continue,
            direct::Route::Wait => return Err(OutboxError::Waiting),
            direct::Route::Transaction => {
                let mut read = Some(state);
                return outbox::apply_once(store, sink, &key, || {
                    plan(store, ctx, update, &key, mode, read.take())
                })
                .await;
            }
        }
    }
    Err(OutboxError::Contended { update_key: key })
}

/// The contact a status is about: the sender records it; otherwise it is found (read-only) by
/// recipient (a group's status names the group: no contact).
async fn contact_id_of<S: ProcessorStore>(
    store: &S,
    message: &MessageRecord,
    update: &StatusUpdate,
) -> Result<Option<String>, StoreError> {
    Ok(match &message.contact_id {
        Some(id) => Some(id.clone()),
        None if update.meta.recipient_type.as_deref() == Some("group") => None,
        None => {
            let who = Identity::new(
                update.recipient_id.as_deref(),
                update.recipient_user_id.as_deref(),
            );
            store
                .find_aliases(&message.business, &who.alias_keys())
                .await?
                .first()
                .map(|a| a.contact_id.clone())
        }
    })
}

fn event_source(ctx: &StatusContext, key: &str, message: &MessageRecord) -> EventSource {
    EventSource {
        update_key: key.to_owned(),
        phone_number_id: Some(message.business.clone()),
        waba_id: ctx.waba_id.clone(),
    }
}

/// The `message.status` event of `update` on `message`, which stood at `previous`: the same
/// `event_id` (and content) however often it is built from the same update.
fn status_event(
    source: &EventSource,
    update: &StatusUpdate,
    message: &MessageRecord,
    previous: Option<DeliveryStatus>,
    origin: &str,
    contact: Option<crate::events::ContactRef>,
) -> Result<PendingEvent, serde_json::Error> {
    source.event(
        EventType::MessageStatus,
        0,
        update.timestamp,
        contact,
        events::data_with_original(status_data(update, message, previous, origin), &update.raw)?,
    )
}

/// The event of a status on the bridge's own message, its contact read from the table.
async fn bridge_event<S: ProcessorStore>(
    store: &S,
    ctx: &StatusContext,
    update: &StatusUpdate,
    key: &str,
    message: &MessageRecord,
    previous: Option<DeliveryStatus>,
) -> Result<PendingEvent, OutboxError> {
    let contact = match contact_id_of(store, message, update).await? {
        Some(id) => store.load_contact(&message.business, &id).await?.contact,
        None => None,
    };
    let source = event_source(ctx, key, message);
    let contact_ref = contact.map(|c| c.record.to_ref());
    Ok(status_event(
        &source,
        update,
        message,
        previous,
        "bridge",
        contact_ref,
    )?)
}

/// Which record a status applies to.
enum Target {
    /// The sender's `MESSAGE`.
    Bridge(Versioned<MessageRecord>),
    /// The `EXTERNAL` record of a message sent elsewhere.
    External(Versioned<MessageRecord>),
    /// A message sent elsewhere, first heard of now.
    NewExternal(MessageRecord),
}

impl Target {
    fn record(&self) -> &MessageRecord {
        match self {
            Self::Bridge(v) | Self::External(v) => &v.record,
            Self::NewExternal(r) => r,
        }
    }

    fn origin(&self) -> &'static str {
        match self {
            Self::Bridge(_) => "bridge",
            Self::External(_) | Self::NewExternal(_) => "external",
        }
    }

    /// The write that records `next` where the status applied.
    fn write(&self, next: MessageRecord) -> Write {
        match self {
            Self::Bridge(v) => Write::Message(next, Expect::Version(v.version)),
            Self::External(v) => Write::ExternalMessage(next, Expect::Version(v.version)),
            Self::NewExternal(_) => Write::ExternalMessage(next, Expect::Absent),
        }
    }
}

/// The outbox commit of a status; `read` is the message as [`apply_one`] read it (its first
/// attempt), `None` to read it again.
async fn plan<S: ProcessorStore>(
    store: &S,
    ctx: &StatusContext,
    update: &StatusUpdate,
    key: &str,
    mode: Mode,
    read: Option<MessageState>,
) -> Result<Option<Commit>, OutboxError> {
    let state = match read {
        Some(state) => state,
        None => store.load_message(&update.wamid).await?,
    };
    if direct::waits(&state, update) {
        // Its write of the message would drop the mark of a status still unpublished.
        return Err(OutboxError::Waiting);
    }
    let target = match (state.message, state.external, mode) {
        (Some(m), _, _) => Target::Bridge(m),
        (None, Some(e), _) => Target::External(e),
        (None, None, Mode::Parked) => return Ok(None),
        (None, None, Mode::Released) => {
            if !state.parked.iter().any(|p| p.status == update.status) {
                return Ok(None); // applied or released by another run meanwhile
            }
            Target::NewExternal(MessageRecord {
                wamid: update.wamid.clone(),
                business: ctx.business.clone(),
                direction: Direction::Outbound,
                contact_id: None,
                message_type: "unknown".into(),
                timestamp: update.timestamp,
                status: None,
                status_at: None,
                command_id: None,
                template: None,
                raw: None,
                ttl: Some(ctx.retention.marker_ttl(ctx.now_ms / 1000)),
            })
        }
        (None, None, Mode::Arrived { park_secs }) => {
            tracing::info!(wamid = %crate::telemetry::mask_wamid(&update.wamid), status = update.status.as_str(), "message not stored yet; status parked");
            return Ok(Some(Commit {
                outbox: None,
                writes: vec![Write::Park(ParkedStatus {
                    wamid: update.wamid.clone(),
                    business: ctx.business.clone(),
                    status: update.status,
                    timestamp: update.timestamp,
                    raw: update.raw.get().to_owned(),
                    parked_at_ms: ctx.now_ms,
                    ttl: ctx.retention.marker_ttl(ctx.now_ms / 1000),
                    due_bucket: Some(crate::store::parked::due_bucket(&update.wamid)),
                    due_at: Some((ctx.now_ms / 1000).saturating_add(park_secs)),
                })],
            }));
        }
    };
    let message = target.record().clone();
    // A parked status is never removed in its event's commit: [`unpark`] removes it once the
    // event is published, so a publish that fails leaves it parked (and due) for a retry.
    let mut writes = Vec::new();
    let mut events: Vec<PendingEvent> = Vec::new();
    if DeliveryStatus::advances(message.status, update.status) {
        let contact_id = contact_id_of(store, &message, update).await?;
        let contact_state = match &contact_id {
            Some(id) => store.load_contact(&message.business, id).await?,
            None => Default::default(),
        };
        let source = event_source(ctx, key, &message);
        let mut contact = contact_state.contact.clone();
        let contact_ref = contact.as_ref().map(|c| c.record.to_ref());
        events.push(status_event(
            &source,
            update,
            &message,
            message.status,
            target.origin(),
            contact_ref,
        )?);
        if update.status == DeliveryStatus::Failed && update.has_error(WINDOW_CLOSED) {
            if let Some(conv) = contact_state.conversation {
                let mut c = conv.record;
                c.window_closed_at = Some(update.timestamp);
                // No more alerts for this window; an open conversation still has its idle
                // close, which the schedule re-arms from here (see `crate::due`).
                c.due_at = c.open.as_ref().map(|_| update.timestamp);
                c.due_bucket = c.due_at.map(|_| keys::due_bucket(&c.contact_id));
                c.ttl = Some(ctx.retention.conversation_ttl(ctx.now_ms / 1000));
                writes.push(Write::Conversation(c, Expect::Version(conv.version)));
            }
        }
        if update.status == DeliveryStatus::Failed && update.has_error(MARKETING_OPT_OUT) {
            if let Some(c) = contact.as_mut() {
                let decision = Decision {
                    action: ConsentAction::OptOut,
                    source: ConsentSource::DeliveryError,
                    occurred_at: update.timestamp,
                    trigger_wamid: Some(update.wamid.clone()),
                    trigger: Some(MARKETING_OPT_OUT.to_string()),
                    update_key: key.to_owned(),
                };
                let (entry, effective) =
                    decision.apply(&mut c.record, 0, ctx.now_ms, &ctx.retention);
                // Opted out: the contact now lives as long as the proof (`crate::retention`).
                c.record.ttl = Some(ctx.retention.contact_ttl(ctx.now_ms / 1000, &c.record));
                events.push(source.event(
                    decision.event_type(),
                    0,
                    update.timestamp,
                    Some(c.record.to_ref()),
                    events::data(decision.event_data(effective))?,
                )?);
                writes.push(Write::Consent(entry));
                writes.push(Write::Contact(c.record.clone(), Expect::Version(c.version)));
            }
        }
        let mut next = message;
        next.status = Some(update.status);
        next.status_at = Some(update.timestamp);
        if next.contact_id.is_none() && !matches!(target, Target::Bridge(_)) {
            next.contact_id = contact_id; // the sender's record stays the sender's
        }
        writes.push(target.write(next));
    }
    if writes.is_empty() {
        return Ok(None);
    }
    Ok(Some(Commit {
        outbox: Some(outbox::outbox(
            key,
            events,
            ctx.now_ms,
            ctx.retention.marker_ttl(ctx.now_ms / 1000),
        )),
        writes,
    }))
}

fn status_data(
    update: &StatusUpdate,
    message: &MessageRecord,
    previous: Option<DeliveryStatus>,
    origin: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("wamid".into(), update.wamid.clone().into());
    m.insert("status".into(), update.status.as_str().into());
    m.insert(
        "previous_status".into(),
        previous.map(|s| s.as_str()).into(),
    );
    m.insert("timestamp".into(), events::rfc3339(update.timestamp).into());
    m.insert("recipient_id".into(), update.recipient_id.clone().into());
    m.insert(
        "recipient_user_id".into(),
        update.recipient_user_id.clone().into(),
    );
    m.insert("command_id".into(), message.command_id.clone().into());
    m.insert("template".into(), message.template.clone().into());
    m.insert("origin".into(), origin.into());
    m.insert(
        "group".into(),
        match update.group_id() {
            Some(id) => serde_json::json!({ "id": id }),
            None => Value::Null,
        },
    );
    m.insert(
        "errors".into(),
        serde_json::to_value(&update.errors).unwrap_or_default(),
    );
    m.insert(
        "pricing".into(),
        serde_json::to_value(&update.meta.pricing).unwrap_or_default(),
    );
    m.insert(
        "conversation".into(),
        update.meta.conversation.clone().into(),
    );
    m.insert(
        "biz_opaque_callback_data".into(),
        update.meta.biz_opaque_callback_data.clone().into(),
    );
    m
}

/// The earliest Meta timestamp taken as true: 2009-01-01T00:00:00Z, before WhatsApp existed.
pub const EARLIEST_META_TIME: i64 = 1_230_768_000;
/// How far past the receive time a Meta timestamp may lie (clock skew, not a date to come).
pub const META_TIME_MAX_LEAD_SECS: i64 = 86_400;

/// The one rule for a timestamp Meta sent (Unix seconds): kept when it lies between 2009 and a
/// day after the receive time, otherwise replaced by the receive time with a warning (a forged
/// far-future time would hold a window open, a zero one date events to 1970). Missing: the
/// receive time. `what` names the update kind for the log; the line holds no personal data.
pub fn meta_time(seconds: Option<i64>, received_at: i64, what: &'static str) -> i64 {
    let latest = received_at.saturating_add(META_TIME_MAX_LEAD_SECS);
    match seconds {
        None => received_at,
        Some(t) if (EARLIEST_META_TIME..=latest).contains(&t) => t,
        Some(t) => {
            tracing::warn!(
                update = what,
                timestamp = t,
                received_at,
                "Meta timestamp before 2009 or over a day ahead; the receive time is used"
            );
            received_at
        }
    }
}

/// Key of a parked status, re-exported for the sender's own queries.
pub fn parked_key(wamid: &str, status: DeliveryStatus) -> (String, String) {
    (keys::message_pk(wamid), keys::parked_sk(status))
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::{self, *};

    #[test]
    fn statuses_only_move_forward() {
        assert!(DeliveryStatus::advances(None, Read));
        assert!(DeliveryStatus::advances(Some(Sent), Delivered));
        assert!(DeliveryStatus::advances(Some(Delivered), Read));
        assert!(DeliveryStatus::advances(Some(Read), Played));
        assert!(!DeliveryStatus::advances(Some(Delivered), Sent));
        assert!(!DeliveryStatus::advances(Some(Read), Delivered));
        assert!(!DeliveryStatus::advances(Some(Read), Read));
    }

    #[test]
    fn statuses_are_ordered_by_rank() {
        let all = [Sent, Delivered, Read, Played, Failed];
        for a in all {
            for b in all {
                assert_eq!(a.cmp(&b), a.rank().cmp(&b.rank()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn failed_is_terminal() {
        assert!(DeliveryStatus::advances(Some(Read), Failed));
        for next in [Sent, Delivered, Read, Played, Failed] {
            assert!(!DeliveryStatus::advances(Some(Failed), next));
        }
    }

    #[test]
    fn parses_meta_status_objects_leniently() {
        let raw = serde_json::value::RawValue::from_string(
            r#"{"id":"wamid.X","status":"failed","timestamp":"1749416383","errors":[{"code":131050,"title":"t","error_data":{"details":"d"}},"odd"]}"#.into(),
        )
        .unwrap();
        let s = super::StatusUpdate::parse(&raw, 1_749_416_390).unwrap();
        assert_eq!(s.timestamp, 1_749_416_383);
        assert_eq!(s.errors[0].code, Some(131_050));
        assert_eq!(s.errors[0].details.as_deref(), Some("d"));
        assert_eq!(s.errors[1].code, None);
        let unknown = serde_json::value::RawValue::from_string(
            r#"{"id":"wamid.X","status":"deleted"}"#.into(),
        )
        .unwrap();
        assert!(matches!(
            super::StatusUpdate::parse(&unknown, 0),
            Err(super::StatusParseError::UnknownStatus(_))
        ));
    }

    #[test]
    fn a_meta_time_between_2009_and_a_day_ahead_is_kept() {
        let received = 1_749_416_390;
        assert_eq!(
            super::meta_time(Some(1_230_768_000), received, "t"),
            1_230_768_000
        );
        assert_eq!(
            super::meta_time(Some(received + 86_400), received, "t"),
            received + 86_400
        );
        assert_eq!(super::meta_time(None, received, "t"), received);
    }

    #[test]
    fn a_meta_time_before_2009_or_over_a_day_ahead_is_the_receive_time() {
        let received = 1_749_416_390;
        for forged in [1_230_767_999, 0, -1, i64::MIN, received + 86_401, i64::MAX] {
            assert_eq!(
                super::meta_time(Some(forged), received, "t"),
                received,
                "{forged}"
            );
        }
        // A receive time near the end of i64 does not overflow the bound.
        assert_eq!(super::meta_time(Some(i64::MAX), i64::MAX, "t"), i64::MAX);
    }
}
