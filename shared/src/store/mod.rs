//! The state table: records, their keys, and the ports the functions use to read and commit them.
//!
//! One DynamoDB table (`pk`/`sk`), described in `docs/data-model.md`. Every change an update makes
//! is one [`Commit`]: an outbox item keyed by the update (which doubles as its dedup marker) plus
//! conditional writes, applied all or nothing. Mutable records carry a version and are written
//! with "version is still what I read", so concurrent writers re-read instead of overwriting.

pub mod due;
pub mod dynamo;
pub mod items;
pub mod memory;
pub mod parked;
pub mod personal;
pub mod scheduled;
pub mod unpublished;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::consent::{ConsentAction, ConsentSource};
use crate::delivery::DeliveryStatus;
use crate::events::PendingEvent;

/// Shards of the `due-index` partition key (`due_bucket` = `DUE#0` … `DUE#63`), so the index
/// has no hot partition; window-alerts queries each bucket with `due_at <= now`. 64 keeps a
/// bucket under a partition's 1,000 writes/s at ten numbers of 1,000 messages/s (docs/scale.md).
pub const DUE_BUCKETS: u32 = 64;

/// Item keys. Kept here so every function (and the docs) agree on them.
pub mod keys {
    pub const PROFILE: &str = "PROFILE";
    pub const CONVERSATION: &str = "CONVERSATION";
    pub const ALIAS: &str = "ALIAS";
    pub const MESSAGE: &str = "MESSAGE";
    /// A message the bridge did not send, known from its statuses (beside `MESSAGE`, never in
    /// its place: the sender's own record is created "if absent" and must not collide).
    pub const EXTERNAL: &str = "EXTERNAL";
    pub const OUTBOX: &str = "OUTBOX";

    /// Partition of a contact's profile, conversation and consent ledger.
    pub fn contact_pk(business: &str, contact_id: &str) -> String {
        format!("CONTACT#{business}#{contact_id}")
    }
    /// Sort key of one consent ledger entry (time-ordered).
    pub fn consent_sk(occurred_at: i64, entry_id: &str) -> String {
        format!("CONSENT#{occurred_at:012}#{entry_id}")
    }
    /// An identity alias (`wa:<digits>` or `uid:<bsuid>`) pointing at a contact.
    pub fn alias_pk(business: &str, alias: &str) -> String {
        format!("ALIAS#{business}#{alias}")
    }
    /// Partition of a message and of statuses parked for it.
    pub fn message_pk(wamid: &str) -> String {
        format!("MSG#{wamid}")
    }
    /// A status parked until its message is stored.
    pub fn parked_sk(status: super::DeliveryStatus) -> String {
        format!("PARKED#{}", status.as_str())
    }
    /// An outbox item: the dedup marker of one update and the events it produced.
    pub fn outbox_pk(update_key: &str) -> String {
        format!("OUTBOX#{update_key}")
    }
    /// What a message template is (`marketing`, `utility`, …), as learned from Meta's template
    /// webhooks; the sender reads it to keep marketing away from opted-out contacts.
    pub fn template_category(name: &str, language: &str) -> (String, String) {
        (format!("TEMPLATE#{name}#{language}"), "CATEGORY".into())
    }
    /// The `due-index` bucket of a contact.
    pub fn due_bucket(contact_id: &str) -> String {
        let sum = contact_id.bytes().fold(0u32, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u32::from(b))
        });
        format!("DUE#{}", sum % super::DUE_BUCKETS)
    }
}

/// A record as read, with the version a later write must still find.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub record: T,
    pub version: u64,
}

/// What a conditional write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The item must not exist (create).
    Absent,
    /// The item must still have this version (update).
    Version(u64),
}

/// One person, per business number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub business: String,
    pub contact_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Parent business-scoped user id (`CC.ENT.…`), when Meta sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// WhatsApp username (`profile.username`), when the person uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Current marketing consent (the ledger holds the history).
    #[serde(default)]
    pub marketing_opt_out: bool,
    /// Meta time (Unix seconds) of the decision `marketing_opt_out` reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_at: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// DynamoDB TTL (Unix seconds): `crate::retention`, from the person's last activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl ContactRecord {
    pub fn to_ref(&self) -> crate::events::ContactRef {
        crate::events::ContactRef {
            id: self.contact_id.clone(),
            wa_id: self.wa_id.clone(),
            phone: self.phone.clone(),
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            parent_user_id: self.parent_user_id.clone(),
            username: self.username.clone(),
        }
    }
}

