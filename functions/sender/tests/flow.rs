//! Handler-level tests of the sender's failure paths: the real handler over in-memory fakes (state
//! table, sender items, Graph API, visibility, event queue), so each test shows which outcome event
//! a command ends in, which Graph requests were made and how the SQS record was disposed of.
//! Every event the handler publishes is checked against the published schemas.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use sender::budget::Budgets;
use sender::command::Validators;
use sender::graph::{GraphApi, MetaApiError, SendResult};
use sender::limiter::{Limiter, Limits};
use sender::store::{Attempt, AttemptState, MemorySenderStore, SenderStore};
use sender::visibility::{Visibility, VisibilityError, MAX_VISIBILITY};
use sender::{handler, Config, State};
use serde_json::{json, Value};
use shared::budget::Deadline;
use shared::contract::EventContract;
use shared::secrets::{
    parse_secret, AccessTokens, CachedSecrets, SecretSource, SecretVersions, SecretsError,
    StaticSecrets, Version,
};
use shared::store::memory::MemoryStore;
use shared::store::{
    AliasRecord, Commit, ContactRecord, ConversationRecord, Expect, OutboxStore, ProcessorStore,
    Write,
};
use shared::testkit::RecordingSink;

/// The business number the bridge serves.
const PN: &str = "106540352242922";
/// The recipient as the CRM writes it, and the wa_id Meta knows them by.
const TO: &str = "+55 (11) 98765-4321";
const WA_ID: &str = "5511987654321";
const CONTACT_ID: &str = "ct_0123456789abcdef01234567";

// ---- fakes -------------------------------------------------------------------------------

/// What the fake Graph API answers to one call.
enum Answer {
    Accepted,
    /// A Meta error body with this code.
    Refused(i64),
    /// The request left and no answer came back (timeout).
    Lost,
    /// The connection never opened: nothing was sent.
    Unreachable,
    /// A gateway or throttle answered this HTTP status without Meta's error body.
    NotProcessed(u16),
}

/// A secret source that counts its reads, so a test sees the token being re-read.
struct CountingSecrets {
    reads: Arc<AtomicUsize>,
    inner: StaticSecrets<AccessTokens>,
}

impl SecretSource for CountingSecrets {
    type Value = AccessTokens;

    async fn fetch(&self) -> Result<SecretVersions<AccessTokens>, SecretsError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch().await
    }
}

/// Graph API double: answers from a script (then accepts), records every request, and picks the
/// access token from a cached secret as the port requires (no usable token: `Unset`, no request).
struct FakeGraph {
    script: Mutex<VecDeque<Answer>>,
    requests: Mutex<Vec<(String, Value)>>,
    secrets: CachedSecrets<CountingSecrets>,
}

impl GraphApi for FakeGraph {
    async fn send(&self, phone_number_id: &str, body: &Value) -> Result<SendResult, SecretsError> {
        let secrets = self.secrets.get().await?;
        secrets
            .current
            .value
            .for_number(phone_number_id)
            .ok_or(SecretsError::Unset {
                what: "access token for this phone number id",
            })?;
        let n = {
            let mut requests = self.requests.lock().unwrap();
            requests.push((phone_number_id.to_owned(), body.clone()));
            requests.len()
        };
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Accepted);
        Ok(match answer {
            Answer::Accepted => SendResult::Accepted {
                wamid: Some(format!("wamid.OUT{n}")),
                wa_id: Some(WA_ID.to_owned()),
            },
            Answer::Refused(code) => SendResult::Refused(meta_error(code)),
            Answer::Lost => SendResult::Unknown("operation timed out".into()),
            Answer::Unreachable => SendResult::NotSent(unreachable()),
            Answer::NotProcessed(status) => SendResult::NotProcessed { status },
        })
    }

    async fn refresh_credentials(&self) -> Result<(), SecretsError> {
        self.secrets.refresh().await.map(|_| ())
    }
}

fn meta_error(code: i64) -> MetaApiError {
    MetaApiError {
        code,
        subcode: None,
        title: format!("Meta error {code}"),
        details: Some(format!("details of {code}")),
        fbtrace_id: Some("AzTrace".into()),
    }
}

