//! The simulator's media over real HTTP: register bytes, `GET /{version}/{media-id}` → URL →
//! bytes, with Meta's bearer check, the URL's 5 minutes on the simulator's clock, and faults.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use graph_sim::{SimConfig, Simulator};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TOKEN: &str = "test-access-token";

struct Sim {
    base: String,
    http: reqwest::Client,
    /// Added to the system clock: a test's time travel.
    offset_ms: Arc<AtomicI64>,
}

impl Sim {
    async fn start() -> Self {
        let cfg = SimConfig::new(
            SecretString::from(TOKEN.to_owned()),
            SecretString::from("secret".to_owned()),
            "http://127.0.0.1:9/webhook",
        );
        let offset_ms = Arc::new(AtomicI64::new(0));
        let offset = Arc::clone(&offset_ms);
        let clock = Arc::new(move || {
            let system = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            system + offset.load(Ordering::SeqCst)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the simulator");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        tokio::spawn(Simulator::with_clock(cfg, clock).serve(listener));
        Self {
            base,
            http: reqwest::Client::new(),
            offset_ms,
        }
    }

    async fn register(&self, bytes: &[u8], mime_type: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/_sim/media", self.base))
            .header("content-type", mime_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("register");
        assert_eq!(response.status().as_u16(), 201);
        response.json().await.expect("JSON answer")
    }

    async fn metadata(&self, media_id: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}/v25.0/{media_id}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("metadata");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn download(&self, url: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("download");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

    async fn fault(&self, body: Value) -> u16 {
        self.http
            .post(format!("{}/_sim/media-faults", self.base))
            .json(&body)
            .send()
            .await
            .expect("fault")
            .status()
            .as_u16()
    }

    fn travel_ms(&self, by: i64) {
        self.offset_ms.fetch_add(by, Ordering::SeqCst);
    }
}

fn url_of(answer: &Value) -> String {
    answer["url"].as_str().expect("a url").to_owned()
}

#[tokio::test]
async fn serves_registered_media_through_its_id_and_url_with_metas_digests() {
    let sim = Sim::start().await;
    let bytes = b"\x89PNG a customer's photo";
    let media = sim.register(bytes, "image/png").await;
    let digest = Sha256::digest(bytes);
    assert_eq!(media["sha256_hex"], hex::encode(digest));
    assert_eq!(
        media["sha256"],
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest)
    );

    let id = media["id"].as_str().expect("id");
    let (status, answer) = sim.metadata(id, Some(TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], id);
    assert_eq!(answer["mime_type"], "image/png");
    assert_eq!(answer["sha256"], hex::encode(digest));
    assert_eq!(answer["file_size"], bytes.len());
    assert_eq!(answer["messaging_product"], "whatsapp");
    let url = url_of(&answer);
    assert!(url.starts_with(&format!(
        "{}/whatsapp_business/attachments/?mid={id}&",
        sim.base
    )));

    let (status, body) = sim.download(&url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
}

#[tokio::test]
async fn metadata_needs_the_bearer_token_and_a_known_id() {
    let sim = Sim::start().await;
    let media = sim.register(b"doc", "application/pdf").await;
    let id = media["id"].as_str().expect("id");

    let (status, answer) = sim.metadata(id, None).await;
    assert_eq!((status, answer["error"]["code"].as_u64()), (401, Some(190)));
    let (status, answer) = sim.metadata(id, Some("wrong")).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["error_subcode"], 467);

    let (status, answer) = sim.metadata("1234567890123456", Some(TOKEN)).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], 100);
    assert_eq!(answer["error"]["error_subcode"], 33);
    assert!(answer["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Unsupported get request.")));
}

#[tokio::test]
async fn the_download_url_needs_the_bearer_token() {
    let sim = Sim::start().await;
    let media = sim.register(b"voice", "audio/ogg").await;
    let (_, answer) = sim
        .metadata(media["id"].as_str().expect("id"), Some(TOKEN))
        .await;
    let url = url_of(&answer);

    let (status, body) = sim.download(&url, None).await;
    assert_eq!(status, 401);
    let error: Value = serde_json::from_slice(&body).expect("Meta's error shape");
    assert_eq!(error["error"]["code"], 190);
    assert_eq!(sim.download(&url, Some("wrong")).await.0, 401);
    assert_eq!(sim.download(&url, Some(TOKEN)).await.0, 200);
}

#[tokio::test]
async fn the_download_url_expires_after_five_minutes_of_the_simulators_clock() {
    let sim = Sim::start().await;
    let media = sim.register(b"video", "video/mp4").await;
    let id = media["id"].as_str().expect("id");
    let (_, answer) = sim.metadata(id, Some(TOKEN)).await;
    let url = url_of(&answer);

    sim.travel_ms(4 * 60 * 1_000 + 50_000);
    assert_eq!(sim.download(&url, Some(TOKEN)).await.0, 200);
    sim.travel_ms(10_000);
    assert_eq!(sim.download(&url, Some(TOKEN)).await.0, 404);

    // A new GET of the media id answers a new URL that works.
    let (_, answer) = sim.metadata(id, Some(TOKEN)).await;
    assert_eq!(sim.download(&url_of(&answer), Some(TOKEN)).await.0, 200);
}

#[tokio::test]
async fn faults_fail_the_next_metadata_or_download_calls_with_a_server_error() {
    let sim = Sim::start().await;
    let media = sim.register(b"sticker", "image/webp").await;
    let id = media["id"].as_str().expect("id");

    assert_eq!(
        sim.fault(json!({"on": "metadata", "status": 503, "times": 1}))
            .await,
        201
    );
    let (status, answer) = sim.metadata(id, Some(TOKEN)).await;
    assert_eq!((status, answer["error"]["code"].as_u64()), (503, Some(2)));
    let (status, answer) = sim.metadata(id, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let url = url_of(&answer);

    assert_eq!(sim.fault(json!({"on": "download", "times": 2})).await, 201);
    assert_eq!(sim.download(&url, Some(TOKEN)).await.0, 500);
    assert_eq!(sim.download(&url, Some(TOKEN)).await.0, 500);
    assert_eq!(sim.download(&url, Some(TOKEN)).await.0, 200);
}

#[tokio::test]
async fn refuses_faults_that_are_not_server_errors_and_media_without_a_mime_type() {
    let sim = Sim::start().await;
    assert_eq!(
        sim.fault(json!({"on": "download", "status": 404})).await,
        400
    );
    assert_eq!(sim.fault(json!({"on": "elsewhere"})).await, 400);
    let listed: Value = sim
        .http
        .get(format!("{}/_sim/media-faults", sim.base))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed, json!([]));

    let status = sim
        .http
        .post(format!("{}/_sim/media", sim.base))
        .body(b"bytes".to_vec())
        .send()
        .await
        .expect("register")
        .status()
        .as_u16();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn reset_forgets_media() {
    let sim = Sim::start().await;
    let media = sim.register(b"x", "image/jpeg").await;
    let reset = sim
        .http
        .post(format!("{}/_sim/reset", sim.base))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status().as_u16(), 204);
    let (status, _) = sim
        .metadata(media["id"].as_str().expect("id"), Some(TOKEN))
        .await;
    assert_eq!(status, 400);
}
