//! Handler tests: API Gateway HTTP API v2 events from `events/` through the real handler, with an
//! in-memory queue standing in for SQS.

use shared::blob::memory::MemoryBlobs;
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request};
use shared::secrets::{AppCredentials, CachedSecrets, SecretVersions, StaticSecrets, Version};
use shared::testkit::RecordingSink as Recorder;
use webhook::{handler, State};

type Secrets = StaticSecrets<AppCredentials>;

fn meta(app: &str) -> AppCredentials {
    AppCredentials {
        app_secret: app.to_owned().into(),
        verify_token: "local-verify-token".to_owned().into(),
    }
}

/// The current version was created `rotated_ms_ago`; the grace period is one hour.
fn state_rotated(
    current: &str,
    previous: Option<&str>,
    rotated_ms_ago: i64,
    fail: bool,
) -> State<Recorder, Secrets, MemoryBlobs> {
    let created = shared::now_ms() - rotated_ms_ago;
    let versions = SecretVersions {
        current: Version {
            value: meta(current),
            created_ms: Some(created),
        },
        previous: previous.map(|p| Version {
            value: meta(p),
            created_ms: Some(created - 86_400_000),
        }),
    };
    State {
        secrets: CachedSecrets::new(StaticSecrets(versions), Duration::from_secs(300)),
        inbound: if fail {
            Recorder::failing(usize::MAX)
        } else {
            Recorder::default()
        },
        blobs: MemoryBlobs::new("bucket"),
        previous_secret_grace: Duration::from_secs(3600),
    }
}

fn state_with(
    current: &str,
    previous: Option<&str>,
    fail: bool,
) -> State<Recorder, Secrets, MemoryBlobs> {
    state_rotated(current, previous, 60_000, fail)
}

fn state() -> State<Recorder, Secrets, MemoryBlobs> {
    state_with("local-app-secret", None, false)
}