/// A request error that never reached the network, as a refused connection is classified.
fn unreachable() -> reqwest::Error {
    match reqwest::Client::new().post("no scheme").build() {
        Err(e) => e,
        Ok(_) => unreachable!("a URL without a scheme cannot be built"),
    }
}

/// Records every visibility change (receipt handle, delay).
#[derive(Default)]
struct FakeVisibility {
    changes: Mutex<Vec<(String, Duration)>>,
}

impl Visibility for FakeVisibility {
    async fn defer(&self, entries: Vec<(String, Duration)>) -> Result<(), VisibilityError> {
        self.changes.lock().unwrap().extend(entries);
        Ok(())
    }
}

// ---- arrangement -------------------------------------------------------------------------

type TestState = State<MemoryStore, MemorySenderStore, RecordingSink, FakeGraph, FakeVisibility>;

struct Sender {
    state: TestState,
    secret_reads: Arc<AtomicUsize>,
}

fn config() -> Config {
    Config {
        table_name: "state".into(),
        crm_events_queue_url: "crm-events".into(),
        commands_queue_url: "crm-commands".into(),
        secret_id: "meta".into(),
        secrets_refresh: Duration::from_secs(300),
        graph_base_url: "http://graph.invalid".into(),
        graph_version: "v23.0".into(),
        graph_timeout: Duration::from_secs(10),
        phone_number_ids: vec![PN.into()],
        retention_days: 90,
        limits: Limits::new(80, 40, Duration::from_millis(6000), Duration::from_secs(5)),
        // Short, so a held recipient is deferred rather than waited for inside the test.
        max_in_process_wait: Duration::from_secs(1),
        retry_base: Duration::from_secs(2),
        retry_max: Duration::from_secs(300),
        max_age: Duration::from_secs(3600),
        credential_retry: Duration::from_secs(300),
        outcome_commit: Duration::from_secs(5),
        min_record_budget: Duration::from_secs(1),
        concurrency: 10,
    }
}

