//! What happens to one command, start to outcome.
//!
//! 1. A command whose outcome is in the outbox (`cmd:<command_id>`) is a repeat: its outcome
//!    events are published again with their `event_id`s, nothing is sent. A command whose claim
//!    holds Meta's answer was sent: it finishes as `command.accepted` ([`crate::accept`]).
//! 2. Checks that need no call: schema and limits, known phone number, window, consent
//!    ([`crate::consent`]).
//! 3. The attempt item says whether a send may start. A send left `Sending` past its lease by a
//!    crash or a lost answer is "maybe sent": it ends as `command.failed` (`outcome_unknown`),
//!    never as a second send.
//! 4. Pair rate, then throughput (waits that are short happen here; long ones defer).
//! 5. Claim (`Sending`), call Meta, then record the outcome by class.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::{Map, Value};
use shared::events::{self, ContactRef, EventSource, EventType, PendingEvent};
use shared::outbox::{self, OutboxError};
use shared::queue::{MessageSink, QueueError};
use shared::secrets::SecretsError;
use shared::store::{Commit, ContactState, Expect, ProcessorStore, StoreError, Versioned};

use crate::accept::{self, Acceptance};
use crate::command::{Command, CommandType, Invalid, Payload, RejectReason, Rejection};
use crate::consent;
use crate::fifo::Disposition;
use crate::fifo::RecordTime;
use crate::graph::{ErrorClass, GraphApi, MetaApiError, SendResult};
use crate::metrics;
use crate::store::{Attempt, AttemptState, SenderStore};
use crate::visibility::{backoff, MAX_VISIBILITY};
use crate::{budget, State};

mod defer;

use defer::{Deadline, Wait, WaitReason};

/// 131049: Meta's per-user marketing cap; retrying earlier extends the block.
const MARKETING_CAP_WAIT: Duration = Duration::from_secs(24 * 3600);
/// How long the attempt item outlives the command (beyond SQS's 4-day retention).
const ATTEMPT_TTL_SECS: i64 = 5 * 86_400;

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
}

/// Handles one record; never fails: an error becomes a short, jittered deferral.
pub async fn process<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    record: SqsMessage,
    time: &RecordTime,
) -> Disposition
where
    S: ProcessorStore,
    L: SenderStore,
    Q: MessageSink,
    G: GraphApi,
{
    match run(state, &record, time).await {
        Ok(d) => d,
        // Treated as Meta refusing the token: alarm, keep the command queued.
        Err(SenderError::Secrets(SecretsError::Unset { what })) => {
            metrics::access_token_unset();
            tracing::error!(
                missing = what,
                "the sender's secret has no usable access token; command kept queued"
            );
            Disposition::Defer(state.config.credential_retry)
        }
        Err(err) => {
            tracing::warn!(error = %shared::telemetry::error_chain(&err), "command not handled now; it will come back");
            Disposition::Defer(backoff(0, state.config.retry_base, state.config.retry_max))
        }
    }
}

/// Everything known about the command's recipient.
pub(crate) struct Recipient {
    pub(crate) contact: Option<ContactRef>,
    pub(crate) contact_id: Option<String>,
    /// The wa_id Meta gave us for this person: what we send to.
    wa_id: Option<String>,
    window_open: bool,
    opted_out: bool,
}

