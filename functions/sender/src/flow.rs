//! What happens to one command, start to outcome.
//!
//! 1. A command whose outcome is in the outbox (`cmd:<command_id>`) is a repeat: its outcome
//!    events are published again with their `event_id`s, nothing is sent. A command whose claim
//!    holds Meta's answer was sent: it finishes as `command.accepted` ([`crate::accept`]).
//! 2. Checks that need no call: schema and limits, known phone number (`flow/outcome.rs`), the
//!    recipient, their window and consent (`flow/recipient.rs`, [`crate::consent`]). A
//!    `close_conversation` ends here, sending nothing ([`crate::close`]); a `request_rating`
//!    needs a conversation to rate ([`crate::rating`]).
//! 3. May a send start (`flow/admit.rs`)? A send left `Sending` past its lease by a crash or a lost
//!    answer is "maybe sent": it ends as `command.failed` (`outcome_unknown`), never as a second
//!    send. Then `not_before`, the command's deadline, pair rate and throughput, and the
//!    invocation's time left. Short waits happen in the queue, long ones out of it (`flow/defer.rs`).
//! 4. Claim (`Sending`) and call Meta, with the fallback template if Meta says the window
//!    closed (`flow/claim.rs`).
//! 5. Settle by Meta's answer and its error class (`flow/policy.rs`, [`crate::accept`]).
//!
//! Every step takes the state as `&impl Ports`: the ports' types are named once, in `lib.rs`.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use shared::outbox::OutboxError;
use shared::queue::QueueError;
use shared::secrets::SecretsError;
use shared::store::{OutboxStore, StoreError};

use crate::accept;
use crate::command::Payload;
use crate::fifo::{Disposition, RecordTime};
use crate::metrics;
use crate::store::SenderStore;
use crate::visibility::backoff;
use crate::Ports;

mod admit;
mod claim;
mod defer;
mod outcome;
mod policy;
mod recipient;

pub(crate) use claim::Claimed;
use defer::Deadline;
pub(crate) use outcome::Outcome;
pub(crate) use recipient::Recipient;

/// Why a command could not be handled now; the record is retried after a short backoff.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("state table unavailable")]
    Store(#[from] StoreError),
    #[error("could not record the outcome")]
    Outbox(#[from] OutboxError),
    #[error("could not publish CRM events")]
    Queue(#[from] QueueError),
    #[error("credentials unavailable")]
    Secrets(#[from] SecretsError),
    #[error("could not encode an event")]
    Encode(#[from] serde_json::Error),
    #[error("could not presign the media's link")]
    Blob(#[from] shared::blob::BlobError),
}

/// Handles one record; never fails: an error becomes a short, jittered deferral.
pub async fn process(state: &impl Ports, record: SqsMessage, time: &RecordTime) -> Disposition {
    match run(state, &record, time).await {
        Ok(d) => d,
        // Treated as Meta refusing the token: alarm, keep the command queued.
        Err(SenderError::Secrets(SecretsError::Unset { what })) => {
            metrics::access_token_unset();
            tracing::error!(
                missing = what,
                "the sender's secret has no usable access token; command kept queued"
            );
            Disposition::Defer(state.config().credential_retry)
        }
        Err(err) => {
            tracing::warn!(error = %shared::telemetry::error_chain(&err), "command not handled now; it will come back");
            Disposition::Defer(backoff(
                0,
                state.config().retry_base,
                state.config().retry_max,
            ))
        }
    }
}

/// One command, start to outcome (the steps above).
async fn run(
    state: &impl Ports,
    record: &SqsMessage,
    time: &RecordTime,
) -> Result<Disposition, SenderError> {
    let now_ms = shared::now_ms();
    let command = match state
        .validators()
        .parse(record.body.as_deref().unwrap_or(""))
    {
        Ok(c) => c,
        Err(invalid) => return outcome::reject_invalid(state, record, *invalid, now_ms).await,
    };
    tracing::info!(command_id = %command.id, kind = command.kind.as_str(), "command received");
    let out = Outcome::new(&command, now_ms);
    if let Some(existing) = state.store().load_outbox(&out.key).await? {
        accept::repeat(state, &out, &existing).await?;
        tracing::info!(command_id = %command.id, "repeat of a finished command; outcome published again");
        return Ok(Disposition::Done);
    }
    if let Some(r) = outcome::unknown_number(state, &command) {
        return outcome::finish(state, &out, None, out.rejected(&r)).await;
    }
    let who = recipient::resolve(state, &command, now_ms).await?;
    if let Payload::Close(close) = &command.payload {
        return crate::close::run(state, &out, &who, close).await;
    }
    let attempt = state.items().load_attempt(command.id.as_str()).await?;
    // Meta accepted it before: it went out, whatever changed since (window, consent, lease).
    if let Some(acceptance) = attempt.as_ref().and_then(|a| a.record.accepted.as_ref()) {
        tracing::info!(command_id = %command.id, "Meta accepted this command before; finishing it as accepted");
        accept::finish(state, &out, &who, acceptance).await?;
        return Ok(Disposition::Done);
    }
    let conversation = who.conversation.as_ref().map(|c| &c.record);
    if let Some(r) = crate::rating::refusal(&command, conversation) {
        return outcome::finish(state, &out, who.contact.clone(), out.rejected(&r)).await;
    }
    let plan = match recipient::plan(state, &command, &who).await? {
        Ok(plan) => plan,
        Err(r) => return outcome::finish(state, &out, who.contact.clone(), out.rejected(&r)).await,
    };
    let first_seen = attempt.as_ref().map(|a| a.record.first_seen_ms);
    let deadline = Deadline::of(&command, record, first_seen, state.config().max_age, now_ms);
    let contact = who.contact.clone();
    let gate = admit::gate(
        state,
        record,
        &command,
        &out,
        contact,
        attempt.as_ref(),
        deadline,
        time,
    );
    if let Some(waits) = gate.await? {
        return Ok(waits);
    }
    let Some(mut claim) = claim::take(state, &command, attempt).await? else {
        // Another delivery claimed it first.
        return Ok(Disposition::Defer(Duration::from_secs(1)));
    };
    let sent = claim::send_planned(state, &command, &who, plan, &mut claim).await;
    policy::settle(state, record, &command, &out, &who, claim, sent, deadline).await
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
