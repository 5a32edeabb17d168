//! The claim and the call: a conditional write marks the command `Sending` (from here a
//! redelivery will not send), then Meta is called — with one credential re-read, and the
//! fallback template when Meta says the window closed.

use serde_json::Value;
use shared::secrets::SecretsError;
use shared::store::{Expect, StoreError, Versioned};

use super::recipient::{Plan, Recipient};
use super::SenderError;
use crate::command::Command;
use crate::graph::{ErrorClass, GraphApi, SendResult};
use crate::media_link;
use crate::store::{Attempt, AttemptState, SenderStore};
use crate::Ports;
use crate::PrivacyPorts;

/// How long the attempt item outlives the command (beyond SQS's 4-day retention).
const ATTEMPT_TTL_SECS: i64 = 5 * 86_400;

/// Claims the send: `None` when another delivery claimed it first.
pub async fn take(
    state: &impl Ports,
    command: &Command,
    attempt: Option<Versioned<Attempt>>,
) -> Result<Option<Claimed>, SenderError> {
    let now_ms = shared::now_ms();
    let (mut claim, expect) = match attempt {
        Some(Versioned { record, version }) => (record, Expect::Version(version)),
        None => (
            Attempt {
                command_id: command.id.as_str().to_owned(),
                state: AttemptState::Idle,
                started_at_ms: 0,
                first_seen_ms: now_ms,
                retries: 0,
                pair_hits: 0,
                cap_hits: 0,
                not_before_ms: None,
                last_error: None,
                accepted: None,
                ttl: now_ms / 1000 + ATTEMPT_TTL_SECS,
            },
            Expect::Absent,
        ),
    };
    claim.state = AttemptState::Sending;
    claim.started_at_ms = now_ms;
    if !state.items().save_attempt(&claim, expect).await? {
        return Ok(None);
    }
    Ok(Some(Claimed {
        version: match expect {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        },
        attempt: claim,
    }))
}

/// What was sent (the body as sent, and whether it is the fallback) and Meta's answer.
pub struct Sent {
    pub body: Value,
    pub fallback_used: bool,
    pub result: Result<SendResult, SenderError>,
}

/// Sends the planned message; if Meta says the window is closed and the command has a
/// fallback template not sent yet, sends that.
pub async fn send_planned(
    state: &impl Ports,
    command: &Command,
    who: &Recipient,
    plan: Plan<'_>,
    claim: &mut Claimed,
) -> Sent {
    let to = who.wa_id.as_ref().map(|w| format!("+{w}"));
    let mut fallback_used = plan.fallback_used;
    let mut body = command.send_body(plan.template.filter(|_| fallback_used), to.as_deref());
    let mut result = send(state, command, &body, claim).await;
    if let Ok(SendResult::Refused(e)) = &result {
        if e.class() == ErrorClass::WindowClosed && !fallback_used {
            if let Some(fallback) = &command.fallback {
                tracing::info!(command_id = %command.id, "Meta says the window is closed; sending the fallback template");
                fallback_used = true;
                body = command.send_body(Some(fallback), to.as_deref());
                result = send(state, command, &body, claim).await;
            }
        }
    }
    Sent {
        body,
        fallback_used,
        result,
    }
}

/// The attempt item as claimed, with the version the next write must find.
pub(crate) struct Claimed {
    pub(crate) attempt: Attempt,
    pub(crate) version: u64,
}

impl Claimed {
    /// Puts the attempt back to `Idle` (the answer said nothing was sent).
    pub(crate) async fn release<L: SenderStore>(&mut self, store: &L) -> Result<(), StoreError> {
        self.attempt.state = AttemptState::Idle;
        if store
            .save_attempt(&self.attempt, Expect::Version(self.version))
            .await?
        {
            self.version += 1;
        }
        Ok(())
    }
}

/// One call to Meta; a credential error (Meta's refusal, or no usable token in the secret)
/// re-reads the secret once and tries again. If the call cannot even start, the claim is
/// released so a later delivery may send.
async fn send(
    state: &impl Ports,
    command: &Command,
    body: &Value,
    claim: &mut Claimed,
) -> Result<SendResult, SenderError> {
    let pn = &command.phone_number_id;
    // A media `key` becomes a presigned link now, so the link's minutes start at Meta's call.
    let linked =
        match media_link::presigned(state.privacy().blobs(), body, state.config().media_link).await
        {
            Ok(linked) => linked,
            Err(e) => {
                claim.release(state.items()).await?;
                return Err(e.into());
            }
        };
    let body = linked.as_ref().unwrap_or(body);
    let first = state.graph().send(pn, body).await;
    let stale_credentials = match &first {
        Err(SecretsError::Unset { .. }) => {
            tracing::warn!("no usable access token in the secret; re-reading it once");
            true
        }
        Ok(SendResult::Refused(e)) if e.class() == ErrorClass::Credentials => {
            tracing::warn!(
                code = e.code,
                "Meta rejected the access token; re-reading the secret once"
            );
            true
        }
        _ => false,
    };
    let result = if stale_credentials {
        match state.graph().refresh_credentials().await {
            Ok(()) => state.graph().send(pn, body).await,
            Err(e) => Err(e),
        }
    } else {
        first
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            claim.release(state.items()).await?;
            Err(e.into())
        }
    }
}