/// The sender with Meta answering `script` in order (then accepting everything).
fn sender(script: Vec<Answer>) -> Sender {
    sender_with_secret(r#"{"access_token":"token"}"#, script)
}

/// [`sender`] whose secret holds `secret` (the sender secret's JSON document).
fn sender_with_secret(secret: &str, script: Vec<Answer>) -> Sender {
    let reads = Arc::new(AtomicUsize::new(0));
    let secrets = CountingSecrets {
        reads: Arc::clone(&reads),
        inner: StaticSecrets(SecretVersions {
            current: Version {
                value: parse_secret(PN, secret).expect("a valid sender secret"),
                created_ms: Some(0),
            },
            previous: None,
        }),
    };
    let config = config();
    Sender {
        state: State {
            store: MemoryStore::new(),
            sender_store: MemorySenderStore::new(),
            events: RecordingSink::default(),
            graph: FakeGraph {
                script: Mutex::new(script.into()),
                requests: Mutex::new(Vec::new()),
                secrets: CachedSecrets::new(secrets, Duration::from_secs(300)),
            },
            visibility: FakeVisibility::default(),
            limiter: Limiter::new(config.limits.clone()),
            validators: Validators::load().expect("command schemas compile"),
            budgets: Budgets::new(&config),
            config,
        },
        secret_reads: reads,
    }
}

impl Sender {
    /// Stores the recipient as the processor would have: contact, alias, conversation.
    async fn knows_the_contact(&self, window_open: bool, opted_out: bool) {
        let now_ms = shared::now_ms();
        let now_s = now_ms / 1000;
        let commit = Commit {
            outbox: None,
            writes: vec![
                Write::Contact(
                    ContactRecord {
                        business: PN.into(),
                        contact_id: CONTACT_ID.into(),
                        wa_id: Some(WA_ID.into()),
                        phone: Some(format!("+{WA_ID}")),
                        user_id: None,
                        name: Some("Ana".into()),
                        marketing_opt_out: opted_out,
                        consent_at: opted_out.then_some(now_s - 600),
                        created_at_ms: now_ms,
                        updated_at_ms: now_ms,
                    },
                    Expect::Absent,
                ),
                Write::Alias {
                    record: AliasRecord {
                        business: PN.into(),
                        alias: format!("wa:{WA_ID}"),
                        contact_id: CONTACT_ID.into(),
                    },
                    replace: false,
                },
                Write::Conversation(
                    ConversationRecord {
                        business: PN.into(),
                        contact_id: CONTACT_ID.into(),
                        last_inbound_at: Some(now_s - 25 * 3600),
                        // The customer wrote last, as the processor leaves it.
                        awaiting_reply: true,
                        window_expires_at: Some(if window_open {
                            now_s + 3600
                        } else {
                            now_s - 3600
                        }),
                        ..ConversationRecord::default()
                    },
                    Expect::Absent,
                ),
            ],
        };
        self.state
            .store
            .commit(commit)
            .await
            .expect("the contact is stored");
    }

    /// One invocation of the template's 30 s `Timeout`.
    async fn receives(&self, records: Vec<SqsMessage>) -> SqsBatchResponse {
        self.receives_within(records, Duration::from_secs(30)).await
    }

    /// One invocation with `time_left` until its deadline.
    async fn receives_within(
        &self,
        records: Vec<SqsMessage>,
        time_left: Duration,
    ) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = records;
        handler(&self.state, event, &Deadline::after(time_left))
            .await
            .expect("the handler never fails a batch")
    }

    fn requests(&self) -> Vec<(String, Value)> {
        self.state.graph.requests.lock().unwrap().clone()
    }

    fn visibility_changes(&self) -> Vec<(String, Duration)> {
        self.state.visibility.changes.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<Value> {
        self.state.events.events()
    }

    /// The single event published so far, after checking every event against the contract.
    fn only_event(&self) -> Value {
        let events = self.events();
        assert_eq!(events.len(), 1, "exactly one outcome event: {events:#?}");
        events.into_iter().next().unwrap_or_default()
    }

    async fn attempt(&self, command_id: &str) -> Attempt {
        self.state
            .sender_store
            .load_attempt(command_id)
            .await
            .expect("the sender store answers")
            .expect("an attempt was recorded")
            .record
    }
}

/// Every event published so far matches its schema and the queue conventions.
fn assert_contract(sender: &Sender) {
    EventContract::load().check_all(&sender.state.events.messages());
}

/// A command record as SQS delivers it, sent to the queue `age` ago.
fn record_aged(command: &Value, age: Duration) -> SqsMessage {
    let id = command["command_id"].as_str().unwrap_or("no-id").to_owned();
    let sent_ms = shared::now_ms() - i64::try_from(age.as_millis()).unwrap_or(0);
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("msg-{id}"));
    record.receipt_handle = Some(format!("rh-{id}"));
    record.body = Some(command.to_string());
    record.attributes = HashMap::from([
        ("MessageGroupId".to_owned(), format!("wa:{WA_ID}")),
        ("MessageDeduplicationId".to_owned(), id),
        ("SentTimestamp".to_owned(), sent_ms.to_string()),
    ]);
    record
}

fn record(command: &Value) -> SqsMessage {
    record_aged(command, Duration::ZERO)
}

fn text(id: &str) -> Value {
    json!({"command_id": id, "type": "send_text", "phone_number_id": PN, "to": TO,
           "text": {"body": "Olá, Ana"}})
}

fn template(id: &str, name: &str, category: Option<&str>) -> Value {
    let mut t = json!({"name": name, "language": {"code": "pt_BR"}});
    if let Some(c) = category {
        t["category"] = c.into();
    }
    json!({"command_id": id, "type": "send_template", "phone_number_id": PN, "to": TO,
           "template": t})
}

fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

// ---- checks that need no call ------------------------------------------------------------

