//! May a send start now? A claim of another delivery still within its lease, a `not_before`
//! (Meta's marketing cap), the command's deadline, the pair rate and the number's throughput,
//! and the invocation's time left each say wait, end, or go.

use aws_lambda_events::event::sqs::SqsMessage;
use shared::store::Versioned;

use super::defer::{self, Deadline, Wait, WaitReason};
use super::outcome::{finish, Outcome};
use super::{millis, ms, SenderError};
use crate::budget;
use crate::command::{Command, Payload};
use crate::fifo::{Disposition, RecordTime};
use crate::graph::MetaApiError;
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
    if let Some(wait) = limits(state, command, now_ms).await? {
        return defer::wait(state, record, out, contact, wait, deadline, attempts)
            .await
            .map(Some);
    }
    if !budget::start_send(state.config(), time) {
        tracing::info!(command_id = %command.id, "too late in the invocation to start a send; deferred");
        return Ok(Some(Disposition::Defer(std::time::Duration::from_secs(1))));
    }
    Ok(None)
}

/// Rate limits: `None` to go now, `Some(wait)` to defer the command.
async fn limits(
    state: &impl Ports,
    command: &Command,
    now_ms: i64,
) -> Result<Option<Wait>, SenderError> {
    if matches!(command.payload, Payload::MarkRead { .. }) {
        return Ok(None);
    }
    let pn = &command.phone_number_id;
    let max_wait = state.config().max_in_process_wait;
    if let Some(to) = &command.to {
        let key = to.rate_key();
        let mut now = now_ms;
        loop {
            match state
                .limiter()
                .take_pair(state.items(), pn, &key, now)
                .await?
            {
                Ok(()) => break,
                Err(wait) if wait <= max_wait => {
                    tokio::time::sleep(wait).await;
                    now = shared::now_ms();
                }
                Err(wait) => {
                    tracing::info!(to = %to.masked(), wait_ms = wait.as_millis() as u64, "pair rate: recipient deferred");
                    return Ok(Some(Wait::new(wait, WaitReason::PairRate)));
                }
            }
        }
    }
    if state.limiter().admit_now(state.items(), pn).await? {
        return Ok(None);
    }
    let turn = state.limiter().line_up(state.items(), pn).await?;
    tracing::info!(phone_number_id = %pn, wait_ms = turn.as_millis() as u64, "throughput: the number is booked beyond the horizon; waits for its turn");
    Ok(Some(Wait::new(turn, WaitReason::Throughput)))
}