async fn run<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    record: &SqsMessage,
    time: &RecordTime,
) -> Result<Disposition, SenderError>
where
    S: ProcessorStore,
    L: SenderStore,
    Q: MessageSink,
    G: GraphApi,
{
    let now_ms = shared::now_ms();
    let command = match state.validators.parse(record.body.as_deref().unwrap_or("")) {
        Ok(c) => c,
        Err(invalid) => return reject_invalid(state, record, *invalid, now_ms).await,
    };
    tracing::info!(command_id = %command.id, kind = command.kind.as_str(), "command received");
    let out = Outcome::new(&command, now_ms);
    if let Some(existing) = state.store.load_outbox(&out.key).await? {
        accept::repeat(state, &out, &existing).await?;
        tracing::info!(command_id = %command.id, "repeat of a finished command; outcome published again");
        return Ok(Disposition::Done);
    }
    if !state
        .config
        .phone_number_ids
        .contains(&command.phone_number_id)
    {
        let r = Rejection {
            reason: RejectReason::UnknownPhoneNumberId,
            message: format!(
                "phone_number_id {} is not a business number of this bridge",
                command.phone_number_id
            ),
            field: Some("/phone_number_id".into()),
        };
        return finish(state, &out, None, out.rejected(&r)).await;
    }
    let who = recipient(state, &command, now_ms).await?;
    let contact = who.contact.clone();
    let attempt = state.sender_store.load_attempt(command.id.as_str()).await?;
    // Meta accepted it before: it went out, whatever changed since (window, consent, lease).
    if let Some(acceptance) = attempt.as_ref().and_then(|a| a.record.accepted.as_ref()) {
        tracing::info!(command_id = %command.id, "Meta accepted this command before; finishing it as accepted");
        accept::finish(state, &out, &who, acceptance).await?;
        return Ok(Disposition::Done);
    }

    let mut fallback_used = false;
    if command.is_free_form() && !who.window_open {
        if command.fallback.is_none() {
            let r = Rejection::new(
                RejectReason::WindowClosed,
                "the contact's 24-hour customer-service window is closed; send a template (or add fallback_template)",
            );
            return finish(state, &out, contact, out.rejected(&r)).await;
        }
        fallback_used = true;
    }
    let template = if fallback_used {
        command.fallback.as_ref()
    } else {
        command.template.as_ref()
    };
    if let Some(t) = template.filter(|_| who.opted_out) {
        if let Some(r) = consent::opted_out_refusal(&state.sender_store, t).await? {
            return finish(state, &out, contact, out.rejected(&r)).await;
        }
    }

    // May a send start?
    let deadline = Deadline::of(
        &command,
        record,
        attempt.as_ref().map(|a| a.record.first_seen_ms),
        state.config.max_age,
        now_ms,
    );
    let attempts = attempt.as_ref().map_or(1, |a| a.record.attempts());
    if let Some(a) = &attempt {
        if a.record.state == AttemptState::Sending {
            let lease_end = a.record.started_at_ms + millis(budget::send_lease(time.deadline()));
            if now_ms < lease_end {
                return Ok(Disposition::Defer(ms(lease_end - now_ms)));
            }
            tracing::error!(command_id = %command.id, "a send of this command may have happened and its answer was lost; not sending again");
            return finish(state, &out, contact, out.outcome_unknown(&a.record)).await;
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
            return defer::wait(state, record, &out, contact, wait, deadline, attempts).await;
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
            &out,
            contact,
            out.failed_after("expired", &error, attempts),
        )
        .await;
    }

    if let Some(wait) = admit(state, &command, now_ms).await? {
        return defer::wait(state, record, &out, contact, wait, deadline, attempts).await;
    }

    if !budget::start_send(&state.config, time) {
        tracing::info!(command_id = %command.id, "too late in the invocation to start a send; deferred");
        return Ok(Disposition::Defer(Duration::from_secs(1)));
    }
    // Claim: from here until the answer is recorded, a redelivery will not send.
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
    if !state.sender_store.save_attempt(&claim, expect).await? {
        return Ok(Disposition::Defer(Duration::from_secs(1)));
    }
    let mut claim = Claimed {
        version: match expect {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        },
        attempt: claim,
    };

    let to = who.wa_id.as_ref().map(|w| format!("+{w}"));
    let mut body = command.send_body(template.filter(|_| fallback_used), to.as_deref());
    let mut result = send(state, &command, &body, &mut claim).await;
    if let Ok(SendResult::Refused(e)) = &result {
        if e.class() == ErrorClass::WindowClosed && !fallback_used {
            if let Some(fallback) = &command.fallback {
                tracing::info!(command_id = %command.id, "Meta says the window is closed; sending the fallback template");
                fallback_used = true;
                body = command.send_body(Some(fallback), to.as_deref());
                result = send(state, &command, &body, &mut claim).await;
            }
        }
    }
    let result = match result {
        Ok(r) => r,
        // No usable token: treated as Meta refusing it (alarmed); the command waits for an
        // operator out of the queue.
        Err(SenderError::Secrets(SecretsError::Unset { what })) => {
            metrics::access_token_unset();
            tracing::error!(
                missing = what,
                "the sender's secret has no usable access token; command kept waiting"
            );
            let wait = Wait::new(state.config.credential_retry, WaitReason::Credentials);
            let attempts = claim.attempt.attempts();
            return defer::wait(state, record, &out, contact, wait, deadline, attempts).await;
        }
        Err(e) => return Err(e),
    };
    let waiting = Waiting { record, deadline };
    match result {
        SendResult::Accepted { wamid, wa_id } => {
            let answer = Acceptance::of(&body, wamid, wa_id, fallback_used, shared::now_ms());
            accept::record(state, &out, &who, claim, answer).await?;
            Ok(Disposition::Done)
        }
        SendResult::Unknown(reason) => {
            tracing::error!(command_id = %command.id, %reason, "send outcome unknown; not sending again");
            finish(state, &out, contact, out.outcome_unknown(&claim.attempt)).await
        }
        SendResult::NotSent(err) => {
            tracing::warn!(command_id = %command.id, error = %err, "Graph API unreachable; nothing was sent");
            retry(state, &out, contact, claim, None, waiting).await
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
            retry(state, &out, contact, claim, Some(error), waiting).await
        }
        SendResult::Refused(e) => {
            tracing::warn!(command_id = %command.id, code = e.code, title = %e.title, "Meta refused the send");
            refused(state, &command, &out, contact, claim, e, waiting).await
        }
    }
}

