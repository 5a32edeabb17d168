//! The sender handler over in-memory fakes (state table, sender items, Graph API, visibility,
//! event queue), shared by the handler-level test files.
#![allow(dead_code, unused_imports)]

pub use shared::blob::memory::MemoryBlobs;
use std::collections::{HashMap, VecDeque};
pub use std::sync::atomic::{AtomicUsize, Ordering};
pub use std::sync::{Arc, Mutex};
pub use std::time::Duration;

pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
pub use sender::budget::Budgets;
pub use sender::command::Validators;
pub use sender::graph::{GraphApi, MetaApiError, SendResult};
pub use sender::limiter::throughput::Clock;
pub use sender::limiter::{Limiter, Limits};
pub use sender::store::{Attempt, AttemptState, SenderStore};
pub use sender::visibility::{Visibility, VisibilityError};
pub use sender::{handler, Config, Privacy, State};
pub use serde_json::{json, Value};
pub use shared::blob::Blobs;
pub use shared::budget::Deadline;
pub use shared::contract::EventContract;
pub use shared::delivery::{apply_status, StatusContext, StatusUpdate};
pub use shared::privacy::SubjectKeys;
pub use shared::secrets::{
    parse_secret, AccessTokens, CachedSecrets, SecretSource, SecretVersions, SecretsError,
    StaticSecrets, Version,
};
pub use shared::store::items::{ClockTake, ItemStore};
pub use shared::store::memory::MemoryStore;
pub use shared::store::personal::{ItemKey, PersonalDataStore};
pub use shared::store::{
    keys, AliasRecord, Commit, ContactRecord, ConversationRecord, Expect, OutboxStore,
    ProcessorStore, StoreError, TemplateCategoryRecord, Versioned, Write,
};
pub use shared::testkit::RecordingSink;

/// The business number the bridge serves.
pub const PN: &str = "106540352242922";
/// The recipient as the CRM writes it, and the wa_id Meta knows them by.
pub const TO: &str = "+55 (11) 98765-4321";
pub const WA_ID: &str = "5511987654321";
pub const CONTACT_ID: &str = "ct_0123456789abcdef01234567";

// ---- fakes -------------------------------------------------------------------------------