#[tokio::test]
async fn a_command_with_four_buttons_is_rejected_as_over_the_limit_and_consumed_without_a_request()
{
    // Arrange
    let sender = sender(vec![]);
    let button = |id: &str| json!({"type": "reply", "reply": {"id": id, "title": id}});
    let command = json!({"command_id": "c-buttons", "type": "send_interactive",
        "phone_number_id": PN, "to": TO,
        "interactive": {"type": "button", "body": {"text": "pick one"},
            "action": {"buttons": [button("a"), button("b"), button("c"), button("d")]}}});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty(), "consumed, not retried");
    assert!(sender.requests().is_empty());
    assert!(sender.visibility_changes().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "limit_exceeded");
    assert_eq!(event["data"]["field"], "/interactive/action/buttons");
    assert_eq!(event["data"]["command_id"], "c-buttons");
    assert_eq!(event["data"]["command_type"], "send_interactive");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_rejected_as_an_invalid_command_and_consumed() {
    // Arrange
    let sender = sender(vec![]);
    let mut garbage = record(&json!({"command_id": "c-garbage"}));
    garbage.body = Some("{not json".into());

    // Act
    let response = sender.receives(vec![garbage]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "invalid_command");
    assert_eq!(event["data"]["command_id"], Value::Null);
    // Nothing names a contact or a number, so the event's FIFO group is the events module's
    // "unknown" fallback, which `check_all`'s group rule does not know: check the body only.
    EventContract::load().check(&event);
}

#[tokio::test]
async fn a_phone_number_without_its_country_code_is_rejected_as_an_invalid_recipient_without_a_request(
) {
    // Arrange: a São Paulo mobile as a person types it at home, with no `+55`.
    let sender = sender(vec![]);
    let mut command = text("c-no-country");
    command["to"] = "(11) 98765-4321".into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty(), "consumed, not retried");
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "invalid_recipient");
    assert_eq!(event["data"]["field"], "/to");
    assert_eq!(event["data"]["command_id"], "c-no-country");
    EventContract::load().check(&event);
}

#[tokio::test]
async fn a_command_for_an_unknown_phone_number_id_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    let mut command = text("c-unknown-pn");
    command["phone_number_id"] = "999999999999999".into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "unknown_phone_number_id");
    assert_eq!(event["data"]["field"], "/phone_number_id");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_text_to_a_contact_whose_window_is_closed_is_rejected_as_window_closed_without_a_request()
{
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(false, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-closed"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "window_closed");
    assert_eq!(event["contact"]["id"], CONTACT_ID);
    assert_contract(&sender);
}

#[tokio::test]
async fn a_text_to_a_contact_whose_window_is_closed_sends_its_fallback_template_and_says_so() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(false, false).await;
    let mut command = text("c-fallback");
    command["fallback_template"] =
        json!({"name": "reopen", "language": {"code": "pt_BR"}, "category": "utility"});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    let requests = sender.requests();
    assert_eq!(requests.len(), 1, "only the template goes out");
    let body = &requests[0].1;
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "reopen");
    assert!(
        body["template"].get("category").is_none(),
        "the declared category is not sent to Meta"
    );
    assert!(body.get("text").is_none());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.accepted");
    assert_eq!(event["data"]["fallback_used"], true);
    assert_eq!(event["data"]["template"], "reopen");
    assert_eq!(event["data"]["wamid"], "wamid.OUT1");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_text_meta_refuses_as_outside_the_window_is_replaced_by_its_fallback_template() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131047)]);
    sender.knows_the_contact(true, false).await;
    let mut command = text("c-131047");
    command["fallback_template"] = json!({"name": "reopen", "language": {"code": "pt_BR"}});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    let types: Vec<Value> = sender
        .requests()
        .iter()
        .map(|(_, b)| b["type"].clone())
        .collect();
    assert_eq!(types, vec![json!("text"), json!("template")]);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.accepted");
    assert_eq!(event["data"]["fallback_used"], true);
    assert_eq!(event["data"]["wamid"], "wamid.OUT2");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_template_declared_marketing_to_an_opted_out_contact_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    let command = template("c-promo", "promo", Some("MARKETING"));

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "opted_out");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_template_learned_as_marketing_to_an_opted_out_contact_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    sender
        .state
        .sender_store
        .set_template_category("promo", "pt_BR", "MARKETING");
    let command = template("c-learned", "promo", None);

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "opted_out");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_utility_template_to_an_opted_out_contact_is_sent() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    sender
        .state
        .sender_store
        .set_template_category("receipt", "pt_BR", "UTILITY");
    let command = template("c-receipt", "receipt", None);

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