fn event(name: &str) -> Request {
    let path = format!("{}/../../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn meta_body(name: &str) -> String {
    let path = format!(
        "{}/../../events/meta/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap().trim_end().to_owned()
}

async fn call(state: &State<Recorder, Secrets, MemoryBlobs>, req: Request) -> (StatusCode, String) {
    let res = handler(state, req).await.unwrap();
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Body::Empty => String::new(),
        _ => String::new(),
    };
    (res.status(), body)
}

fn queued(state: &State<Recorder, Secrets, MemoryBlobs>) -> Vec<serde_json::Value> {
    state.inbound.events()
}

fn post(body: &[u8], signature: Option<String>) -> Request {
    let mut req = Request::new(Body::Binary(body.to_vec()));
    *req.method_mut() = lambda_http::http::Method::POST;
    if let Some(sig) = signature {
        req.headers_mut()
            .insert("X-Hub-Signature-256", sig.parse().unwrap());
    }
    req
}

fn signed(body: &[u8], secret: &str) -> Request {
    post(
        body,
        Some(shared::signature::sign(body, &secret.to_owned().into())),
    )
}

#[tokio::test]
async fn echoes_the_challenge_for_the_right_verify_token() {
    let (status, body) = call(&state(), event("webhook-get-verify")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1158201444"));
}

#[tokio::test]
async fn refuses_the_handshake_with_a_wrong_token_or_mode() {
    assert_eq!(
        call(&state(), event("webhook-get-wrong-token")).await.0,
        StatusCode::FORBIDDEN
    );
    let mut req = Request::default();
    *req.uri_mut() =
        "/webhook?hub.mode=unsubscribe&hub.verify_token=local-verify-token&hub.challenge=1"
            .parse()
            .unwrap();
    assert_eq!(call(&state(), req).await.0, StatusCode::FORBIDDEN);
    let mut req = Request::default();
    *req.uri_mut() = "/webhook".parse().unwrap();
    assert_eq!(call(&state(), req).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn echoes_a_challenge_that_is_not_a_number_verbatim() {
    let mut req = Request::default();
    *req.uri_mut() =
        "/webhook?hub.challenge=00abc%2Fx&hub.mode=subscribe&hub.verify_token=local-verify-token"
            .parse()
            .unwrap();
    assert_eq!(
        call(&state(), req).await,
        (StatusCode::OK, "00abc/x".to_owned())
    );
}

#[tokio::test]
async fn buffers_every_documented_payload_with_its_context() {
    let cases: &[(&str, &str, &str)] = &[
        ("text", "message", "messages"),
        ("text-reply", "message", "messages"),
        ("text-forwarded", "message", "messages"),
        ("text-ad-referral", "message", "messages"),
        ("text-bsuid-only", "message", "messages"),
        ("image", "message", "messages"),
        ("video", "message", "messages"),
        ("audio", "message", "messages"),
        ("document", "message", "messages"),
        ("sticker", "message", "messages"),
        ("location", "message", "messages"),
        ("contacts", "message", "messages"),
        ("interactive-button", "message", "messages"),
        ("interactive-list", "message", "messages"),
        ("interactive-flow", "message", "messages"),
        ("button", "message", "messages"),
        ("reaction", "message", "messages"),
        ("reaction-removed", "message", "messages"),
        ("order", "message", "messages"),
        ("system-number-changed", "message", "messages"),
        ("system-number-changed-user-id", "message", "messages"),
        ("system-user-id-changed", "message", "messages"),
        ("text-username", "message", "messages"),
        ("unsupported", "message", "messages"),
        ("status-sent", "status", "messages"),
        ("status-delivered", "status", "messages"),
        ("status-read", "status", "messages"),
        ("status-failed", "status", "messages"),
        (
            "template-status",
            "change",
            "message_template_status_update",
        ),
        (
            "template-quality",
            "change",
            "message_template_quality_update",
        ),
        ("phone-quality", "change", "phone_number_quality_update"),
        ("account-update", "change", "account_update"),
        ("user-preferences", "change", "user_preferences"),
        ("user-id-update", "change", "user_id_update"),
        ("call-connect", "change", "calls"),
        ("call-status-ringing", "change", "calls"),
        ("echo-text", "change", "smb_message_echoes"),
        ("history-declined", "change", "history"),
        ("app-state-sync", "change", "smb_app_state_sync"),
        ("text-group", "message", "messages"),
        ("status-group-sent", "status", "messages"),
        ("group-lifecycle-create", "change", "group_lifecycle_update"),
        (
            "group-participants-remove",
            "change",
            "group_participants_update",
        ),
        ("group-settings-update", "change", "group_settings_update"),
        ("group-status-suspend", "change", "group_status_update"),
    ];
    for (name, kind, field) in cases {
        let state = state();
        let (status, _) = call(&state, event(&format!("webhook-post-{name}"))).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let items = queued(&state);
        assert_eq!(items.len(), 1, "{name}");
        let item = &items[0];
        assert_eq!(
            (item["kind"].as_str(), item["field"].as_str()),
            (Some(*kind), Some(*field)),
            "{name}"
        );
        assert_eq!(item["waba_id"], "102290129340398", "{name}");
        // The update is Meta's own JSON: the original body contains it byte for byte.
        let update_text = serde_json::to_string(&item["update"]).unwrap();
        let original: serde_json::Value = serde_json::from_str(&meta_body(name)).unwrap();
        assert!(
            serde_json::to_string(&original)
                .unwrap()
                .contains(&update_text),
            "{name}"
        );
        if *kind == "message" && !name.starts_with("system-") {
            assert!(item["contact"].is_object(), "{name} lost its contact block");
            assert_eq!(
                item["metadata"]["phone_number_id"], "106540352242922",
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn buffers_each_past_message_of_a_history_alone_with_its_thread_and_chunk() {
    let state = state();
    let (status, _) = call(&state, event("webhook-post-history")).await;
    assert_eq!(status, StatusCode::OK);
    let items = queued(&state);
    let wamids: Vec<_> = items.iter().map(|i| i["update"]["id"].clone()).collect();
    assert_eq!(
        wamids,
        ["wamid.HBgNHISTORYINAA==", "wamid.HBgNHISTORYOUTAA=="]
    );
    for item in &items {
        assert_eq!(item["kind"], "history_message");
        assert_eq!(item["field"], "history");
        assert_eq!(item["thread_id"], "5511987654321");
        assert_eq!(
            item["chunk"],
            serde_json::json!({"phase": 1, "chunk_order": 2, "progress": 55})
        );
        assert_eq!(item["metadata"]["phone_number_id"], "106540352242922");
    }
    let kinds: Vec<_> = state
        .inbound
        .messages()
        .iter()
        .map(|m| m.attributes.clone())
        .collect();
    assert!(kinds
        .iter()
        .all(|a| a.contains(&("kind".to_owned(), "history_message".to_owned()))));
}

#[tokio::test]
async fn keeps_the_raw_escapes_meta_signed() {
    let state = state();
    call(&state, event("webhook-post-text")).await;
    let raw = &state.inbound.messages()[0].body;
    assert!(
        raw.contains(r"Ol\u00e1! Voc\u00ea tem em azul? \ud83d\udc4b @loja https:\/\/ex.com\/a"),
        "{raw}"
    );
}

#[tokio::test]
async fn accepts_a_base64_body_from_api_gateway() {
    let state = state();
    assert_eq!(
        call(&state, event("webhook-post-base64")).await.0,
        StatusCode::OK
    );
    assert_eq!(queued(&state).len(), 1);
}

#[tokio::test]
async fn rejects_forged_unsigned_and_wrong_prefix_posts_and_queues_nothing() {
    for name in [
        "webhook-post-forged",
        "webhook-post-unsigned",
        "webhook-post-wrong-prefix",
    ] {
        let state = state();
        assert_eq!(
            call(&state, event(name)).await.0,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        assert!(queued(&state).is_empty(), "{name}");
    }
}

#[tokio::test]
async fn rejects_a_truncated_body_and_an_empty_one() {
    let body = meta_body("text");
    let sig = shared::signature::sign(body.as_bytes(), &"local-app-secret".to_owned().into());
    let state = state();
    let truncated = post(&body.as_bytes()[..body.len() / 2], Some(sig.clone()));
    assert_eq!(call(&state, truncated).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&state, post(b"", Some(sig))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(queued(&state).is_empty());
}

#[tokio::test]
async fn a_signed_empty_body_is_a_bad_request() {
    let state = state();
    let (status, body) = call(&state, signed(b"", "local-app-secret")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not valid JSON"), "{body}");
}

#[tokio::test]
async fn answers_400_with_a_reason_for_signed_non_json_or_non_envelope() {
    let state = state();
    let (status, body) = call(&state, event("webhook-post-not-json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not valid JSON"));
    let (status, body) = call(&state, event("webhook-post-not-envelope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("whatsapp_business_account"), "{body}");
    assert!(queued(&state).is_empty());
}

#[tokio::test]
async fn refuses_a_body_over_3_mb_before_anything_else() {
    let state = state();
    let big = vec![b' '; webhook::MAX_BODY_BYTES + 1];
    assert_eq!(
        call(&state, signed(&big, "local-app-secret")).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(queued(&state).is_empty());
}

#[tokio::test]
async fn buffers_all_1000_updates_of_a_full_batch() {
    let state = state();
    let body = shared::testkit::text_batch(1000, 900);
    let (status, _) = call(&state, signed(body.as_bytes(), "local-app-secret")).await;
    assert_eq!(status, StatusCode::OK);
    let items = queued(&state);
    assert_eq!(items.len(), 1000);
    let mut ids: Vec<_> = items
        .iter()
        .map(|i| i["update"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    assert!(items
        .iter()
        .all(|i| i["contact"]["wa_id"] == i["update"]["from"]));
}

#[tokio::test]
async fn buffers_a_duplicate_post_again_for_the_processor_to_deduplicate() {
    let state = state();
    assert_eq!(
        call(&state, event("webhook-post-text")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&state, event("webhook-post-text")).await.0,
        StatusCode::OK
    );
    let items = queued(&state);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["update"], items[1]["update"]);
}

#[tokio::test]
async fn accepts_the_previous_secret_during_a_rotation_but_not_an_unknown_one() {
    let state = state_with("new-secret", Some("local-app-secret"), false);
    assert_eq!(
        call(&state, event("webhook-post-text")).await.0,
        StatusCode::OK
    );
    let body = meta_body("text");
    assert_eq!(
        call(&state, signed(body.as_bytes(), "new-secret")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&state, signed(body.as_bytes(), "unknown")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(queued(&state).len(), 2);
}

#[tokio::test]
async fn refuses_the_previous_secret_once_the_grace_period_has_passed() {
    let state = state_rotated("new-secret", Some("local-app-secret"), 3_601_000, false);
    assert_eq!(
        call(&state, event("webhook-post-text")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(queued(&state).is_empty());
}

#[tokio::test]
async fn refuses_a_placeholder_previous_secret_within_the_grace_period() {
    let body = meta_body("text");
    for placeholder in ["set-me", ""] {
        let state = state_with("new-secret", Some(placeholder), false);
        assert_eq!(
            call(&state, signed(body.as_bytes(), placeholder)).await.0,
            StatusCode::UNAUTHORIZED,
            "{placeholder:?}"
        );
        assert!(queued(&state).is_empty());
    }
}

#[tokio::test]
async fn answers_503_to_every_post_while_the_app_secret_is_a_placeholder() {
    let body = meta_body("text");
    for placeholder in ["set-me", "", "  "] {
        let state = state_with(placeholder, Some("local-app-secret"), false);
        for req in [
            signed(body.as_bytes(), placeholder),
            signed(body.as_bytes(), "local-app-secret"),
            post(body.as_bytes(), None),
            signed(&vec![b' '; webhook::MAX_BODY_BYTES + 1], placeholder),
        ] {
            let (status, reply) = call(&state, req).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{placeholder:?}");
            assert!(reply.contains("retry"), "{reply}");
        }
        assert!(queued(&state).is_empty());
    }
}

#[tokio::test]
async fn still_answers_the_handshake_while_the_app_secret_is_a_placeholder() {
    let state = state_with("set-me", None, false);
    let (status, body) = call(&state, event("webhook-get-verify")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1158201444"));
}

#[tokio::test]
async fn a_placeholder_verify_token_answers_no_handshake() {
    let mut state = state();
    let versions = SecretVersions {
        current: Version {
            value: AppCredentials {
                app_secret: "local-app-secret".to_owned().into(),
                verify_token: "set-me".to_owned().into(),
            },
            created_ms: Some(0),
        },
        previous: None,
    };
    state.secrets = CachedSecrets::new(StaticSecrets(versions), Duration::from_secs(300));
    let mut req = Request::default();
    *req.uri_mut() = "/webhook?hub.mode=subscribe&hub.verify_token=set-me&hub.challenge=1"
        .parse()
        .unwrap();
    assert_eq!(call(&state, req).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn answers_5xx_when_the_queue_fails_so_meta_retries() {
    let state = state_with("local-app-secret", None, true);
    let (status, body) = call(&state, event("webhook-post-text")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !body.contains("InternalError"),
        "internal detail leaked: {body}"
    );
}

#[tokio::test]
async fn answers_405_to_other_methods() {
    let mut req = Request::default();
    *req.method_mut() = lambda_http::http::Method::PUT;
    assert_eq!(call(&state(), req).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "current_thread")]
async fn logs_one_clear_error_per_post_while_the_app_secret_is_unset_and_never_the_secret() {
    let recorder = shared::testkit::LogRecorder::default();
    let _guard = recorder.install();
    let state = state_with("set-me", Some("old-app-secret"), false);
    let body = meta_body("text");
    let (status, _) = call(&state, signed(body.as_bytes(), "set-me")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let errors: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.level == tracing::Level::ERROR)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let line = format!("{} {:?}", errors[0].message, errors[0].fields);
    assert!(line.contains("app secret is unset"), "{line}");
    assert!(
        line.contains("put Meta's app secret"),
        "says what to do: {line}"
    );
    assert!(
        !line.contains("set-me") && !line.contains("old-app-secret"),
        "{line}"
    );
}

/// A POST whose one change is ~1.2 MB (over SQS's 1 MiB per message) and signed.
fn oversize_post() -> (Vec<u8>, String) {
    let entries: Vec<serde_json::Value> = (0..7000)
        .map(|i| {
            serde_json::json!({"type": "contact", "action": "add",
                "contact": {"full_name": format!("Cliente {i:05} da loja"), "first_name": "Cliente",
                            "phone_number": format!("55119{i:08}")},
                "metadata": {"timestamp": "1741640000"}})
        })
        .collect();
    let value = serde_json::json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "state_sync": entries});
    let raw = value.to_string();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "smb_app_state_sync", "value": value}]}]})
    .to_string();
    assert!(raw.len() > shared::queue::MESSAGE_BYTES, "{}", raw.len());
    (body.into_bytes(), raw)
}

#[tokio::test]
async fn an_update_too_large_for_one_queue_message_is_stored_and_queued_by_reference() {
    let state = state();
    let (body, raw) = oversize_post();
    let (status, _) = call(&state, signed(&body, "local-app-secret")).await;
    assert_eq!(status, StatusCode::OK);

    let key = shared::blob::keys::update(raw.as_bytes());
    assert_eq!(state.blobs.keys(), vec![key.clone()]);
    let stored = shared::blob::Blobs::get(&state.blobs, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.bytes,
        raw.as_bytes(),
        "Meta's bytes of the update, as sent"
    );
    let queued = queued(&state);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["stored"], key.as_str());
    assert_eq!(queued[0]["update"], serde_json::Value::Null);
    assert_eq!(queued[0]["field"], "smb_app_state_sync");

    // Meta's retry of the same POST stores the same object again, under the same key.
    let (status, _) = call(&state, signed(&body, "local-app-secret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state.blobs.keys(), vec![key]);
}

/// A bucket that refuses every write.
struct Unwritable;

impl shared::blob::Blobs for Unwritable {
    fn bucket(&self) -> &str {
        "bucket"
    }
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), shared::blob::BlobError> {
        Err(shared::blob::BlobError::Aws {
            operation: "PutObject",
            message: "SlowDown: please reduce your request rate".into(),
        })
    }
    async fn get(&self, _: &str) -> Result<Option<shared::blob::Blob>, shared::blob::BlobError> {
        Ok(None)
    }
    async fn list(&self, _: &str) -> Result<Vec<String>, shared::blob::BlobError> {
        Ok(vec![])
    }
    async fn delete(&self, keys: &[String]) -> Result<usize, shared::blob::BlobError> {
        Ok(keys.len())
    }
    async fn presign_get(&self, _: &str, _: Duration) -> Result<String, shared::blob::BlobError> {
        Ok(String::new())
    }
}

#[tokio::test]
async fn an_update_that_cannot_be_stored_is_answered_503_and_nothing_is_queued() {
    let base = state();
    let state = State {
        secrets: base.secrets,
        inbound: base.inbound,
        blobs: Unwritable,
        previous_secret_grace: base.previous_secret_grace,
    };
    let (body, _) = oversize_post();
    let res = handler(&state, signed(&body, "local-app-secret"))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "Meta retries"
    );
    assert!(
        state.inbound.events().is_empty(),
        "no reference to a missing object"
    );
}