/// What the fake Graph API answers to one call.
pub enum Answer {
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
pub struct CountingSecrets {
    pub reads: Arc<AtomicUsize>,
    pub inner: StaticSecrets<AccessTokens>,
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
pub struct FakeGraph {
    pub script: Mutex<VecDeque<Answer>>,
    pub requests: Mutex<Vec<(String, Value)>>,
    pub secrets: CachedSecrets<CountingSecrets>,
    /// Holds the next answer until the test says so (see [`Pause`]).
    pub pause: Mutex<Option<Pause>>,
}

/// The next send tells `reached` once its request is in, then answers only after `resume`: a
/// test changes the world while Meta answers.
pub struct Pause {
    pub reached: tokio::sync::oneshot::Sender<()>,
    pub resume: tokio::sync::oneshot::Receiver<()>,
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
        let pause = self.pause.lock().unwrap().take();
        if let Some(Pause { reached, resume }) = pause {
            let _ = reached.send(());
            let _ = resume.await;
        }
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

pub fn meta_error(code: i64) -> MetaApiError {
    MetaApiError {
        code,
        subcode: None,
        title: format!("Meta error {code}"),
        details: Some(format!("details of {code}")),
        fbtrace_id: Some("AzTrace".into()),
    }
}

/// A request error that never reached the network, as a refused connection is classified.
pub fn unreachable() -> reqwest::Error {
    match reqwest::Client::new().post("no scheme").build() {
        Err(e) => e,
        Ok(_) => unreachable!("a URL without a scheme cannot be built"),
    }
}

/// Records every visibility change (receipt handle, delay).
/// Takes `answers_after` to answer (a slow SQS).
#[derive(Default)]
pub struct FakeVisibility {
    pub changes: Mutex<Vec<(String, Duration)>>,
    pub answers_after: Mutex<Duration>,
}

impl Visibility for FakeVisibility {
    async fn defer(&self, entries: Vec<(String, Duration)>) -> Result<(), VisibilityError> {
        let wait = *self.answers_after.lock().unwrap();
        tokio::time::sleep(wait).await;
        self.changes.lock().unwrap().extend(entries);
        Ok(())
    }
}

/// How an injected attempt-write failure shows (see [`SenderItems::fail_attempt_saves`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SaveFault {
    /// The table answers with an error (throttled, unavailable).
    #[default]
    Error,
    /// Another writer changed the item first: the condition fails.
    Conflict,
}

/// The sender's items in memory (the state table's in-memory adapter), with injectable
/// failures of the attempt writes.
#[derive(Default)]
pub struct SenderItems {
    pub inner: MemoryStore,
    /// Attempt writes to let through before `failing_saves` start.
    pub passing_saves: AtomicUsize,
    pub failing_saves: AtomicUsize,
    pub save_fault: Mutex<SaveFault>,
    /// Pair-rate bucket writes (a token taken or a hold), refused ones included.
    pub pair_saves: AtomicUsize,
    /// How long each pair-rate bucket write takes (a slow table, a busy machine).
    pub pair_save_delay: Mutex<Duration>,
}

impl SenderItems {
    /// After `pass` more attempt writes, the next `fail` ones fail as `fault` says and change
    /// nothing.
    pub fn fail_attempt_saves(&self, pass: usize, fail: usize, fault: SaveFault) {
        *self.save_fault.lock().unwrap() = fault;
        self.passing_saves.store(pass, Ordering::SeqCst);
        self.failing_saves.store(fail, Ordering::SeqCst);
    }
}

impl ItemStore for SenderItems {
    async fn load_item<T: serde::de::DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        self.inner.load_item(pk, sk).await
    }

    async fn save_item<T: serde::Serialize + Sync>(
        &self,
        pk: &str,
        sk: &str,
        record: &T,
        expect: Expect,
    ) -> Result<bool, StoreError> {
        let take = |n: &AtomicUsize| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                .is_ok()
        };
        if pk.starts_with("PAIR#") {
            self.pair_saves.fetch_add(1, Ordering::SeqCst);
            let delay = *self.pair_save_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
        }
        if sk == "ATTEMPT" && !take(&self.passing_saves) && take(&self.failing_saves) {
            return match *self.save_fault.lock().unwrap() {
                SaveFault::Conflict => Ok(false),
                SaveFault::Error => Err(StoreError::Unstorable {
                    key: shared::redact::item_key(pk, sk),
                    reason: "injected fault: the write was refused".into(),
                }),
            };
        }
        self.inner.save_item(pk, sk, record, expect).await
    }

    async fn take_clock_span(
        &self,
        pk: &str,
        sk: &str,
        take: ClockTake,
        span_us: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        self.inner.take_clock_span(pk, sk, take, span_us).await
    }

    async fn take_line_place(
        &self,
        pk: &str,
        sk: &str,
        floor_us: i64,
        spacing_us: i64,
    ) -> Result<i64, StoreError> {
        ItemStore::take_line_place(&self.inner, pk, sk, floor_us, spacing_us).await
    }
}

/// The limiter's clock, stopped at its creation: every send time it hands out is on time
/// however late a busy test machine wakes the record (the limiter's own timing is tested in
/// `limiter::throughput` and measured by its bench; these tests are about the flow).
#[derive(Debug)]
pub struct FrozenClock(pub i64);

impl Default for FrozenClock {
    fn default() -> Self {
        Self(shared::now_ms() * 1000)
    }
}

impl Clock for FrozenClock {
    fn now_us(&self) -> i64 {
        self.0
    }
}

// ---- arrangement -------------------------------------------------------------------------

pub type TestState = State<
    MemoryStore,
    SenderItems,
    RecordingSink,
    FakeGraph,
    FakeVisibility,
    Privacy<MemoryBlobs, StaticSecrets<SubjectKeys>>,
