//! What Meta's answer means (error classes, reference §6): accepted, maybe sent, not sent (retry),
//! or refused — and then retry, wait for the recipient, the marketing cap or an operator, or fail.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use shared::events::ContactRef;
use shared::secrets::SecretsError;

use super::claim::{Claimed, Sent};
use super::defer::{self, Deadline, Wait, WaitReason};
use super::outcome::{finish, Outcome};
use super::recipient::Recipient;
use super::{millis, SenderError};
use crate::accept::{self, Acceptance};
use crate::command::Command;
use crate::fifo::Disposition;
use crate::graph::{ErrorClass, MetaApiError, SendResult};
use crate::metrics;
use crate::visibility::{backoff, MAX_VISIBILITY};
use crate::Ports;

/// 131049: Meta's per-user marketing cap; retrying earlier extends the block.
const MARKETING_CAP_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Settles a claimed send by Meta's answer.
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    state: &impl Ports,
    record: &SqsMessage,
    command: &Command,
    out: &Outcome,
    who: &Recipient,
    claim: Claimed,
    sent: Sent,
    deadline: Deadline,
) -> Result<Disposition, SenderError> {
    let contact = who.contact.clone();
    let waiting = Waiting { record, deadline };
    let result = match sent.result {
        Ok(r) => r,
        // No usable token: treated as Meta refusing it (alarmed); the command waits for an
        // operator out of the queue.
        Err(SenderError::Secrets(SecretsError::Unset { what })) => {
            metrics::access_token_unset();
            tracing::error!(
                missing = what,
                "the sender's secret has no usable access token; command kept waiting"
            );
            let wait = Wait::new(state.config().credential_retry, WaitReason::Credentials);
            return waiting.wait(state, out, contact, wait, &claim).await;
        }
        Err(e) => return Err(e),
    };
    match result {
        SendResult::Accepted { wamid, wa_id } => {
            let answer = Acceptance::of(
                &sent.body,
                wamid,
                wa_id,
                sent.fallback_used,
                shared::now_ms(),
            );
            accept::record(state, out, who, claim, answer).await?;
            Ok(Disposition::Done)
        }
        SendResult::Unknown(reason) => {
            tracing::error!(command_id = %command.id, %reason, "send outcome unknown; not sending again");
            finish(state, out, contact, out.outcome_unknown(&claim.attempt)).await
        }
        SendResult::NotSent(err) => {
            tracing::warn!(command_id = %command.id, error = %err, "Graph API unreachable; nothing was sent");
            retry(state, out, contact, claim, None, waiting).await
        }
        SendResult::NotProcessed { status } => {
            tracing::warn!(command_id = %command.id, status, "Graph API answered without processing the request; nothing was sent");
            let error = MetaApiError {
                code: 0,
                subcode: None,
                title: format!("Graph API answered HTTP {status} without processing the request"),
                details: None,
                fbtrace_id: None,
            };
            retry(state, out, contact, claim, Some(error), waiting).await
        }
        SendResult::Refused(e) => {
            tracing::warn!(command_id = %command.id, code = e.code, title = %e.title, "Meta refused the send");
            refused(state, command, out, contact, claim, e, waiting).await
        }
    }
}

/// What a wait after a send needs to know about the delivery.
#[derive(Clone, Copy)]
struct Waiting<'a> {
    record: &'a SqsMessage,
    deadline: Deadline,
}

/// Decides on Meta's refusal by its class (reference §6).
async fn refused(
    state: &impl Ports,
    command: &Command,
    out: &Outcome,
    contact: Option<ContactRef>,
    mut claim: Claimed,
    error: MetaApiError,
    waiting: Waiting<'_>,
) -> Result<Disposition, SenderError> {
    let now_ms = shared::now_ms();
    match error.class() {
        ErrorClass::Retryable => retry(state, out, contact, claim, Some(error), waiting).await,
        ErrorClass::PairRate => {
            claim.attempt.pair_hits += 1;
            let hold = Duration::from_secs(4u64.saturating_pow(claim.attempt.pair_hits.min(8)))
                .min(MAX_VISIBILITY);
            if let Some(to) = &command.to {
                state
                    .limiter()
                    .hold_pair(
                        state.items(),
                        &command.phone_number_id,
                        &to.rate_key(),
                        now_ms,
                        hold,
                    )
                    .await?;
            }
            claim.attempt.last_error = Some(error.clone());
            claim.release(state.items()).await?;
            let wait = Wait::after(hold, WaitReason::PairRate, error);
            waiting.wait(state, out, contact, wait, &claim).await
        }
        ErrorClass::MarketingCap if claim.attempt.cap_hits == 0 => {
            claim.attempt.cap_hits = 1;
            claim.attempt.not_before_ms = Some(now_ms + millis(MARKETING_CAP_WAIT));
            claim.attempt.last_error = Some(error.clone());
            claim.release(state.items()).await?;
            let wait = Wait::after(MARKETING_CAP_WAIT, WaitReason::MarketingCap, error);
            waiting.wait(state, out, contact, wait, &claim).await
        }
        ErrorClass::Credentials | ErrorClass::Account => {
            if error.class() == ErrorClass::Credentials {
                metrics::credential_error(error.code);
            } else {
                metrics::account_error(error.code);
            }
            tracing::error!(code = error.code, title = %error.title, "Meta refused our credentials or account; command kept waiting");
            let reason = if error.class() == ErrorClass::Credentials {
                WaitReason::Credentials
            } else {
                WaitReason::Account
            };
            claim.attempt.last_error = Some(error.clone());
            claim.release(state.items()).await?;
            let wait = Wait::after(state.config().credential_retry, reason, error);
            waiting.wait(state, out, contact, wait, &claim).await
        }
        ErrorClass::MarketingCap | ErrorClass::WindowClosed | ErrorClass::Permanent => {
            finish(
                state,
                out,
                contact,
                out.failed("meta_error", &error, &claim.attempt),
            )
            .await
        }
    }
}

/// A retryable failure: back off exponentially, or fail once the command is too old.
async fn retry(
    state: &impl Ports,
    out: &Outcome,
    contact: Option<ContactRef>,
    mut claim: Claimed,
    error: Option<MetaApiError>,
    waiting: Waiting<'_>,
) -> Result<Disposition, SenderError> {
    let error = error.unwrap_or_else(|| MetaApiError {
        code: 0,
        subcode: None,
        title: "Graph API unreachable".into(),
        details: None,
        fbtrace_id: None,
    });
    let delay = backoff(
        claim.attempt.retries,
        state.config().retry_base,
        state.config().retry_max,
    );
    claim.attempt.retries += 1;
    claim.attempt.last_error = Some(error.clone());
    claim.release(state.items()).await?;
    let wait = Wait::after(delay, WaitReason::Retry, error);
    waiting.wait(state, out, contact, wait, &claim).await
}

impl Waiting<'_> {
    async fn wait(
        self,
        state: &impl Ports,
        out: &Outcome,
        contact: Option<ContactRef>,
        wait: Wait,
        claim: &Claimed,
    ) -> Result<Disposition, SenderError> {
        let attempts = claim.attempt.attempts();
        defer::wait(
            state,
            self.record,
            out,
            contact,
            wait,
            self.deadline,
            attempts,
        )
        .await
    }
}
