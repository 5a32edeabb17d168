//! The simulator's shared state and behaviour, independent of HTTP: send handling (token, checks,
//! faults, limits), the request log, inbound delivery and status webhooks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::config::SimConfig;
use crate::errors::{self, MetaError};
use crate::ids;
use crate::late::{self, LateAnswer, LateAnswerError};
use crate::limits::{Limits, Refusal};
use crate::media::{
    Download, DownloadRefusal, MediaFault, MediaRequestError, MediaStore, RegisteredMedia,
};
use crate::send::{self, OutboundMessage, Recipient, SendRequest};
use crate::webhook::{
    self, Conversation, DeliveryError, Envelope, InboundContact, InboundText, InboundValue,
    Metadata, Origin, Pricing, Profile, Status, StatusValue, TextBody, WebhookClient,
};

/// Above this many entries the user-id → wa_id and template category maps start over
/// (bounded memory).
const MAX_USER_IDS: usize = 100_000;

/// Meta's Graph API in a box. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

/// The simulator's clock in Unix milliseconds: the system's, or the local stack's functions'
/// clock so a test's time travel expires media URLs too.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Inner {
    cfg: SimConfig,
    clock: Clock,
    media: Mutex<MediaStore>,
    webhook: WebhookClient,
    status_tasks: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    requests: VecDeque<RecordedRequest>,
    webhooks: VecDeque<DeliveredWebhook>,
    faults: Vec<Fault>,
    late_answers: Vec<LateAnswer>,
    limits: Limits,
    /// Business-scoped user id → wa_id, learnt from inbound messages.
    user_ids: HashMap<String, String>,
    /// `(name, language)` → category (lower case), learnt from the template webhooks it
    /// delivered (`message_template_status_update`, a done `template_category_update`).
    template_categories: HashMap<(String, String), String>,
}

/// One send request as received, and what the simulator answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The request path, e.g. `/v25.0/106540352242922/messages`.
    pub path: String,
    /// The body as received (a JSON string holding the text if it was not JSON).
    pub body: Value,
    /// When it arrived, Unix milliseconds.
    pub time: u64,
    pub response_status: u16,
    /// The answer, as sent.
    pub response: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// The Meta error code when the request was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
}

/// One webhook the simulator POSTed (inbound message, status or custom change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveredWebhook {
    pub field: String,
    /// The body exactly as signed and sent.
    pub body: String,
    pub signature: String,
    /// When it was sent, Unix milliseconds.
    pub time: u64,
    /// The receiver's HTTP status, or none if it could not be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an injected failure shows up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// The send call itself fails with Meta's error (the default).
    #[default]
    Response,
    /// The send call succeeds and a `failed` status webhook carries the error later.
    Status,
}

/// "The next `times` sends to `to` fail with `code`" (`to` may be `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub to: String,
    pub code: u32,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub mode: FaultMode,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn matches(&self, keys: &[&str]) -> bool {
        targets(&self.to, keys)
    }
}

/// Whether a rule's `to` (`*`, a user id, or a phone number in any punctuation) names one of
/// `keys` (what a send was addressed to and whom it resolved to).
pub(crate) fn targets(to: &str, keys: &[&str]) -> bool {
    if to == "*" {
        return true;
    }
    // A phone number matches by its digits, so `+1 650…` and `1650…` name the same user.
    let phone_like = to
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | ' ' | '.'));
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    keys.iter()
        .any(|k| *k == to || (phone_like && !digits.is_empty() && *k == digits))
}

/// Why a fault was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("unknown Meta error code {0}; known codes: {known}", known = known_codes())]
    UnknownCode(u32),
    #[error("times must be at least 1")]
    ZeroTimes,
    #[error("to must be a recipient or *")]
    EmptyTarget,
}

fn known_codes() -> String {
    let mut codes: Vec<String> = errors::KNOWN.iter().map(|k| k.code.to_string()).collect();
    codes.push("200-299".to_owned());
    codes.join(", ")
}