>;

/// The privacy secret's key in these tests.
pub const PRIVACY_KEY: &str = "test-privacy-key";

/// The privacy secret holding `key` (current version only).
pub fn privacy_keys(key: &str) -> StaticSecrets<SubjectKeys> {
    StaticSecrets(SecretVersions {
        current: Version {
            value: parse_secret("privacy", &json!({ "hash_key": key }).to_string())
                .expect("a valid privacy secret"),
            created_ms: Some(0),
        },
        previous: None,
    })
}

pub struct Sender {
    pub state: TestState,
    pub secret_reads: Arc<AtomicUsize>,
}

pub fn config() -> Config {
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
        retention: shared::retention::Retention::default(),
        limits: Limits::new(80, 40, Duration::from_millis(6000), Duration::from_secs(5)),
        // Short, so a held recipient is deferred rather than waited for inside the test.
        max_in_process_wait: Duration::from_secs(1),
        max_in_group_wait: Duration::from_secs(30),
        retry_base: Duration::from_secs(2),
        retry_max: Duration::from_secs(300),
        max_age: Duration::from_secs(3600),
        credential_retry: Duration::from_secs(300),
        outcome_commit: Duration::from_secs(5),
        min_record_budget: Duration::from_secs(1),
        concurrency: 10,
        publish_linger: Duration::from_millis(150),
        bucket: shared::blob::s3::BucketConfig {
            data_bucket: "data".into(),
        },
        privacy_secret_id: "privacy".into(),
        export_url: Duration::from_secs(3600),
        media_link: Duration::from_secs(15 * 60),
    }
}

/// The sender with Meta answering `script` in order (then accepting everything).
pub fn sender(script: Vec<Answer>) -> Sender {
    sender_with_secret(r#"{"access_token":"token"}"#, script)
}

/// [`sender`] whose secret holds `secret` (the sender secret's JSON document).
pub fn sender_with_secret(secret: &str, script: Vec<Answer>) -> Sender {
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
            sender_store: SenderItems::default(),
            events: RecordingSink::default(),
            graph: FakeGraph {
                script: Mutex::new(script.into()),
                requests: Mutex::new(Vec::new()),
                secrets: CachedSecrets::new(secrets, Duration::from_secs(300)),
                pause: Mutex::new(None),
            },
            visibility: FakeVisibility::default(),
            limiter: Limiter::with_clock(config.limits.clone(), Arc::new(FrozenClock::default())),
            validators: Validators::load().expect("command schemas compile"),
            budgets: Budgets::new(&config),
            config,
            privacy: Privacy {
                blobs: MemoryBlobs::new("data"),
                keys: CachedSecrets::new(privacy_keys(PRIVACY_KEY), Duration::from_secs(300)),
            },
        },
        secret_reads: reads,
    }
}