/// What a wait after a send needs to know about the delivery.
#[derive(Clone, Copy)]
struct Waiting<'a> {
    record: &'a SqsMessage,
    deadline: Deadline,
}

/// The attempt item as claimed, with the version the next write must find.
pub(crate) struct Claimed {
    pub(crate) attempt: Attempt,
    pub(crate) version: u64,
}

impl Claimed {
    /// Puts the attempt back to `Idle` (the answer said nothing was sent).
    async fn release<L: SenderStore>(&mut self, store: &L) -> Result<(), StoreError> {
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
async fn send<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    command: &Command,
    body: &Value,
    claim: &mut Claimed,
) -> Result<SendResult, SenderError>
where
    L: SenderStore,
    G: GraphApi,
{
    let pn = &command.phone_number_id;
    let first = state.graph.send(pn, body).await;
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
        match state.graph.refresh_credentials().await {
            Ok(()) => state.graph.send(pn, body).await,
            Err(e) => Err(e),
        }
    } else {
        first
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            claim.release(&state.sender_store).await?;
            Err(e.into())
        }
    }
}

/// Decides on Meta's refusal by its class (reference §6).
async fn refused<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    command: &Command,
    out: &Outcome,
    contact: Option<ContactRef>,
    mut claim: Claimed,
    error: MetaApiError,
    waiting: Waiting<'_>,
) -> Result<Disposition, SenderError>
where
    S: ProcessorStore,
    L: SenderStore,
    Q: MessageSink,
{
    let now_ms = shared::now_ms();
    match error.class() {
        ErrorClass::Retryable => retry(state, out, contact, claim, Some(error), waiting).await,
        ErrorClass::PairRate => {
            claim.attempt.pair_hits += 1;
            let hold = Duration::from_secs(4u64.saturating_pow(claim.attempt.pair_hits.min(8)))
                .min(MAX_VISIBILITY);
            if let Some(to) = &command.to {
                state
                    .limiter
                    .hold_pair(
                        &state.sender_store,
                        &command.phone_number_id,
                        &to.rate_key(),
                        now_ms,
                        hold,
                    )
                    .await?;
            }
            claim.attempt.last_error = Some(error.clone());
            claim.release(&state.sender_store).await?;
            let wait = Wait::after(hold, WaitReason::PairRate, error);
            waiting.wait(state, out, contact, wait, &claim).await
        }
        ErrorClass::MarketingCap if claim.attempt.cap_hits == 0 => {
            claim.attempt.cap_hits = 1;
            claim.attempt.not_before_ms = Some(now_ms + millis(MARKETING_CAP_WAIT));
            claim.attempt.last_error = Some(error.clone());
            claim.release(&state.sender_store).await?;
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
            claim.release(&state.sender_store).await?;
            let wait = Wait::after(state.config.credential_retry, reason, error);
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
async fn retry<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    out: &Outcome,
    contact: Option<ContactRef>,
    mut claim: Claimed,
    error: Option<MetaApiError>,
    waiting: Waiting<'_>,
) -> Result<Disposition, SenderError>
where
    S: ProcessorStore,
    L: SenderStore,
    Q: MessageSink,
{
    let error = error.unwrap_or_else(|| MetaApiError {
        code: 0,
        subcode: None,
        title: "Graph API unreachable".into(),
        details: None,
        fbtrace_id: None,
    });
    let delay = backoff(
        claim.attempt.retries,
        state.config.retry_base,
        state.config.retry_max,
    );
    claim.attempt.retries += 1;
    claim.attempt.last_error = Some(error.clone());
    claim.release(&state.sender_store).await?;
    let wait = Wait::after(delay, WaitReason::Retry, error);
    waiting.wait(state, out, contact, wait, &claim).await
}

impl Waiting<'_> {
    async fn wait<S, L, Q, G, V>(
        self,
        state: &State<S, L, Q, G, V>,
        out: &Outcome,
        contact: Option<ContactRef>,
        wait: Wait,
        claim: &Claimed,
    ) -> Result<Disposition, SenderError>
    where
        S: ProcessorStore,
        Q: MessageSink,
    {
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

/// Rate limits: `None` to go now, `Some(wait)` to defer the command.
async fn admit<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    command: &Command,
    now_ms: i64,
) -> Result<Option<Wait>, SenderError>
where
    L: SenderStore,
{
    if matches!(command.payload, Payload::MarkRead { .. }) {
        return Ok(None);
    }
    let pn = &command.phone_number_id;
    let max_wait = state.config.max_in_process_wait;
    if let Some(to) = &command.to {
        let key = to.rate_key();
        let mut now = now_ms;
        loop {
            match state
                .limiter
                .take_pair(&state.sender_store, pn, &key, now)
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
    if state.limiter.admit_now(&state.sender_store, pn).await? {
        return Ok(None);
    }
    let turn = state.limiter.line_up(&state.sender_store, pn).await?;
    tracing::info!(phone_number_id = %pn, wait_ms = turn.as_millis() as u64, "throughput: the number is booked beyond the horizon; waits for its turn");
    Ok(Some(Wait::new(turn, WaitReason::Throughput)))
}

/// Looks the recipient up with the processor's identity rules.
async fn recipient<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    command: &Command,
    now_ms: i64,
) -> Result<Recipient, SenderError>
where
    S: ProcessorStore,
{
    let pn = &command.phone_number_id;
    let Some(to) = &command.to else {
        return Ok(Recipient {
            contact: None,
            contact_id: None,
            wa_id: None,
            window_open: false,
            opted_out: false,
        });
    };
    let identity = to.identity();
    let aliases = state.store.find_aliases(pn, &identity.alias_keys()).await?;
    let state_found = match aliases.first() {
        Some(a) => state.store.load_contact(pn, &a.contact_id).await?,
        None => ContactState::default(),
    };
    let now_s = now_ms / 1000;
    let window_open = state_found.conversation.as_ref().is_some_and(|c| {
        c.record.window_expires_at.is_some_and(|e| e > now_s) && c.record.window_closed_at.is_none()
    });
    Ok(match state_found.contact {
        Some(c) => Recipient {
            contact: Some(c.record.to_ref()),
            contact_id: Some(c.record.contact_id.clone()),
            wa_id: c.record.wa_id.clone(),
            window_open,
            opted_out: c.record.marketing_opt_out,
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
                    name: None,
                }),
                contact_id: id,
                wa_id: None,
                window_open,
                opted_out: false,
            }
        }
    })
}

