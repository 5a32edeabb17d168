//! `erase_contact` and `export_contact`: a person's right to erasure and to access (LGPD art. 18,
//! GDPR art. 15 and 17). Nothing is sent to Meta. Both find the person's items through
//! `contact-index` (`shared::store::personal`) and their objects under the contact's `media/` and
//! `exports/` prefixes (`shared::blob::keys`), and both are always audited, also when they fail.
//!
//! What the outcome, the outbox and the audit of these commands hold about the person is their
//! contact id and keyed hash only: never a number, a name, a wa_id or a user id.

mod erase;
mod export;

use serde_json::Value;
use shared::events::{ContactRef, EventType};
use shared::identity::{Identity, UserId, WaId};
use shared::privacy::{subject_bases, subject_hashes};
use shared::store::personal::PersonalDataStore;
use shared::store::{ContactRecord, ProcessorStore};

use crate::command::{Command, CommandType, Recipient as To, RejectReason, Rejection};
use crate::fifo::{Disposition, RecordTime};
use crate::flow::{Outcome, SenderError};
use crate::{Ports, PrivacyPorts};

/// What the CRM asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: CommandType,
    /// The contact named directly (else `to` names the person).
    pub contact_id: Option<String>,
    /// `erase_contact`: why (a ticket id); no personal data.
    pub reason: Option<String>,
}

impl Request {
    /// From a command its schema accepted; it must name the person (`to` or `contact_id`).
    pub fn from_value(kind: CommandType, value: &Value, has_to: bool) -> Result<Self, Rejection> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let request = Self {
            kind,
            contact_id: text("contact_id"),
            reason: text("reason"),
        };
        if !has_to && request.contact_id.is_none() {
            return Err(Rejection {
                reason: RejectReason::InvalidCommand,
                message: format!("{} needs `to` or `contact_id`", kind.as_str()),
                field: Some("/to".into()),
            });
        }
        Ok(request)
    }
}

/// The person a privacy command is about, as found.
pub(crate) struct Subject {
    pub(crate) contact_id: String,
    /// The profile, when it is still there.
    pub(crate) profile: Option<ContactRecord>,
    /// Their keyed hashes (current key first, then the previous one).
    pub(crate) hashes: Vec<String>,
    /// Their identity as the profile and the command tell it (for derived keys: pair buckets).
    pub(crate) identity: Identity,
}

impl Subject {
    /// The contact block of this command's events: the id only.
    pub(crate) fn contact_ref(&self) -> ContactRef {
        ContactRef {
            id: self.contact_id.clone(),
            ..ContactRef::default()
        }
    }

    /// The hash under the current key: what the audit and the kept ledger are named by.
    pub(crate) fn subject(&self) -> Option<String> {
        self.hashes.first().cloned()
    }
}

/// Runs the command; any error is audited as a failed attempt, then retried.
pub(crate) async fn run(
    state: &impl Ports,
    out: &Outcome,
    command: &Command,
    request: &Request,
    time: &RecordTime,
) -> Result<Disposition, SenderError> {
    let result = match request.kind {
        CommandType::EraseContact => erase::run(state, out, command, request, time).await,
        _ => export::run(state, out, command).await,
    };
    if let Err(err) = &result {
        let reason = failure_class(err);
        tracing::warn!(command_id = %out.command_id, reason, "privacy command failed; audited, it will come back");
        if let Some(audit) = out.audit(
            state.config(),
            "failed_attempt",
            Some(reason.to_owned()),
            None,
        ) {
            let commit = shared::store::Commit {
                outbox: None,
                writes: vec![audit],
            };
            if let Err(e) = shared::store::OutboxStore::commit(state.store(), commit).await {
                tracing::error!(command_id = %out.command_id, error = %shared::telemetry::error_chain(&e), "could not audit the failed attempt");
            }
        }
    }
    result
}

/// The audit's word for what failed (no detail that could quote data).
fn failure_class(err: &SenderError) -> &'static str {
    match err {
        SenderError::Store(_) | SenderError::Outbox(_) => "state_table_unavailable",
        SenderError::Blob(_) => "bucket_unavailable",
        SenderError::Secrets(_) => "privacy_key_unavailable",
        SenderError::Queue(_) => "events_queue_unavailable",
        SenderError::Encode(_) => "encoding_failed",
    }
}