// ---- Meta's refusals by class ------------------------------------------------------------

#[tokio::test]
async fn a_throughput_error_defers_the_record_with_backoff_and_publishes_nothing() {
    // Arrange
    let sender = sender(vec![Answer::Refused(130429)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-130429"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-130429".to_owned()]);
    let changes = sender.visibility_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, "rh-c-130429");
    let delay = changes[0].1;
    assert!(
        delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2),
        "first backoff is in the upper half of 2 s: {delay:?}"
    );
    assert_eq!(sender.requests().len(), 1);
    assert!(sender.events().is_empty(), "no failed event yet");
    let attempt = sender.attempt("c-130429").await;
    assert_eq!(attempt.state, AttemptState::Idle, "the claim is released");
    assert_eq!(attempt.retries, 1);
}

#[tokio::test]
async fn a_throughput_error_past_the_maximum_age_fails_the_command_as_retries_exhausted() {
    // Arrange
    let sender = sender(vec![Answer::Refused(130429)]);
    sender.knows_the_contact(true, false).await;
    let old = record_aged(&text("c-old"), Duration::from_secs(2 * 3600));

    // Act
    let response = sender.receives(vec![old]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.visibility_changes().is_empty());
    assert_eq!(sender.requests().len(), 1);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "retries_exhausted");
    assert_eq!(event["data"]["code"], 130429);
    assert_contract(&sender);
}

#[tokio::test]
async fn a_pair_rate_error_backs_that_recipient_off_without_failing_the_command() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131056)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-pair"))]).await;
    let next = sender.receives(vec![record(&text("c-pair-next"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-pair".to_owned()]);
    let changes = sender.visibility_changes();
    assert_eq!(
        changes.first(),
        Some(&("rh-c-pair".to_owned(), Duration::from_secs(4))),
        "4^1 s for the first 131056"
    );
    assert!(sender.events().is_empty());
    assert_eq!(sender.attempt("c-pair").await.pair_hits, 1);
    assert_eq!(
        failures(&next),
        vec!["msg-c-pair-next".to_owned()],
        "the next command to the same recipient waits too"
    );
    assert_eq!(sender.requests().len(), 1, "and makes no request");
}

#[tokio::test]
async fn a_marketing_cap_error_defers_the_command_for_a_day_without_failing_it() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131049)]);
    sender.knows_the_contact(true, false).await;
    let command = template("c-cap", "promo", Some("marketing"));
    let before = shared::now_ms();

    // Act
    let response = sender.receives(vec![record(&command)]).await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-cap".to_owned()]);
    assert_eq!(
        sender.visibility_changes().first(),
        Some(&("rh-c-cap".to_owned(), MAX_VISIBILITY))
    );
    let not_before = sender.attempt("c-cap").await.not_before_ms.unwrap_or(0);
    let day_ms = 24 * 3600 * 1000;
    assert!(
        not_before >= before + day_ms && not_before <= shared::now_ms() + day_ms,
        "not before 24 h from now: {not_before}"
    );
    assert_eq!(failures(&redelivered), vec!["msg-c-cap".to_owned()]);
    assert_eq!(
        sender.requests().len(),
        1,
        "an early redelivery sends nothing"
    );
    assert!(sender.events().is_empty());
}

#[tokio::test]
async fn an_undeliverable_recipient_fails_the_command_with_metas_code_title_and_details() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131026)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-131026"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 1);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "meta_error");
    assert_eq!(event["data"]["code"], 131026);
    assert_eq!(event["data"]["title"], "Meta error 131026");
    assert_eq!(event["data"]["details"], "details of 131026");
    assert_eq!(event["data"]["fbtrace_id"], "AzTrace");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_refused_access_token_is_re_read_once_and_the_command_stays_queued() {
    // Arrange
    let sender = sender(vec![Answer::Refused(190), Answer::Refused(190)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-190"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-190".to_owned()]);
    assert_eq!(
        sender.visibility_changes(),
        vec![("rh-c-190".to_owned(), Duration::from_secs(300))]
    );
    assert_eq!(sender.requests().len(), 2, "one retry after the re-read");
    assert_eq!(
        sender.secret_reads.load(Ordering::SeqCst),
        2,
        "the first read and exactly one re-read"
    );
    assert!(sender.events().is_empty(), "no failed event");
    assert_eq!(sender.attempt("c-190").await.state, AttemptState::Idle);
}

