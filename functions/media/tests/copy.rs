//! The media function against the Graph API simulator (over HTTP, through the real adapter),
//! an in-memory table, bucket and events queue: a copy lands at the message's key with Meta's
//! sha256 and one `message.media_stored`; failures retry with a growing backoff; a media Meta
//! does not know ends in one `message.media_failed`.

use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use graph_sim::{SimConfig, Simulator};
use media::graph::GraphMedia;
use media::{Config, State};
use secrecy::SecretString;
use serde_json::{json, Value};
use shared::blob::memory::MemoryBlobs;
use shared::blob::{keys, Blobs};
use shared::budget::Deadline;
use shared::contract::EventContract;
use shared::media::{MediaJob, MetaDigest};
use shared::secrets::{AccessTokens, CachedSecrets, SecretVersions, StaticSecrets, Version};
use shared::store::memory::MemoryStore;
use shared::store::{Commit, ContactRecord, Direction, Expect, MessageRecord, OutboxStore, Write};
use shared::testkit::RecordingSink;
use shared::visibility::{Visibility, VisibilityError};

const TOKEN: &str = "test-access-token";
const BUSINESS: &str = "106540352242922";
const CONTACT: &str = "ct_0123456789abcdef01234567";
const WAMID: &str = "wamid.HBgNIMAGEAA==";

/// Records every visibility change asked for.
#[derive(Default)]
struct Deferred(Mutex<Vec<(String, Duration)>>);

impl Visibility for Deferred {
    async fn defer(&self, entries: Vec<(String, Duration)>) -> Result<(), VisibilityError> {
        if let Ok(mut seen) = self.0.lock() {
            seen.extend(entries);
        }
        Ok(())
    }
}

type TestState = State<
    MemoryStore,
    RecordingSink,
    MemoryBlobs,
    GraphMedia<StaticSecrets<AccessTokens>>,
    Deferred,
>;

struct World {
    state: TestState,
    sim: String,
    http: reqwest::Client,
}

impl World {
    async fn start() -> Self {
        Self::with_config(Config::default()).await
    }

    async fn with_config(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the simulator");
        let sim = format!("http://{}", listener.local_addr().expect("addr"));
        let cfg = SimConfig::new(
            SecretString::from(TOKEN.to_owned()),
            SecretString::from("secret".to_owned()),
            "http://127.0.0.1:9/webhook",
        );
        tokio::spawn(Simulator::new(cfg).serve(listener));
        let tokens: AccessTokens =
            serde_json::from_value(json!({"access_token": TOKEN})).expect("tokens");
        let secrets = CachedSecrets::new(
            StaticSecrets(SecretVersions {
                current: Version {
                    value: tokens,
                    created_ms: None,
                },
                previous: None,
            }),
            Duration::from_secs(300),
        );
        let graph = GraphMedia::new(
            &sim,
            "v25.0",
            Duration::from_secs(5),
            config.max_bytes,
            secrets,
        )
        .expect("client");
        let state = State {
            store: MemoryStore::new(),
            events: RecordingSink::default(),
            blobs: MemoryBlobs::new("wa-crm-bridge-data"),
            graph,
            visibility: Deferred::default(),
            config,
            budget: Default::default(),
        };
        store_message(&state.store).await;
        Self {
            state,
            sim,
            http: reqwest::Client::new(),
        }
    }