/// The customer-service window and reply state of one contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationRecord {
    pub business: String,
    pub contact_id: String,
    /// Meta timestamp (Unix seconds) of the newest inbound message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_wamid: Option<String>,
    /// When an agent's message went out: set by the sender, or by the processor for a message
    /// typed in the WhatsApp Business app (an echo); see `window::answered_by_agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outbound_at: Option<i64>,
    /// `last_inbound_at` + 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_expires_at: Option<i64>,
    /// When Meta said the window is closed (error 131047); cleared by a newer inbound message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_closed_at: Option<i64>,
    /// The customer wrote last (no agent message at or after it).
    #[serde(default)]
    pub awaiting_reply: bool,
    /// `due-index` partition (absent = nothing due; the index is sparse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_bucket: Option<String>,
    /// Next alert deadline (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    /// Lead times (minutes) already alerted for the current window; window-alerts appends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerted_leads: Vec<u32>,
    /// The helpdesk conversation open with this contact (`None` between conversations); its
    /// transitions live in `crate::conversation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<crate::conversation::OpenConversation>,
    /// The outbox key of lifecycle events window-alerts committed (an idle close) and has not
    /// yet seen published; its next step publishes them (`crate::due::Step::Publish`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpublished: Option<String>,
    /// The conversation closed last: what a rating requested after the close rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_conversation_id: Option<String>,
    /// The contact's CSAT rating request, pending or answered (`crate::rating`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Box<crate::rating::RatingState>>,
    /// DynamoDB TTL (Unix seconds): set by every write, `crate::retention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A message, inbound (stored by the processor) or outbound (stored by the sender).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub wamid: String,
    pub business: String,
    pub direction: Direction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    pub message_type: String,
    /// Meta timestamp (inbound) or send time (outbound), Unix seconds.
    pub timestamp: i64,
    /// Outbound only: the highest status applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_at: Option<i64>,
    /// Outbound only: the CRM command that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    /// Outbound only: the template's name when the message is one, so its statuses name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Inbound only: Meta's message object as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// DynamoDB TTL (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// A status that arrived before its message was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedStatus {
    pub wamid: String,
    pub business: String,
    pub status: DeliveryStatus,
    pub timestamp: i64,
    /// Meta's status object as received.
    pub raw: String,
    pub parked_at_ms: i64,
    pub ttl: i64,
    /// `due-index` partition ([`parked::due_bucket`]); with `due_at`, when the schedule's tick
    /// forwards the status as one of a message the bridge did not send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_bucket: Option<String>,
    /// Unix seconds: parked time + `EXTERNAL_STATUS_PARK_SECONDS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
}

/// One consent decision in a contact's ledger (proof: kept `CONSENT_RETENTION_DAYS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub business: String,
    pub contact_id: String,
    pub action: ConsentAction,
    pub source: ConsentSource,
    pub category: String,
    /// Meta time of the decision (Unix seconds).
    pub occurred_at: i64,
    /// The message (inbound wamid, or the outbound wamid of a 131050 failure) that triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_wamid: Option<String>,
    /// The words, button or error code that expressed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The update that produced it (also makes the ledger entry idempotent).
    pub update_key: String,
    pub entry_id: String,
    pub recorded_at_ms: i64,
    /// DynamoDB TTL (Unix seconds): `crate::retention::Retention::consent_ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// An identity alias pointing at a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub business: String,
    pub alias: String,
    pub contact_id: String,
    /// DynamoDB TTL (Unix seconds): past its contact's, refreshed as the contact's moves
    /// (`crate::retention`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// The dedup marker of one update and the events it produced, until SQS accepted them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub key: String,
    /// The contact its events are about (their FIFO group), so erasure finds the item through
    /// `contact-index`; absent when they are about no contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    pub events: Vec<PendingEvent>,
    pub published: bool,
    pub created_at_ms: i64,
    pub ttl: i64,
}