/// Finds the person: by `contact_id`, or by `to` through the aliases (else the id the processor
/// would give them). `None` when the bridge holds nothing about them.
pub(crate) async fn find(
    state: &impl Ports,
    command: &Command,
    request: &Request,
) -> Result<Option<Subject>, SenderError> {
    let pn = &command.phone_number_id;
    let named = command.to.as_ref().map(To::identity).unwrap_or_default();
    let contact_id = match &request.contact_id {
        Some(id) => Some(id.clone()),
        None => {
            let found = state.store().find_aliases(pn, &named.alias_keys()).await?;
            found
                .into_iter()
                .next()
                .map(|a| a.contact_id)
                .or_else(|| named.new_contact_id(pn))
        }
    };
    let Some(contact_id) = contact_id else {
        return Ok(None);
    };
    let profile = state
        .store()
        .load_contact(pn, &contact_id)
        .await?
        .contact
        .map(|c| c.record);
    if profile.is_none() {
        let page = state.store().contact_keys(&contact_id, None, 1).await?;
        if page.keys.is_empty() {
            return Ok(None);
        }
    }
    let identity = Identity {
        wa_id: profile
            .as_ref()
            .and_then(|p| p.wa_id.as_deref())
            .and_then(WaId::parse)
            .or(named.wa_id),
        user_id: profile
            .as_ref()
            .and_then(|p| p.user_id.as_deref())
            .and_then(UserId::parse)
            .or(named.user_id),
    };
    let keys = state.privacy().keys().get().await?;
    let bases = subject_bases(&identity);
    // The current key's hashes come first, one per basis: what is kept is named by them.
    let mut hashes = subject_hashes(&keys, pn, &bases)?;
    hashes.truncate(bases.len());
    Ok(Some(Subject {
        contact_id,
        profile,
        hashes,
        identity,
    }))
}

/// `command.rejected` (`unknown_contact`) with no contact block: the number named is not
/// repeated in the outcome.
pub(crate) async fn unknown(state: &impl Ports, out: &Outcome) -> Result<Disposition, SenderError> {
    let r = Rejection::new(
        RejectReason::UnknownContact,
        "the bridge holds no data about this person (never met, or erased already)",
    );
    tracing::info!(command_id = %out.command_id, "privacy command for an unknown contact rejected");
    crate::flow::finish(state, out, None, out.rejected(&r)).await
}

/// Commits this command's outcome event with its audit item (and `more` writes), publishes it.
pub(crate) async fn commit_outcome(
    state: &impl Ports,
    out: &Outcome,
    subject: &Subject,
    event_type: EventType,
    data: serde_json::Map<String, Value>,
    more: Vec<shared::store::Write>,
) -> Result<(), SenderError> {
    let now_ms = shared::now_ms();
    let event = out.event(event_type, Some(subject.contact_ref()), data)?;
    let ttl = state.config().retention.marker_ttl(now_ms / 1000);
    let mut record = shared::outbox::outbox(&out.key, vec![event], now_ms, ttl);
    if event_type == EventType::ContactErased {
        // The erased contact is gone: its erasure's outcome stays out of `contact-index`, so a
        // person who comes back is not exported or erased with it.
        record.contact_id = None;
    }
    let audit = out.audit(state.config(), event_type.as_str(), None, subject.subject());
    shared::outbox::apply_once(state.store(), state.events(), &out.key, || {
        let mut writes = more.clone();
        writes.extend(audit.clone());
        let commit = shared::store::Commit {
            outbox: Some(record.clone()),
            writes,
        };
        async move { Ok::<_, shared::outbox::OutboxError>(Some(commit)) }
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_privacy_command_must_name_the_person() {
        let r = Request::from_value(CommandType::EraseContact, &json!({}), false).unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidCommand);
        assert_eq!(r.field.as_deref(), Some("/to"));
        let ok = Request::from_value(
            CommandType::ExportContact,
            &json!({"contact_id":"ct_0123456789abcdef01234567"}),
            false,
        )
        .unwrap();
        assert_eq!(
            ok.contact_id.as_deref(),
            Some("ct_0123456789abcdef01234567")
        );
        assert!(Request::from_value(CommandType::EraseContact, &json!({}), true).is_ok());
    }
}