impl Sender {
    /// Stores the recipient as the processor would have: contact, alias, conversation.
    pub async fn knows_the_contact(&self, window_open: bool, opted_out: bool) {
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
                        parent_user_id: None,
                        username: None,
                        name: Some("Ana".into()),
                        marketing_opt_out: opted_out,
                        consent_at: opted_out.then_some(now_s - 600),
                        created_at_ms: now_ms,
                        updated_at_ms: now_ms,
                        ttl: None,
                    },
                    Expect::Absent,
                ),
                Write::Alias {
                    record: AliasRecord {
                        business: PN.into(),
                        alias: format!("wa:{WA_ID}"),
                        contact_id: CONTACT_ID.into(),
                        ttl: None,
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
    pub async fn receives(&self, records: Vec<SqsMessage>) -> SqsBatchResponse {
        self.receives_within(records, Duration::from_secs(30)).await
    }

    /// One invocation with `time_left` until its deadline.
    pub async fn receives_within(
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

    pub fn requests(&self) -> Vec<(String, Value)> {
        self.state.graph.requests.lock().unwrap().clone()
    }

    pub fn visibility_changes(&self) -> Vec<(String, Duration)> {
        self.state.visibility.changes.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<Value> {
        self.state.events.events()
    }

    /// The single event published so far, after checking every event against the contract.
    pub fn only_event(&self) -> Value {
        let events = self.events();
        assert_eq!(events.len(), 1, "exactly one outcome event: {events:#?}");
        events.into_iter().next().unwrap_or_default()
    }

    /// Meta reported the template's category, as the processor stores it.
    pub async fn learned_category(&self, name: &str, category: &str) {
        let commit = Commit {
            outbox: None,
            writes: vec![Write::TemplateCategory(TemplateCategoryRecord {
                name: name.into(),
                language: "pt_BR".into(),
                category: category.into(),
                updated_at: shared::now_ms() / 1000,
            })],
        };
        self.state
            .sender_store
            .inner
            .commit(commit)
            .await
            .expect("category stored");
    }

    /// Moves the claim's start `by` into the past, as if its invocation had ended long ago.
    pub async fn age_claim(&self, command_id: &str, by: Duration) {
        let current = self
            .state
            .sender_store
            .load_attempt(command_id)
            .await
            .expect("the sender store answers")
            .expect("an attempt was recorded");
        let mut aged = current.record;
        aged.started_at_ms -= i64::try_from(by.as_millis()).expect("a short age");
        assert!(self
            .state
            .sender_store
            .save_attempt(&aged, Expect::Version(current.version))
            .await
            .expect("the sender store answers"));
    }

    pub async fn attempt(&self, command_id: &str) -> Attempt {
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
pub fn assert_contract(sender: &Sender) {
    EventContract::load().check_all(&sender.state.events.messages());
}

/// The command left the queue to wait `wait` (± 2 s): consumed without a visibility change,
/// one `command.deferred` event (`reason`, `attempt` 1) and its scheduled item in the table.
pub fn assert_scheduled(
    sender: &Sender,
    response: &SqsBatchResponse,
    id: &str,
    reason: &str,
    wait: Duration,
) {
    assert!(
        failures(response).is_empty(),
        "{id}: consumed, not deferred in its group"
    );
    assert!(
        sender.visibility_changes().is_empty(),
        "{id}: no visibility change"
    );
    let event = sender.only_event();
    assert_eq!(event["type"], "command.deferred", "{id}");
    assert_eq!(event["data"]["command_id"], id);
    assert_eq!(event["data"]["reason"], reason, "{id}");
    assert_eq!(event["data"]["attempt"], 1, "{id}");
    let item = sender
        .state
        .store
        .get(&format!("CMD#{id}"), "SCHEDULED")
        .expect("a scheduled item");
    let due_at = item["due_at"].as_i64().unwrap_or(0);
    let expected = shared::now_ms() / 1000 + i64::try_from(wait.as_secs()).unwrap_or(0);
    assert!(
        (due_at - expected).abs() <= 2,
        "{id}: due {due_at}, expected ~{expected}"
    );
    assert_eq!(
        event["data"]["not_before"],
        shared::events::rfc3339(due_at),
        "{id}"
    );
    assert_eq!(
        item["group_id"],
        format!("wa:{WA_ID}"),
        "{id}: back into its own group"
    );
    assert_eq!(item["deferral"], 1);
    assert_contract(sender);
}

/// A command record as SQS delivers it, sent to the queue `age` ago.
pub fn record_aged(command: &Value, age: Duration) -> SqsMessage {
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

pub fn record(command: &Value) -> SqsMessage {
    record_aged(command, Duration::ZERO)
}

pub fn text(id: &str) -> Value {
    json!({"command_id": id, "type": "send_text", "phone_number_id": PN, "to": TO,
           "text": {"body": "Olá, Ana"}})
}

pub fn template(id: &str, name: &str, category: Option<&str>) -> Value {
    let mut t = json!({"name": name, "language": {"code": "pt_BR"}});
    if let Some(c) = category {
        t["category"] = c.into();
    }
    json!({"command_id": id, "type": "send_template", "phone_number_id": PN, "to": TO,
           "template": t})
}

pub fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}