/// One conditional write inside a [`Commit`].
// Not boxed: a write lives for one transaction in its commit's `Vec` (a handful at a time), and
// the conversation record, the largest, is in most commits anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Contact(ContactRecord, Expect),
    Conversation(ConversationRecord, Expect),
    Message(MessageRecord, Expect),
    /// A message the bridge did not send, as its statuses tell it (see [`keys::EXTERNAL`]).
    ExternalMessage(MessageRecord, Expect),
    /// Creates an alias; unless `replace`, it must be absent or already point at the contact.
    Alias {
        record: AliasRecord,
        replace: bool,
    },
    /// Deletes an alias if it still points at the contact.
    RemoveAlias(AliasRecord),
    /// Appends a ledger entry (idempotent by key).
    Consent(ConsentRecord),
    /// Parks a status; the message must still be absent.
    Park(ParkedStatus),
    /// Removes a parked status as it is applied; it must still be there.
    Unpark {
        wamid: String,
        status: DeliveryStatus,
    },
    /// Records a template's category (the latest update wins).
    TemplateCategory(TemplateCategoryRecord),
    /// Holds a command until it is due (replaces an earlier deferral of the same command).
    Schedule(scheduled::ScheduledCommand),
    /// Records who asked for a command and how it ended (`crate::privacy`).
    Audit(crate::privacy::AuditRecord),
    /// Deletes an item that must still be there (an erasure's progress record).
    Delete {
        pk: String,
        sk: String,
    },
    /// A put written on its own just before the commit's transaction, with its usual condition:
    /// one write unit per KB instead of a transaction's two. Only for an idempotent derivation of
    /// the update (a new contact's aliases and profile, an opened conversation's alias): a crash
    /// between it and the transaction leaves an item the redelivered update finds and completes.
    /// Its condition failing is a [`CommitOutcome::Conflict`] (re-read and plan again); a
    /// delete, a park or a nested `Ahead` is refused as unstorable.
    Ahead(Box<Write>),
}

/// A template's category as Meta last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateCategoryRecord {
    pub name: String,
    pub language: String,
    /// Lower case: `marketing`, `utility`, `authentication`.
    pub category: String,
    /// Unix seconds of the webhook that reported it.
    pub updated_at: i64,
}

/// Everything one update changes, applied all or nothing ([`Write::Ahead`] puts excepted: they
/// land first, on their own).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Commit {
    /// Put only if absent: an existing item means the update was already applied.
    pub outbox: Option<OutboxRecord>,
    pub writes: Vec<Write>,
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Applied,
    /// The outbox item already existed: this update was applied before.
    Duplicate,
    /// Another writer got there first (a condition failed or transactions collided): re-read.
    Conflict,
}

/// Why the store could not answer. All of them are worth retrying (the record redrives).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed")]
    Aws {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("could not build the DynamoDB {0} request")]
    Build(&'static str, #[source] aws_sdk_dynamodb::error::BuildError),
    /// `key` is [`crate::redact::item_key`]: keys hold phone numbers (`ALIAS#…#wa:<digits>`).
    #[error("item {key} does not match its record type")]
    Corrupt {
        key: String,
        #[source]
        source: crate::redact::JsonError,
    },
    #[error("item {key} cannot be stored: {reason}")]
    Unstorable { key: String, reason: String },
}

/// What a contact's partition holds that the processor needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactState {
    pub contact: Option<Versioned<ContactRecord>>,
    pub conversation: Option<Versioned<ConversationRecord>>,
}

/// A message (if stored) and the statuses parked for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageState {
    pub message: Option<Versioned<MessageRecord>>,
    /// The record of a message the bridge did not send (`EXTERNAL`), once a status of it was
    /// forwarded: later statuses apply to it at once, monotonically.
    pub external: Option<Versioned<MessageRecord>>,
    pub parked: Vec<ParkedStatus>,
    /// Statuses recorded on `message` whose events are not yet published
    /// ([`unpublished`]; empty for any other message).
    pub unpublished: unpublished::Unpublished,
}

/// Port: the exactly-once machinery every event producer needs.
pub trait OutboxStore: Send + Sync {
    fn load_outbox(
        &self,
        update_key: &str,
    ) -> impl Future<Output = Result<Option<OutboxRecord>, StoreError>> + Send;

    fn commit(
        &self,
        commit: Commit,
    ) -> impl Future<Output = Result<CommitOutcome, StoreError>> + Send;