/// A text message "from a user" for [`Simulator::deliver_inbound`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRequest {
    /// The user's wa_id (digits; a leading `+` is dropped).
    pub from: String,
    #[serde(default)]
    pub name: Option<String>,
    pub text: String,
    /// Unix seconds; now if absent.
    #[serde(default)]
    pub timestamp: Option<u64>,
    /// The user's business-scoped user id, e.g. `US.13491208655302741918`.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// Why an inbound request was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("from must be a wa_id: 1 to 15 digits")]
    InvalidFrom,
}

/// What happened to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundOutcome {
    pub wamid: String,
    /// The webhook's HTTP status, or `Err(reason)` if it was unreachable.
    pub webhook_status: Result<u16, String>,
}

/// The simulator's answer to a send request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    pub status: u16,
    /// The JSON text answered, fields in Meta's order.
    pub body: String,
    /// Set for errors: code 190 answers carry `WWW-Authenticate`.
    pub error: Option<MetaError>,
    pub wamid: Option<String>,
    /// Answer this much later (a late-answer rule); the statuses are not held back.
    pub answer_after: Option<Duration>,
}

/// What an accepted send owes: the answer, the wamid, the statuses and the answer's delay.
struct Accepted {
    body: String,
    wamid: Option<String>,
    plan: Option<StatusPlan>,
    answer_after: Option<Duration>,
}

/// Graph's answer to an accepted message, fields in Meta's order.
#[derive(Serialize)]
struct SendAnswer<'a> {
    messaging_product: &'static str,
    contacts: [AnswerContact<'a>; 1],
    messages: [AnswerMessage<'a>; 1],
}

#[derive(Serialize)]
struct AnswerContact<'a> {
    input: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wa_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    id: &'a str,
}