/// Records a final outcome (rejected or failed) and publishes it.
async fn finish<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    out: &Outcome,
    contact: Option<ContactRef>,
    (event_type, data): (EventType, Map<String, Value>),
) -> Result<Disposition, SenderError>
where
    S: ProcessorStore,
    Q: MessageSink,
{
    let now_ms = shared::now_ms();
    let retention = i64::from(state.config.retention_days) * 86_400;
    tracing::info!(command_id = %out.command_id, outcome = event_type.as_str(), reason = ?data.get("reason"), "command finished");
    let event = out.event(event_type, contact, data)?;
    let record = outbox::outbox(&out.key, vec![event], now_ms, now_ms / 1000 + retention);
    outbox::apply_once(&state.store, &state.events, &out.key, || {
        let commit = Commit {
            outbox: Some(record.clone()),
            writes: Vec::new(),
        };
        async move { Ok::<_, OutboxError>(Some(commit)) }
    })
    .await?;
    Ok(Disposition::Done)
}

/// A command that could not be read: rejected, keyed by its id if it had one, else by the SQS
/// deduplication id (the CRM sets it to the command id) or message id.
async fn reject_invalid<S, L, Q, G, V>(
    state: &State<S, L, Q, G, V>,
    record: &SqsMessage,
    invalid: Invalid,
    now_ms: i64,
) -> Result<Disposition, SenderError>
where
    S: ProcessorStore,
    Q: MessageSink,
{
    let key_id = invalid
        .command_id
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .or_else(|| record.attributes.get("MessageDeduplicationId").cloned())
        .or_else(|| record.message_id.clone())
        .unwrap_or_default();
    // The reason and the field, not the message: it may quote what the CRM sent.
    tracing::warn!(
        reason = invalid.rejection.reason.as_str(),
        field = invalid.rejection.field.as_deref(),
        "invalid command rejected"
    );
    let out = Outcome {
        key: format!("cmd:{key_id}"),
        command_id: key_id,
        known_id: invalid.command_id.is_some(),
        kind: invalid.kind,
        phone_number_id: invalid.phone_number_id.clone().unwrap_or_default(),
        now_ms,
    };
    if let Some(existing) = state.store.load_outbox(&out.key).await? {
        accept::repeat(state, &out, &existing).await?;
        return Ok(Disposition::Done);
    }
    let rejected = out.rejected(&invalid.rejection);
    finish(state, &out, None, rejected).await
}