    fn mark_published(
        &self,
        update_key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Port: what the processor reads besides the outbox (and its statuses' direct writes).
pub trait ProcessorStore: OutboxStore + unpublished::StatusStore {
    /// The aliases among `aliases` that exist.
    fn find_aliases(
        &self,
        business: &str,
        aliases: &[String],
    ) -> impl Future<Output = Result<Vec<AliasRecord>, StoreError>> + Send;

    fn load_contact(
        &self,
        business: &str,
        contact_id: &str,
    ) -> impl Future<Output = Result<ContactState, StoreError>> + Send;

    fn load_message(
        &self,
        wamid: &str,
    ) -> impl Future<Output = Result<MessageState, StoreError>> + Send;
}

/// Where an item lives.
pub(crate) fn write_key(write: &Write) -> (String, String) {
    match write {
        Write::Contact(c, _) => (
            keys::contact_pk(&c.business, &c.contact_id),
            keys::PROFILE.into(),
        ),
        Write::Conversation(c, _) => (
            keys::contact_pk(&c.business, &c.contact_id),
            keys::CONVERSATION.into(),
        ),
        Write::Message(m, _) => (keys::message_pk(&m.wamid), keys::MESSAGE.into()),
        Write::ExternalMessage(m, _) => (keys::message_pk(&m.wamid), keys::EXTERNAL.into()),
        Write::Alias { record, .. } | Write::RemoveAlias(record) => (
            keys::alias_pk(&record.business, &record.alias),
            keys::ALIAS.into(),
        ),
        Write::Consent(c) => (
            keys::contact_pk(&c.business, &c.contact_id),
            keys::consent_sk(c.occurred_at, &c.entry_id),
        ),
        Write::Park(p) => (keys::message_pk(&p.wamid), keys::parked_sk(p.status)),
        Write::Unpark { wamid, status } => (keys::message_pk(wamid), keys::parked_sk(*status)),
        Write::TemplateCategory(t) => keys::template_category(&t.name, &t.language),
        Write::Schedule(c) => scheduled::key(&c.command_id),
        Write::Audit(a) => a.key(),
        Write::Delete { pk, sk } => (pk.clone(), sk.clone()),
        Write::Ahead(inner) => write_key(inner),
    }
}

/// A commit's writes split into the puts to write ahead (unwrapped) and the transaction's.
pub(crate) fn split_ahead(writes: &[Write]) -> (Vec<&Write>, Vec<&Write>) {
    let mut ahead = Vec::new();
    let mut transaction = Vec::new();
    for write in writes {
        match write {
            Write::Ahead(inner) => ahead.push(inner.as_ref()),
            other => transaction.push(other),
        }
    }
    (ahead, transaction)
}

/// The put a [`Write::Ahead`] wraps, checked: a plain put of one item (for the adapters).
pub(crate) fn ahead_put(inner: &Write) -> Result<&Write, StoreError> {
    match inner {
        Write::RemoveAlias(_)
        | Write::Unpark { .. }
        | Write::Delete { .. }
        | Write::Park(_)
        | Write::Ahead(_) => {
            let (pk, sk) = write_key(inner);
            Err(StoreError::Unstorable {
                key: crate::redact::item_key(&pk, &sk),
                reason: "only a plain put can be written ahead of a transaction".into(),
            })
        }
        put => Ok(put),
    }
}

/// The record of a write as JSON (for the adapters), `None` for deletes.
pub(crate) fn write_body(write: &Write) -> Result<Option<serde_json::Value>, serde_json::Error> {
    let v = match write {
        Write::Contact(r, _) => serde_json::to_value(r)?,
        Write::Conversation(r, _) => serde_json::to_value(r)?,
        Write::Message(r, _) | Write::ExternalMessage(r, _) => serde_json::to_value(r)?,
        Write::Alias { record, .. } => serde_json::to_value(record)?,
        Write::Consent(r) => serde_json::to_value(r)?,
        Write::Park(r) => serde_json::to_value(r)?,
        Write::TemplateCategory(r) => serde_json::to_value(r)?,
        Write::Schedule(r) => serde_json::to_value(r)?,
        Write::Audit(r) => serde_json::to_value(r)?,
        Write::Ahead(inner) => return write_body(inner),
        Write::RemoveAlias(_) | Write::Unpark { .. } | Write::Delete { .. } => return Ok(None),
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::keys;

    #[test]
    fn due_buckets_spread_and_stay_in_range() {
        let buckets: std::collections::HashSet<_> = (0..2000)
            .map(|i| keys::due_bucket(&format!("ct_{i:024x}")))
            .collect();
        assert_eq!(buckets.len(), super::DUE_BUCKETS as usize);
        assert!(buckets.iter().all(|b| b.starts_with("DUE#")));
    }
}