/// Status webhooks owed for an accepted message.
struct StatusPlan {
    wamid: String,
    recipient_id: Option<String>,
    recipient_user_id: Option<String>,
    is_template: bool,
    steps: &'static [&'static str],
    failure: Option<MetaError>,
    with_conversation: bool,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_clock(
            cfg,
            Arc::new(|| i64::try_from(unix_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// A simulator whose media URLs expire on `clock` (the local runner passes its functions').
    pub fn with_clock(cfg: SimConfig, clock: Clock) -> Self {
        let limits = Limits::new(
            cfg.throughput_per_second,
            cfg.pair_rate_burst,
            cfg.pair_rate_refill,
            cfg.service_window,
        );
        Self {
            inner: Arc::new(Inner {
                webhook: WebhookClient::new(cfg.webhook_url.clone(), cfg.webhook_timeout),
                status_tasks: Arc::new(Semaphore::new(cfg.max_status_tasks)),
                state: Mutex::new(State {
                    requests: VecDeque::new(),
                    webhooks: VecDeque::new(),
                    faults: Vec::new(),
                    late_answers: Vec::new(),
                    limits,
                    user_ids: HashMap::new(),
                    template_categories: HashMap::new(),
                }),
                clock,
                media: Mutex::new(MediaStore::new(cfg.log_capacity)),
                cfg,
            }),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the simulator down with it: the state stays usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Handles `POST /{version}/{phone_number_id}/messages`: checks, answers, records the request
    /// and schedules status webhooks. `authorization` is the raw header value.
    pub fn handle_send(
        &self,
        path: &str,
        version: &str,
        phone_number_id: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> SendOutcome {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let (outcome, plan) = match self.decide(
            version,
            phone_number_id,
            authorization,
            body,
            parsed.as_ref(),
        ) {
            Ok(accepted) => (
                SendOutcome {
                    status: 200,
                    body: accepted.body,
                    error: None,
                    wamid: accepted.wamid,
                    answer_after: accepted.answer_after,
                },
                accepted.plan,
            ),
            Err(err) => {
                tracing::info!(code = err.code, status = err.http_status, "send refused");
                (
                    SendOutcome {
                        status: err.http_status,
                        body: err.body_json(),
                        error: Some(err),
                        wamid: None,
                        answer_after: None,
                    },
                    None,
                )
            }
        };
        let record = RecordedRequest {
            path: path.to_owned(),
            body: parsed
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned())),
            time: unix_millis(),
            response_status: outcome.status,
            response: serde_json::from_str(&outcome.body).unwrap_or(Value::Null),
            wamid: outcome.wamid.clone(),
            error_code: outcome.error.as_ref().map(|e| e.code),
        };
        {
            let mut state = self.state();
            push_bounded(&mut state.requests, record, self.inner.cfg.log_capacity);
        }
        if let Some(plan) = plan {
            self.spawn_statuses(plan);
        }
        outcome
    }

    fn decide(
        &self,
        version: &str,
        phone_number_id: &str,
        authorization: Option<&str>,
        raw: &[u8],
        body: Option<&Value>,
    ) -> Result<Accepted, MetaError> {
        let cfg = &self.inner.cfg;
        self.check_token(authorization)?;
        let major = graph_major_version(version).ok_or_else(|| unknown_version(version))?;
        if phone_number_id != cfg.business_phone_number_id {
            return Err(MetaError::unknown_object(phone_number_id));
        }
        let body = body.ok_or_else(|| {
            let reason = serde_json::from_slice::<Value>(raw)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            MetaError::invalid(format!("The request body is not valid JSON ({reason})."))
        })?;
        let message = match send::validate(body, &cfg.display_phone_number)? {
            SendRequest::MarkRead { .. } => {
                return Ok(Accepted {
                    body: json!({"success": true}).to_string(),
                    wamid: None,
                    plan: None,
                    answer_after: None,
                })
            }
            SendRequest::Message(message) => message,
        };
        self.admit(message, major < 24)
    }

    /// Faults, then Meta's limits; on success the answer, the wamid and the statuses owed.
    fn admit(
        &self,
        message: OutboundMessage,
        with_conversation: bool,
    ) -> Result<Accepted, MetaError> {
        let mut state = self.state();
        if let (Recipient::UserId(_), Some(template)) = (&message.recipient, &message.template) {
            if state.template_categories.get(template).map(String::as_str) == Some("authentication")
            {
                return Err(MetaError::fault(131062));
            }
        }
        let (wa_id, user_id) = match &message.recipient {
            Recipient::Phone { wa_id, .. } => (Some(wa_id.clone()), None),
            Recipient::UserId(id) => (state.user_ids.get(id).cloned(), Some(id.clone())),
        };
        let key = wa_id
            .clone()
            .or_else(|| user_id.clone())
            .unwrap_or_default();
        let mut keys = vec![message.recipient.input(), key.as_str()];
        if let Some(id) = &user_id {
            keys.push(id);
        }
        let mut failure = None;
        let pos = state.faults.iter().position(|f| f.matches(&keys));
        if let Some((pos, fault)) = pos.and_then(|p| Some((p, state.faults.get_mut(p)?))) {
            fault.times = fault.times.saturating_sub(1);
            let (code, mode, used_up) = (fault.code, fault.mode, fault.times == 0);
            if used_up {
                state.faults.remove(pos);
            }
            match mode {
                FaultMode::Response => return Err(MetaError::fault(code)),
                FaultMode::Status => failure = Some(MetaError::fault(code)),
            }
        }
        if failure.is_none() {
            state
                .limits
                .admit(&key, message.is_free_form(), Instant::now(), unix_secs())
                .map_err(refusal_error)?;
        }
        let answer_after = late::take(&mut state.late_answers, &keys);
        drop(state);

        let wamid = ids::outbound_wamid(&key);
        tracing::info!(to = %mask(message.recipient.input()), kind = %message.kind, wamid = %shared::telemetry::mask_wamid(&wamid), "message accepted");
        let answer = SendAnswer {
            messaging_product: "whatsapp",
            contacts: [AnswerContact {
                input: message.recipient.input(),
                wa_id: wa_id.as_deref(),
                user_id: user_id.as_deref(),
            }],
            messages: [AnswerMessage { id: &wamid }],
        };
        let body = serde_json::to_string(&answer).unwrap_or_default();
        let steps: &'static [&'static str] = if failure.is_some() {
            &["failed"]
        } else if message.kind == "reaction" {
            // A sent reaction only ever gets `sent`.
            &["sent"]
        } else {
            &["sent", "delivered", "read"]
        };
        let plan = (self.inner.cfg.send_statuses).then(|| StatusPlan {
            wamid: wamid.clone(),
            recipient_id: wa_id,
            recipient_user_id: user_id,
            is_template: !message.is_free_form(),
            steps,
            failure,
            with_conversation,
        });
        Ok(Accepted {
            body,
            wamid: Some(wamid),
            plan,
            answer_after,
        })
    }

    fn spawn_statuses(&self, plan: StatusPlan) {
        // `handle_send` is public; called outside a runtime it answers but cannot schedule.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(wamid = %shared::telemetry::mask_wamid(&plan.wamid), "no tokio runtime; statuses skipped");
            return;
        };
        let Ok(permit) = self.inner.status_tasks.clone().try_acquire_owned() else {
            tracing::warn!(wamid = %shared::telemetry::mask_wamid(&plan.wamid), "too many status tasks in flight; statuses skipped");
            return;
        };
        let sim = self.clone();
        runtime.spawn(async move {
            let _permit = permit;
            let delay = sim.inner.cfg.status_delay;
            let conversation_id = ids::conversation_id();
            for &status in plan.steps {
                tokio::time::sleep(delay).await;
                let now = unix_secs();
                let failed = status == "failed";
                let entry = Status {
                    id: plan.wamid.clone(),
                    status,
                    timestamp: now.to_string(),
                    recipient_id: plan.recipient_id.clone(),
                    recipient_user_id: plan.recipient_user_id.clone(),
                    conversation: (plan.with_conversation && !failed).then(|| Conversation {
                        id: conversation_id.clone(),
                        expiration_timestamp: (now + 24 * 60 * 60).to_string(),
                        origin: Origin {
                            kind: if plan.is_template {
                                "utility"
                            } else {
                                "service"
                            },
                        },
                    }),
                    pricing: (!failed).then(|| Pricing::for_message(plan.is_template)),
                    errors: plan.failure.as_ref().map(|e| vec![e.status_error()]),
                };
                let cfg = &sim.inner.cfg;
                let value = StatusValue {
                    messaging_product: "whatsapp",
                    metadata: sim.metadata(),
                    statuses: [entry],
                };
                let envelope = Envelope::new(&cfg.waba_id, "messages", value, now);
                if let Err(err) = sim.deliver("messages", &envelope).await {
                    tracing::warn!(wamid = %shared::telemetry::mask_wamid(&plan.wamid), status, error = %err, "status webhook not delivered");
                }
            }
        });
    }

    fn metadata(&self) -> Metadata<'_> {
        Metadata {
            display_phone_number: &self.inner.cfg.display_phone_number,
            phone_number_id: &self.inner.cfg.business_phone_number_id,
        }
    }

    /// Signs and POSTs one envelope, and logs the delivery.
    async fn deliver<V: Serialize>(
        &self,
        field: &str,
        envelope: &Envelope<'_, V>,
    ) -> Result<u16, DeliveryError> {
        let (body, signature) = webhook::sign_envelope(envelope, &self.inner.cfg.app_secret)
            .map_err(DeliveryError::Serialise)?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let result = self.inner.webhook.post(body, &signature).await;
        let record = DeliveredWebhook {
            field: field.to_owned(),
            body: text,
            signature,
            time: unix_millis(),
            status: result.as_ref().ok().copied(),
            error: result
                .as_ref()
                .err()
                .map(|e| shared::telemetry::error_chain(e)),
        };
        let mut state = self.state();
        push_bounded(&mut state.webhooks, record, self.inner.cfg.log_capacity);
        result
    }

    /// Delivers a text message from a user, Meta's way, and opens the customer-service window
    /// for that user (the user wrote, whether or not the webhook took it).
    pub async fn deliver_inbound(
        &self,
        request: &InboundRequest,
    ) -> Result<InboundOutcome, InboundError> {
        let from = request.from.strip_prefix('+').unwrap_or(&request.from);
        if from.is_empty() || from.len() > 15 || !from.chars().all(|c| c.is_ascii_digit()) {
            return Err(InboundError::InvalidFrom);
        }
        let timestamp = request.timestamp.unwrap_or_else(unix_secs);
        let user_id = request.user_id.as_deref().filter(|id| !id.is_empty());
        self.remember_inbound(from, user_id, timestamp);
        let wamid = ids::inbound_wamid(from);
        let cfg = &self.inner.cfg;
        let value = InboundValue {
            messaging_product: "whatsapp",
            metadata: self.metadata(),
            contacts: [InboundContact {
                profile: Profile {
                    name: request.name.as_deref().unwrap_or("Sim User"),
                },
                wa_id: from,
                user_id,
            }],
            messages: [InboundText {
                from,
                id: &wamid,
                timestamp: timestamp.to_string(),
                kind: "text",
                text: TextBody {
                    body: &request.text,
                },
            }],
        };
        let envelope = Envelope::new(&cfg.waba_id, "messages", value, unix_secs());
        let webhook_status = self
            .deliver("messages", &envelope)
            .await
            .map_err(|e| shared::telemetry::error_chain(&e));
        Ok(InboundOutcome {
            wamid,
            webhook_status,
        })
    }

    /// Delivers any change (`field` + `value`) in Meta's envelope, signed. Inbound messages in a
    /// `messages` value open service windows as if the user had written (group messages, with
    /// `group_id`, do not: the participant wrote to the group); what the business typed in the
    /// WhatsApp Business app (`smb_message_echoes`) and past chats (`history`) do not either.
    pub async fn deliver_change(&self, field: &str, value: &RawValue) -> Result<u16, String> {
        if let Ok(parsed) = serde_json::from_str::<Value>(value.get()) {
            match field {
                "messages" => self.remember_messages(&parsed),
                "calls" => self.remember_calls(&parsed),
                "message_template_status_update" | "template_category_update" => {
                    self.remember_template_category(&parsed)
                }
                _ => {}
            }
        }
        let compact = RawValue::from_string(crate::meta_json::minify(value.get()));
        let compact = compact.as_deref().unwrap_or(value);
        let envelope = Envelope::new(&self.inner.cfg.waba_id, field, compact, unix_secs());
        self.deliver(field, &envelope)
            .await
            .map_err(|e| shared::telemetry::error_chain(&e))
    }

    fn remember_messages(&self, value: &Value) {
        let user_ids: HashMap<&str, &str> = value
            .get("contacts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| Some((c.get("wa_id")?.as_str()?, c.get("user_id")?.as_str()?)))
            .collect();
        for message in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // A participant's message in a group opens no window of their own.
            if message.get("group_id").is_some() {
                continue;
            }
            let Some(from) = message.get("from").and_then(Value::as_str) else {
                continue;
            };
            let timestamp = message
                .get("timestamp")
                .and_then(|t| {
                    t.as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| t.as_u64())
                })
                .unwrap_or_else(unix_secs);
            self.remember_inbound(from, user_ids.get(from).copied(), timestamp);
        }
    }

    /// A customer's call (`direction: USER_INITIATED`, `event: connect`) opens the window as
    /// a message does; a business-initiated call does not.
    fn remember_calls(&self, value: &Value) {
        for call in value
            .get("calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("event").and_then(Value::as_str) == Some("connect"))
            .filter(|c| c.get("direction").and_then(Value::as_str) == Some("USER_INITIATED"))
        {
            let Some(from) = call.get("from").and_then(Value::as_str) else {
                continue;
            };
            let timestamp = call
                .get("timestamp")
                .and_then(|t| {
                    t.as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| t.as_u64())
                })
                .unwrap_or_else(unix_secs);
            let user_id = call.get("from_user_id").and_then(Value::as_str);
            self.remember_inbound(from, user_id, timestamp);
        }
    }

    /// A template's category as the webhook tells the bridge: `message_template_category` of a
    /// status update, or `new_category` of a done recategorisation (one with
    /// `previous_category`). Meta refuses authentication templates to user ids (131062).
    fn remember_template_category(&self, value: &Value) {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let category = text("message_template_category")
            .or_else(|| text("previous_category").and(text("new_category")));
        let (Some(name), Some(language), Some(category)) = (
            text("message_template_name"),
            text("message_template_language"),
            category,
        ) else {
            return;
        };
        let mut state = self.state();
        if state.template_categories.len() >= MAX_USER_IDS {
            state.template_categories.clear();
        }
        state.template_categories.insert(
            (name.to_owned(), language.to_owned()),
            category.to_ascii_lowercase(),
        );
    }

    fn remember_inbound(&self, wa_id: &str, user_id: Option<&str>, timestamp: u64) {
        let mut state = self.state();
        state.limits.open_window(wa_id, timestamp);
        if let Some(user_id) = user_id {
            if state.user_ids.len() >= MAX_USER_IDS {
                state.user_ids.clear();
            }
            state.user_ids.insert(user_id.to_owned(), wa_id.to_owned());
        }
    }

    /// Every send request received, oldest first (bounded by `log_capacity`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// Every webhook POSTed, oldest first (bounded by `log_capacity`).
    pub fn webhooks(&self) -> Vec<DeliveredWebhook> {
        self.state().webhooks.iter().cloned().collect()
    }

    pub fn clear_webhooks(&self) {
        self.state().webhooks.clear();
    }

    /// Queues a fault; the oldest matching fault is used first.
    pub fn add_fault(&self, fault: Fault) -> Result<(), FaultError> {
        if errors::lookup(fault.code).is_none() {
            return Err(FaultError::UnknownCode(fault.code));
        }
        if fault.times == 0 {
            return Err(FaultError::ZeroTimes);
        }
        if fault.to.trim().is_empty() {
            return Err(FaultError::EmptyTarget);
        }
        let mut state = self.state();
        if state.faults.len() >= self.inner.cfg.log_capacity {
            state.faults.remove(0);
        }
        state.faults.push(fault);
        Ok(())
    }

    /// Faults still pending.
    pub fn faults(&self) -> Vec<Fault> {
        self.state().faults.clone()
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Queues a late-answer rule; the oldest matching rule is used first.
    pub fn add_late_answer(&self, rule: LateAnswer) -> Result<(), LateAnswerError> {
        rule.check()?;
        let mut state = self.state();
        if state.late_answers.len() >= self.inner.cfg.log_capacity {
            state.late_answers.remove(0);
        }
        state.late_answers.push(rule);
        Ok(())
    }

    /// Late-answer rules still pending.
    pub fn late_answers(&self) -> Vec<LateAnswer> {
        self.state().late_answers.clone()
    }

    /// Forgets everything: logs, faults, late answers, rate counters, windows, known user ids and
    /// template categories.
    pub fn reset(&self) {
        let mut state = self.state();
        state.requests.clear();
        state.webhooks.clear();
        state.faults.clear();
        state.late_answers.clear();
        state.limits.clear();
        state.user_ids.clear();
        state.template_categories.clear();
        drop(state);
        self.media().clear();
    }

    fn media(&self) -> MutexGuard<'_, MediaStore> {
        self.inner
            .media
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores media "a customer sent" (`POST /_sim/media`): its id and Meta's digests.
    pub fn register_media(
        &self,
        bytes: Vec<u8>,
        mime_type: &str,
    ) -> Result<RegisteredMedia, MediaRequestError> {
        self.media().register(bytes, mime_type)
    }

    /// `GET /{version}/{media-id}`: the bearer token and version checked as for sends, then
    /// Meta's answer with a download URL under `base_url` (JSON text).
    pub fn media_metadata(
        &self,
        version: &str,
        media_id: &str,
        authorization: Option<&str>,
        base_url: &str,
    ) -> Result<String, MetaError> {
        self.check_token(authorization)?;
        graph_major_version(version).ok_or_else(|| unknown_version(version))?;
        let now = (self.inner.clock)();
        self.media().metadata(media_id, base_url, now)
    }

    /// A download URL's bytes: the bearer token checked, then the URL's `hash`.
    pub fn media_download(
        &self,
        hash: &str,
        authorization: Option<&str>,
    ) -> Result<Download, DownloadRefusal> {
        self.check_token(authorization)
            .map_err(DownloadRefusal::Token)?;
        let now = (self.inner.clock)();
        self.media().download(hash, now)
    }

    /// Queues a media fault (`POST /_sim/media-faults`).
    pub fn add_media_fault(&self, fault: MediaFault) -> Result<(), MediaRequestError> {
        self.media().add_fault(fault)
    }

    /// The media faults not yet used up.
    pub fn media_faults(&self) -> Vec<MediaFault> {
        self.media().faults()
    }

    /// Forgets every media fault.
    pub fn clear_media_faults(&self) {
        self.media().clear_faults();
    }

    /// Meta's bearer check: the header must carry the configured token.
    fn check_token(&self, authorization: Option<&str>) -> Result<(), MetaError> {
        let token = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(MetaError::unparseable_token)?;
        if token != self.inner.cfg.access_token.expose_secret() {
            return Err(MetaError::invalid_token());
        }
        Ok(())
    }
}

