//! May a send start now? A claim of another delivery still within its lease, a `not_before`
//! (Meta's marketing cap), the command's deadline, the pair rate and the number's throughput,
//! and the invocation's time left each say wait, end, or go.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use shared::store::Versioned;

use super::defer::{self, Deadline, Wait, WaitReason};
use super::outcome::{finish, Outcome};
use super::{millis, ms, SenderError};
use crate::budget;
use crate::command::{Command, Payload};
use crate::fifo::{Disposition, RecordTime};
use crate::graph::MetaApiError;
use crate::limiter::Admission;
use crate::store::{Attempt, AttemptState};
use crate::Ports;
use shared::events::ContactRef;

/// `None` to claim the send now; `Some(disposition)` when the command waits or has ended.
#[allow(clippy::too_many_arguments)]
pub async fn gate(
    state: &impl Ports,
    record: &SqsMessage,
    command: &Command,
    out: &Outcome,
    contact: Option<ContactRef>,
    attempt: Option<&Versioned<Attempt>>,
    deadline: Deadline,
    time: &RecordTime,
) -> Result<Option<Disposition>, SenderError> {
    let now_ms = shared::now_ms();
    let attempts = attempt.map_or(1, |a| a.record.attempts());
    if let Some(a) = attempt {
        if a.record.state == AttemptState::Sending {
            let lease_end = a.record.started_at_ms + millis(budget::send_lease(time.deadline()));
            if now_ms < lease_end {
                return Ok(Some(Disposition::Defer(ms(lease_end - now_ms))));
            }
            tracing::error!(command_id = %command.id, "a send of this command may have happened and its answer was lost; not sending again");
            return finish(state, out, contact, out.outcome_unknown(&a.record))
                .await
                .map(Some);
        }
        if let Some(nb) = a.record.not_before_ms.filter(|nb| *nb > now_ms) {
            let reason = if a.record.cap_hits > 0 {
                WaitReason::MarketingCap
            } else {
                WaitReason::Retry
            };
            let wait = Wait {
                delay: ms(nb - now_ms),
                reason,
                error: a.record.last_error.clone(),
            };
            return defer::wait(state, record, out, contact, wait, deadline, attempts)
                .await
                .map(Some);
        }
    }
    if deadline.passed(now_ms) {
        let error = MetaApiError {
            code: 0,
            subcode: None,
            title: "the command's deadline (expires_at, or COMMAND_MAX_AGE_SECONDS) passed before it could be sent".into(),
            details: None,
            fbtrace_id: None,
        };
        return finish(
            state,
            out,
            contact,
            out.failed_after("expired", &error, attempts),
        )
        .await
        .map(Some);
    }
    match limits(state, command, time).await? {
        // The send time was checked against the claim window when the limiter handed it out
        // (with its lateness allowance): checking again now would only find the time this
        // machine took to wake the record, and defer a command that holds its token and time.
        Limited::Admitted => time.commit(),
        Limited::Unlimited if budget::start_send(state.config(), time) => {}
        Limited::Unlimited | Limited::TooLate => return Ok(Some(too_late(command))),
        Limited::Wait(wait) => {
            return defer::wait(state, record, out, contact, wait, deadline, attempts)
                .await
                .map(Some)
        }
    }
    Ok(None)
}

/// The invocation has no time left for a send: back in a moment, to an invocation with time.
fn too_late(command: &Command) -> Disposition {
    tracing::info!(command_id = %command.id, "too late in the invocation to start a send; deferred");
    Disposition::Defer(Duration::from_secs(1))
}

/// What the rate limits decided.
enum Limited {
    /// Send now: the pair token and a send time within the claim window are taken.
    Admitted,
    /// No limit applies (`mark_read`): the send may start if the time left covers it.
    Unlimited,
    /// Wait this long (in the queue or out of it); nothing was taken.
    Wait(Wait),
    /// No send time the invocation can still use; nothing was taken.
    TooLate,
}

/// Rate limits: the pair rate and the number's throughput, within the time the invocation can
/// still start a send (`budget::claim_window`). Short pair-rate waits happen here.
async fn limits(
    state: &impl Ports,
    command: &Command,
    time: &RecordTime,
) -> Result<Limited, SenderError> {
    if matches!(command.payload, Payload::MarkRead { .. }) {
        return Ok(Limited::Unlimited);
    }
    let pn = &command.phone_number_id;
    let key = command.to.as_ref().map(|to| to.rate_key());
    let max_wait = state.config().max_in_process_wait;
    loop {
        let Some(within) = budget::claim_window(state.config(), time) else {
            return Ok(Limited::TooLate);
        };
        let admission = state
            .limiter()
            .admit(state.items(), pn, key.as_deref(), shared::now_ms(), within)
            .await?;
        match admission {
            Admission::Go => return Ok(Limited::Admitted),
            Admission::TooLate => return Ok(Limited::TooLate),
            Admission::PairWait(wait) if wait <= max_wait && wait < within => {
                tokio::time::sleep(wait).await;
            }
            Admission::PairWait(wait) => {
                let to = command.to.as_ref().map(|t| t.masked()).unwrap_or_default();
                tracing::info!(to = %to, wait_ms = wait.as_millis() as u64, "pair rate: recipient deferred");
                return Ok(Limited::Wait(Wait::new(wait, WaitReason::PairRate)));
            }
            Admission::Booked => {
                let turn = state.limiter().line_up(state.items(), pn).await?;
                tracing::info!(phone_number_id = %pn, wait_ms = turn.as_millis() as u64, "throughput: the number is booked beyond the horizon; waits for its turn");
                return Ok(Limited::Wait(Wait::new(turn, WaitReason::Throughput)));
            }
        }
    }
}