/// Builds a command's outcome events; one outcome per command, keyed `cmd:<command_id>`.
pub(crate) struct Outcome {
    pub(crate) key: String,
    pub(crate) command_id: String,
    /// False when the body carried no usable `command_id` (then `command_id` is the SQS id).
    known_id: bool,
    kind: Option<CommandType>,
    pub(crate) phone_number_id: String,
    now_ms: i64,
}

impl Outcome {
    fn new(command: &Command, now_ms: i64) -> Self {
        Self {
            key: command.id.outcome_key(),
            command_id: command.id.as_str().to_owned(),
            known_id: true,
            kind: Some(command.kind),
            phone_number_id: command.phone_number_id.clone(),
            now_ms,
        }
    }

    pub(crate) fn base(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "command_id".into(),
            if self.known_id {
                self.command_id.clone().into()
            } else {
                Value::Null
            },
        );
        m.insert(
            "command_type".into(),
            self.kind.map(CommandType::as_str).into(),
        );
        m
    }

    fn rejected(&self, r: &Rejection) -> (EventType, Map<String, Value>) {
        let mut m = self.base();
        m.insert("reason".into(), r.reason.as_str().into());
        m.insert("message".into(), r.message.clone().into());
        m.insert("field".into(), r.field.clone().into());
        (EventType::CommandRejected, m)
    }

    fn failed(
        &self,
        reason: &str,
        e: &MetaApiError,
        a: &Attempt,
    ) -> (EventType, Map<String, Value>) {
        self.failed_after(reason, e, a.attempts())
    }

    fn failed_after(
        &self,
        reason: &str,
        e: &MetaApiError,
        attempts: u32,
    ) -> (EventType, Map<String, Value>) {
        let mut m = self.base();
        m.insert("reason".into(), reason.into());
        m.insert("code".into(), e.code.into());
        m.insert("title".into(), e.title.clone().into());
        m.insert("details".into(), e.details.clone().into());
        m.insert("fbtrace_id".into(), e.fbtrace_id.clone().into());
        m.insert("attempts".into(), attempts.into());
        (EventType::CommandFailed, m)
    }

    fn outcome_unknown(&self, a: &Attempt) -> (EventType, Map<String, Value>) {
        let mut m = self.base();
        m.insert("reason".into(), "outcome_unknown".into());
        m.insert("code".into(), Value::Null);
        m.insert(
            "title".into(),
            "The message may have been sent; it is not sent again".into(),
        );
        m.insert(
            "details".into(),
            "The answer to the send was lost (timeout or crash). If Meta accepted it, statuses will carry biz_opaque_callback_data = command_id.".into(),
        );
        m.insert("fbtrace_id".into(), Value::Null);
        m.insert("attempts".into(), a.attempts().into());
        (EventType::CommandFailed, m)
    }

    pub(crate) fn event(
        &self,
        event_type: EventType,
        contact: Option<ContactRef>,
        data: Map<String, Value>,
    ) -> Result<PendingEvent, serde_json::Error> {
        self.keyed_event(&self.key, event_type, contact, data)
    }

    /// An event of this command under another outbox key (a deferral's).
    fn keyed_event(
        &self,
        key: &str,
        event_type: EventType,
        contact: Option<ContactRef>,
        data: Map<String, Value>,
    ) -> Result<PendingEvent, serde_json::Error> {
        let source = EventSource {
            update_key: key.to_owned(),
            phone_number_id: (!self.phone_number_id.is_empty())
                .then(|| self.phone_number_id.clone()),
            waba_id: None,
        };
        source.event(
            event_type,
            0,
            self.now_ms / 1000,
            contact,
            events::data(data)?,
        )
    }
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