    /// Registers bytes with the simulator: (media id, webhook's base64 sha256).
    async fn media(&self, bytes: &[u8], mime_type: &str) -> (String, String) {
        let answer: Value = self
            .http
            .post(format!("{}/_sim/media", self.sim))
            .header("content-type", mime_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("JSON");
        (
            answer["id"].as_str().expect("id").to_owned(),
            answer["sha256"].as_str().expect("sha256").to_owned(),
        )
    }

    async fn fault(&self, on: &str, times: u32) {
        let status = self
            .http
            .post(format!("{}/_sim/media-faults", self.sim))
            .json(&json!({"on": on, "status": 503, "times": times}))
            .send()
            .await
            .expect("fault")
            .status();
        assert_eq!(status.as_u16(), 201);
    }

    /// Runs one record of `job`, received `count` times: the failed ids.
    async fn run(&self, job: &MediaJob, count: u32) -> Vec<String> {
        let mut record = SqsMessage::default();
        record.message_id = Some("m-1".into());
        record.receipt_handle = Some("r-1".into());
        record.body = Some(serde_json::to_string(job).expect("job"));
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), count.to_string());
        let mut event = SqsEvent::default();
        event.records = vec![record];
        let deadline = Deadline::after(Duration::from_secs(30));
        media::process_event(&self.state, event, &deadline)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    fn deferred(&self) -> Vec<(String, Duration)> {
        self.state
            .visibility
            .0
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}

async fn store_message(store: &MemoryStore) {
    let contact = ContactRecord {
        business: BUSINESS.into(),
        contact_id: CONTACT.into(),
        wa_id: Some("5511987654321".into()),
        phone: Some("+5511987654321".into()),
        user_id: None,
        parent_user_id: None,
        name: Some("João Silva".into()),
        username: None,
        marketing_opt_out: false,
        consent_at: None,
        created_at_ms: 0,
        updated_at_ms: 0,
        ttl: None,
    };
    let message = MessageRecord {
        wamid: WAMID.into(),
        business: BUSINESS.into(),
        direction: Direction::Inbound,
        contact_id: Some(CONTACT.into()),
        message_type: "image".into(),
        timestamp: 1_749_416_383,
        status: None,
        status_at: None,
        command_id: None,
        template: None,
        raw: None,
        ttl: None,
    };
    let outcome = store
        .commit(Commit {
            outbox: None,
            writes: vec![
                Write::Contact(contact, Expect::Absent),
                Write::Message(message, Expect::Absent),
            ],
        })
        .await
        .expect("stored");
    assert_eq!(outcome, shared::store::CommitOutcome::Applied);
}

fn job(media_id: &str, sha256: Option<&str>) -> MediaJob {
    MediaJob {
        wamid: WAMID.into(),
        business: BUSINESS.into(),
        media_id: media_id.into(),
        message_type: "image".into(),
        mime_type: Some("image/jpeg".into()),
        sha256: sha256.map(str::to_owned),
    }
}

#[tokio::test]
async fn copies_the_media_to_its_key_and_tells_the_crm_once() {
    let world = World::start().await;
    let bytes = b"\xff\xd8\xff a customer's photo";
    let (id, sha) = world.media(bytes, "image/jpeg").await;

    assert!(world.run(&job(&id, Some(&sha)), 1).await.is_empty());

    let key = keys::media(BUSINESS, CONTACT, WAMID);
    let blob = world
        .state
        .blobs
        .get(&key)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(blob.bytes, bytes);
    assert_eq!(blob.content_type.as_deref(), Some("image/jpeg"));
    let stored = world.state.events.of_type("message.media_stored");
    assert_eq!(stored.len(), 1);
    let data = &stored[0]["data"];
    assert_eq!(data["wamid"], WAMID);
    assert_eq!(data["bucket"], "wa-crm-bridge-data");
    assert_eq!(data["key"], key);
    assert_eq!(data["size"], bytes.len());
    assert_eq!(data["sha256"], MetaDigest::of(bytes).hex());
    assert_eq!(Some(MetaDigest::of(bytes)), MetaDigest::parse(&sha));
    assert_eq!(data["mime_type"], "image/jpeg");
    assert_eq!(stored[0]["contact"]["id"], CONTACT);
    EventContract::load().check_all(&world.state.events.messages());

    // A repeat of the job (a redelivered update queues it again) copies nothing more.
    assert!(world.run(&job(&id, Some(&sha)), 1).await.is_empty());
    assert_eq!(world.state.events.of_type("message.media_stored").len(), 1);
    assert!(world.deferred().is_empty());
}

#[tokio::test]
async fn a_failed_download_is_retried_with_a_backoff_that_grows_per_receive() {
    let world = World::start().await;
    let (id, sha) = world.media(b"voice note", "audio/ogg").await;
    world.fault("download", 2).await;

    assert_eq!(world.run(&job(&id, Some(&sha)), 1).await, ["m-1"]);
    assert_eq!(world.run(&job(&id, Some(&sha)), 2).await, ["m-1"]);
    let deferred = world.deferred();
    assert_eq!(deferred.len(), 2);
    assert!(deferred.iter().all(|(receipt, _)| receipt == "r-1"));
    assert!(deferred[0].1 <= Duration::from_secs(10), "{deferred:?}");
    assert!(deferred[1].1 >= Duration::from_secs(10), "{deferred:?}");
    assert!(world.state.events.messages().is_empty());

    assert!(world.run(&job(&id, Some(&sha)), 3).await.is_empty());
    assert_eq!(world.state.events.of_type("message.media_stored").len(), 1);
}

#[tokio::test]
async fn a_failed_metadata_call_is_retried() {
    let world = World::start().await;
    let (id, sha) = world.media(b"clip", "video/mp4").await;
    world.fault("metadata", 1).await;
    assert_eq!(world.run(&job(&id, Some(&sha)), 1).await, ["m-1"]);
    assert!(world.run(&job(&id, Some(&sha)), 2).await.is_empty());
    assert_eq!(world.state.events.of_type("message.media_stored").len(), 1);
}

#[tokio::test]
async fn bytes_that_do_not_match_the_webhooks_sha256_are_not_kept_and_retried() {
    let world = World::start().await;
    let (id, _) = world.media(b"the real bytes", "image/png").await;
    let other = MetaDigest::of(b"something else").hex();
    assert_eq!(world.run(&job(&id, Some(&other)), 1).await, ["m-1"]);
    assert!(world.state.blobs.keys().is_empty());
    assert!(world.state.events.messages().is_empty());
    assert_eq!(world.deferred().len(), 1);
}

#[tokio::test]
async fn a_media_id_meta_does_not_know_ends_in_one_media_failed_without_retries() {
    let world = World::start().await;
    assert!(world
        .run(&job("1234567890123456", None), 1)
        .await
        .is_empty());
    let failed = world.state.events.of_type("message.media_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["reason"], "unavailable");
    assert_eq!(failed[0]["data"]["error_code"], 100);
    assert!(world.state.blobs.keys().is_empty());
    assert!(world.deferred().is_empty());
    EventContract::load().check_all(&world.state.events.messages());
}

#[tokio::test]
async fn a_file_over_the_limit_is_not_kept_and_ends_in_media_failed() {
    let config = Config {
        max_bytes: 4,
        ..Config::default()
    };
    let world = World::with_config(config).await;
    let (id, sha) = world.media(b"five!", "application/pdf").await;
    assert!(world.run(&job(&id, Some(&sha)), 1).await.is_empty());
    let failed = world.state.events.of_type("message.media_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["reason"], "too_large");
    assert!(world.state.blobs.keys().is_empty());
}

#[tokio::test]
async fn a_message_no_longer_stored_is_not_copied() {
    let world = World::start().await;
    let (id, sha) = world.media(b"x", "image/webp").await;
    let mut gone = job(&id, Some(&sha));
    gone.wamid = "wamid.ERASED".into();
    assert!(world.run(&gone, 1).await.is_empty());
    assert!(world.state.blobs.keys().is_empty());
    assert!(world.state.events.messages().is_empty());
}

#[tokio::test]
async fn an_unreadable_record_fails_alone() {
    let world = World::start().await;
    let mut record = SqsMessage::default();
    record.message_id = Some("bad".into());
    record.body = Some("{not a job".into());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    let failures = media::process_event(
        &world.state,
        event,
        &Deadline::after(Duration::from_secs(30)),
    )
    .await
    .batch_item_failures;
    assert_eq!(failures.len(), 1);
}