#[tokio::test]
async fn an_unset_access_token_is_re_read_once_and_the_command_stays_queued_unsent() {
    for secret in [
        r#"{"access_token":""}"#,
        r#"{"access_token":"set-me"}"#,
        r#"{"access_token":"token","access_tokens":{"106540352242922":"set-me"}}"#,
        r#"{"access_tokens":{"999":"token"}}"#,
    ] {
        // Arrange
        let sender = sender_with_secret(secret, vec![]);
        sender.knows_the_contact(true, false).await;

        // Act
        let response = sender.receives(vec![record(&text("c-unset"))]).await;

        // Assert
        assert_eq!(
            failures(&response),
            vec!["msg-c-unset".to_owned()],
            "{secret}"
        );
        assert_eq!(
            sender.visibility_changes(),
            vec![("rh-c-unset".to_owned(), Duration::from_secs(300))],
            "kept queued for CREDENTIAL_RETRY_SECONDS, like a refused token: {secret}"
        );
        assert!(sender.requests().is_empty(), "nothing sent: {secret}");
        assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 2, "{secret}");
        assert!(sender.events().is_empty(), "no failed event: {secret}");
        assert_eq!(sender.attempt("c-unset").await.state, AttemptState::Idle);
    }
}

#[tokio::test]
async fn a_restricted_account_keeps_the_command_queued_without_re_reading_the_secret() {
    // Arrange
    let sender = sender(vec![Answer::Refused(368)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-368"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-368".to_owned()]);
    assert_eq!(
        sender.visibility_changes(),
        vec![("rh-c-368".to_owned(), Duration::from_secs(300))]
    );
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 1);
    assert!(sender.events().is_empty());
}

#[tokio::test]
async fn an_unreachable_graph_api_releases_the_claim_and_retries_with_backoff() {
    // Arrange
    let sender = sender(vec![Answer::Unreachable]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-unreachable");

    // Act
    let first = sender.receives(vec![record(&command)]).await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert_eq!(failures(&first), vec!["msg-c-unreachable".to_owned()]);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d >= Duration::from_secs(1) && d <= Duration::from_secs(2)),
        "first backoff: {delay:?}"
    );
    assert!(
        failures(&redelivered).is_empty(),
        "nothing was sent, so the redelivery may send"
    );
    assert_eq!(sender.requests().len(), 2);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_token_accepted_after_re_reading_the_secret_sends_the_command() {
    // Arrange
    let sender = sender(vec![Answer::Refused(190)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-190-ok"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 2);
    assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 2);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

// ---- once ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_agents_reply_clears_awaiting_reply_so_a_later_window_alert_says_so() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    sender.receives(vec![record(&text("c-reply"))]).await;

    // Assert
    assert_eq!(sender.only_event()["type"], "command.accepted");
    let conversation = sender
        .state
        .store
        .load_contact(PN, CONTACT_ID)
        .await
        .expect("the contact loads")
        .conversation
        .expect("the conversation is kept")
        .record;
    assert!(!conversation.awaiting_reply);
    assert!(conversation.last_outbound_at.is_some());
}

#[tokio::test]
async fn the_same_command_processed_twice_is_sent_once_and_its_outcome_repeated_with_the_same_event_id(
) {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-twice");

    // Act
    sender.receives(vec![record(&command)]).await;
    let again = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&again).is_empty());
    assert_eq!(sender.requests().len(), 1);
    let events = sender.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "command.accepted");
    assert_eq!(
        events[0], events[1],
        "the very same event, event_id included"
    );
    assert_contract(&sender);
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_fails_as_outcome_unknown_and_is_never_sent_again() {
    // Arrange
    let sender = sender(vec![Answer::Lost]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-lost");

    // Act
    let first = sender.receives(vec![record(&command)]).await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&first).is_empty());
    assert!(failures(&redelivered).is_empty());
    assert_eq!(sender.requests().len(), 1, "never a second request");
    let events = sender.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "command.failed");
    assert_eq!(events[0]["data"]["reason"], "outcome_unknown");
    assert_eq!(events[0]["data"]["code"], Value::Null);
    assert_eq!(events[0]["event_id"], events[1]["event_id"]);
    assert_contract(&sender);
}