fn unknown_version(version: &str) -> MetaError {
    MetaError::invalid(format!(
        "Unknown Graph API version '{version}': versions look like v25.0."
    ))
}

fn refusal_error(refusal: Refusal) -> MetaError {
    let details = match refusal {
        Refusal::Throughput => "Cloud API message throughput has been reached.",
        Refusal::WindowClosed => "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        Refusal::PairRate => "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
    };
    MetaError::code(refusal.code(), details)
}

/// `v25.0` → 25; anything not shaped `v<digits>.<digits>` → none.
fn graph_major_version(version: &str) -> Option<u32> {
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.chars().all(|c| c.is_ascii_digit());
    if digits(major) && digits(minor) {
        major.parse().ok()
    } else {
        None
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, capacity: usize) {
    while queue.len() >= capacity.max(1) {
        queue.pop_front();
    }
    queue.push_back(item);
}

fn since_epoch() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn unix_secs() -> u64 {
    since_epoch().as_secs()
}

fn unix_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// `+55119****4321`: enough to tell numbers apart in a log, not enough to call them.
pub(crate) fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars.iter().take(5).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_graph_versions() {
        assert_eq!(graph_major_version("v25.0"), Some(25));
        assert_eq!(graph_major_version("v9.1"), Some(9));
        assert_eq!(graph_major_version("25.0"), None);
        assert_eq!(graph_major_version("v25"), None);
        assert_eq!(graph_major_version("vX.0"), None);
        assert_eq!(graph_major_version("v.0"), None);
    }

    #[test]
    fn faults_match_numbers_with_or_without_plus_and_the_wildcard() {
        let fault = |to: &str| Fault {
            to: to.into(),
            code: 131026,
            times: 1,
            mode: FaultMode::Response,
        };
        assert!(fault("+16505551234").matches(&["16505551234"]));
        assert!(fault("16505551234").matches(&["+16505551234", "16505551234"]));
        assert!(fault("*").matches(&["x"]));
        assert!(fault("US.1349").matches(&["US.1349", ""]));
        assert!(!fault("US.1349").matches(&["1349"]));
        assert!(!fault("16505550000").matches(&["16505551234"]));
    }

    #[test]
    fn masks_phone_numbers() {
        assert_eq!(mask("+5511987654321"), "+5511****4321");
        assert_eq!(mask("1234"), "****");
    }

    #[test]
    fn keeps_only_the_newest_entries() {
        let mut q = VecDeque::new();
        for i in 0..5 {
            push_bounded(&mut q, i, 3);
        }
        assert_eq!(q, VecDeque::from([2, 3, 4]));
    }
}
