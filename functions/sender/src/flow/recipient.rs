//! Who a command goes to: the contact as the processor keeps it (identity rules, aliases), their
//! window and consent — and what may be sent to them: the command itself, its fallback template
//! when the window is closed, or nothing (a rejection that says why, e.g. an authentication
//! template to a business-scoped user id).

use shared::events::ContactRef;
use shared::store::{ContactState, ConversationRecord, ProcessorStore, Versioned};

use super::SenderError;
use crate::command::{Command, Recipient as To, RejectReason, Rejection, Template};
use crate::consent;
use crate::Ports;

/// Everything known about the command's recipient.
pub(crate) struct Recipient {
    pub(crate) contact: Option<ContactRef>,
    pub(crate) contact_id: Option<String>,
    /// The wa_id Meta gave us for this person: what we send to.
    pub(crate) wa_id: Option<String>,
    pub(crate) window_open: bool,
    pub(crate) opted_out: bool,
    /// Meta time of the consent decision `opted_out` reflects (`None`: none on record).
    pub(crate) consent_at: Option<i64>,
    /// The contact's conversation record as read (window, open conversation, rating).
    pub(crate) conversation: Option<Versioned<ConversationRecord>>,
}

/// What will be sent: the command's own message, or its fallback template.
pub struct Plan<'a> {
    pub template: Option<&'a Template>,
    pub fallback_used: bool,
}

/// The window and consent checks: what may be sent to `who`, or why nothing may.
pub async fn plan<'a>(
    state: &impl Ports,
    command: &'a Command,
    who: &Recipient,
) -> Result<Result<Plan<'a>, Rejection>, SenderError> {
    let mut fallback_used = false;
    if command.is_free_form() && !who.window_open {
        if command.fallback.is_none() {
            return Ok(Err(Rejection::new(
                RejectReason::WindowClosed,
                "the contact's 24-hour customer-service window is closed; send a template (or add fallback_template)",
            )));
        }
        fallback_used = true;
    }
    let template = if fallback_used {
        command.fallback.as_ref()
    } else {
        command.template.as_ref()
    };
    if let Some(t) = template.filter(|_| matches!(command.to, Some(To::User(_)))) {
        if let Some(r) = consent::user_id_refusal(state.items(), t).await? {
            return Ok(Err(r));
        }
    }
    let opted_out = match template {
        Some(_) if !who.opted_out => consent::kept_opt_out(state, command, who.consent_at).await?,
        _ => who.opted_out,
    };
    if let Some(t) = template.filter(|_| opted_out) {
        if let Some(r) = consent::opted_out_refusal(state.items(), t).await? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(Plan {
        template,
        fallback_used,
    }))
}

/// Looks the recipient up with the processor's identity rules.
pub async fn resolve(
    state: &impl Ports,
    command: &Command,
    now_ms: i64,
) -> Result<Recipient, SenderError> {
    let pn = &command.phone_number_id;
    let Some(to) = &command.to else {
        return Ok(Recipient {
            contact: None,
            contact_id: None,
            wa_id: None,
            window_open: false,
            opted_out: false,
            consent_at: None,
            conversation: None,
        });
    };
    let identity = to.identity();
    let aliases = state
        .store()
        .find_aliases(pn, &identity.alias_keys())
        .await?;
    // No alias (a person never met, or aliases gone by TTL): the contact the processor would
    // create has a deterministic id, and may still be there (an opted-out contact outlives
    // its aliases only by a delivery-error opt-out), so look once more by that id.
    let contact_id = aliases
        .first()
        .map(|a| a.contact_id.clone())
        .or_else(|| identity.new_contact_id(pn));
    let state_found = match contact_id {
        Some(id) => state.store().load_contact(pn, &id).await?,
        None => ContactState::default(),
    };
    let now_s = now_ms / 1000;
    let window_open = state_found.conversation.as_ref().is_some_and(|c| {
        c.record.window_expires_at.is_some_and(|e| e > now_s) && c.record.window_closed_at.is_none()
    });
    let conversation = state_found.conversation;
    Ok(match state_found.contact {
        Some(c) => Recipient {
            contact: Some(c.record.to_ref()),
            contact_id: Some(c.record.contact_id.clone()),
            wa_id: c.record.wa_id.clone(),
            window_open,
            opted_out: c.record.marketing_opt_out,
            consent_at: c.record.consent_at,
            conversation,
        },
        None => {
            // Not met yet: the id the processor will give this person (deterministic), so the
            // outcome and later statuses share a FIFO group.
            let id = identity.new_contact_id(pn);
            let wa = identity.wa_id.as_ref();
            Recipient {
                contact: id.clone().map(|id| ContactRef {
                    id,
                    wa_id: wa.map(|w| w.canonical()),
                    phone: wa.and_then(|w| w.e164()),
                    user_id: identity.user_id.as_ref().map(|u| u.as_str().to_owned()),
                    ..ContactRef::default()
                }),
                contact_id: id,
                wa_id: None,
                window_open,
                opted_out: false,
                consent_at: None,
                conversation,
            }
        }
    })
}