#[tokio::test]
async fn a_claim_left_sending_past_its_lease_ends_as_outcome_unknown_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let long_ago = shared::now_ms() - 3600 * 1000;
    let crashed = Attempt {
        command_id: "c-crashed".into(),
        state: AttemptState::Sending,
        started_at_ms: long_ago,
        first_seen_ms: long_ago,
        retries: 0,
        pair_hits: 0,
        cap_hits: 0,
        not_before_ms: None,
        last_error: None,
        ttl: long_ago / 1000 + 86_400,
    };
    assert!(sender
        .state
        .sender_store
        .save_attempt(&crashed, Expect::Absent)
        .await
        .expect("the sender store answers"));

    // Act
    let response = sender.receives(vec![record(&text("c-crashed"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "outcome_unknown");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_claim_still_within_its_lease_defers_the_redelivery_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let now = shared::now_ms();
    let in_flight = Attempt {
        command_id: "c-in-flight".into(),
        state: AttemptState::Sending,
        started_at_ms: now,
        first_seen_ms: now,
        retries: 0,
        pair_hits: 0,
        cap_hits: 0,
        not_before_ms: None,
        last_error: None,
        ttl: now / 1000 + 86_400,
    };
    assert!(sender
        .state
        .sender_store
        .save_attempt(&in_flight, Expect::Absent)
        .await
        .expect("the sender store answers"));

    // Act
    let response = sender.receives(vec![record(&text("c-in-flight"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-in-flight".to_owned()]);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d > Duration::from_secs(30) && d <= Duration::from_secs(40)),
        "waits out the rest of the lease: {delay:?}"
    );
    assert!(sender.requests().is_empty());
    assert!(sender.events().is_empty());
}

/// A `Sending` attempt claimed `age` ago by an invocation that never finished.
async fn claimed_ago(sender: &Sender, command_id: &str, age: Duration) {
    let started = shared::now_ms() - i64::try_from(age.as_millis()).expect("a short age");
    let claim = Attempt {
        command_id: command_id.into(),
        state: AttemptState::Sending,
        started_at_ms: started,
        first_seen_ms: started,
        retries: 0,
        pair_hits: 0,
        cap_hits: 0,
        not_before_ms: None,
        last_error: None,
        ttl: started / 1000 + 86_400,
    };
    assert!(sender
        .state
        .sender_store
        .save_attempt(&claim, Expect::Absent)
        .await
        .expect("the sender store answers"));
}

#[tokio::test]
async fn the_lease_of_a_claim_is_as_long_as_the_invocation_the_deadline_describes() {
    // Arrange: two claims made 45 s ago, read by invocations of 30 s and of 60 s.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    claimed_ago(&sender, "c-short", Duration::from_secs(45)).await;
    claimed_ago(&sender, "c-long", Duration::from_secs(45)).await;

    // Act
    let short = sender
        .receives_within(vec![record(&text("c-short"))], Duration::from_secs(30))
        .await;
    let long = sender
        .receives_within(vec![record(&text("c-long"))], Duration::from_secs(60))
        .await;

    // Assert: a 30 s invocation cannot still be sending after 45 s; a 60 s one may be.
    assert!(failures(&short).is_empty());
    assert_eq!(sender.only_event()["data"]["reason"], "outcome_unknown");
    assert_eq!(failures(&long), vec!["msg-c-long".to_owned()]);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d > Duration::from_secs(14) && d <= Duration::from_secs(16)),
        "waits out the rest of 60 s + the clock allowance: {delay:?}"
    );
    assert!(sender.requests().is_empty());
}

#[tokio::test]
async fn no_send_is_claimed_when_the_time_left_cannot_cover_two_graph_calls_and_the_commit() {
    // Arrange: Graph timeout 10 s and commit 5 s: a send needs 2 × 10 + 5 + 1 = 26 s.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    let late = sender
        .receives_within(vec![record(&text("c-late"))], Duration::from_secs(25))
        .await;
    let claims_after_late = sender.state.sender_store.load_attempt("c-late").await;
    let in_time = sender
        .receives_within(vec![record(&text("c-late"))], Duration::from_secs(27))
        .await;

    // Assert
    assert_eq!(failures(&late), vec!["msg-c-late".to_owned()]);
    assert!(
        claims_after_late
            .expect("the sender store answers")
            .is_none(),
        "nothing was claimed"
    );
    assert_eq!(
        sender.visibility_changes().first().map(|(_, d)| *d),
        Some(Duration::from_secs(1)),
        "back in a moment, to an invocation with time"
    );
    assert!(failures(&in_time).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
}

#[tokio::test]
async fn a_503_without_metas_error_body_releases_the_claim_and_retries_with_backoff() {
    // Arrange
    let sender = sender(vec![Answer::NotProcessed(503)]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-503");

    // Act
    let first = sender.receives(vec![record(&command)]).await;
    let attempt = sender.attempt("c-503").await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert_eq!(failures(&first), vec!["msg-c-503".to_owned()]);
    assert_eq!(attempt.state, AttemptState::Idle, "nothing was sent");
    assert_eq!(attempt.retries, 1);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d >= Duration::from_secs(1) && d <= Duration::from_secs(2)),
        "first backoff: {delay:?}"
    );
    assert!(failures(&redelivered).is_empty());
    assert_eq!(sender.requests().len(), 2);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_502_past_the_maximum_age_fails_the_command_as_retries_exhausted_naming_the_status() {
    // Arrange
    let sender = sender(vec![Answer::NotProcessed(502)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender
        .receives(vec![record_aged(&text("c-502"), Duration::from_secs(7200))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "retries_exhausted");
    assert!(
        event["data"]["title"]
            .as_str()
            .is_some_and(|t| t.contains("502")),
        "{event}"
    );
    assert_contract(&sender);
}

#[tokio::test]
async fn a_spam_or_portfolio_limit_keeps_the_command_queued_like_an_account_restriction() {
    for code in [131048, 131064] {
        // Arrange
        let sender = sender(vec![Answer::Refused(code)]);
        sender.knows_the_contact(true, false).await;
        let id = format!("c-{code}");

        // Act
        let response = sender.receives(vec![record(&text(&id))]).await;

        // Assert
        assert_eq!(failures(&response), vec![format!("msg-{id}")], "{code}");
        assert_eq!(
            sender.visibility_changes(),
            vec![(format!("rh-{id}"), Duration::from_secs(300))],
            "{code}"
        );
        assert_eq!(sender.requests().len(), 1, "{code}: no second call");
        assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 1, "{code}");
        assert!(sender.events().is_empty(), "{code}: no outcome yet");
        assert_eq!(sender.attempt(&id).await.state, AttemptState::Idle);
    }
}

#[tokio::test]
async fn a_request_or_product_refusal_fails_the_command_with_its_code() {
    for code in [131062, 131063, 130472, 131037, 137000] {
        // Arrange
        let sender = sender(vec![Answer::Refused(code)]);
        sender.knows_the_contact(true, false).await;
        let id = format!("c-{code}");

        // Act
        let response = sender.receives(vec![record(&text(&id))]).await;

        // Assert
        assert!(failures(&response).is_empty(), "{code}");
        assert_eq!(sender.requests().len(), 1, "{code}: never retried");
        let event = sender.only_event();
        assert_eq!(event["type"], "command.failed", "{code}");
        assert_eq!(event["data"]["reason"], "meta_error", "{code}");
        assert_eq!(event["data"]["code"], code);
        assert_contract(&sender);
    }
}
