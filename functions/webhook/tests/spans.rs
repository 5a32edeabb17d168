//! Log context is true: the webhook's span covers only the webhook's own lines, even while the
//! handler waits on I/O and other work runs on the same thread (as in the local runner).

use shared::blob::memory::MemoryBlobs;
use std::time::Duration;

use lambda_http::http::Method;
use lambda_http::{Body, Request};
use shared::queue::{MessageSink, OutboundMessage, QueueError};
use shared::secrets::{AppCredentials, CachedSecrets, SecretVersions, StaticSecrets, Version};
use shared::testkit::LogRecorder;
use webhook::{handler, State};

/// A queue that makes the handler wait, as SQS does, before accepting.
struct SlowSink;

impl MessageSink for SlowSink {
    async fn send_all(&self, _messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

fn state() -> State<SlowSink, StaticSecrets<AppCredentials>, MemoryBlobs> {
    let versions = SecretVersions {
        current: Version {
            value: AppCredentials {
                app_secret: "local-app-secret".to_owned().into(),
                verify_token: "local-verify-token".to_owned().into(),
            },
            created_ms: Some(shared::now_ms()),
        },
        previous: None,
    };
    State {
        secrets: CachedSecrets::new(StaticSecrets(versions), Duration::from_secs(300)),
        inbound: SlowSink,
        blobs: MemoryBlobs::new("bucket"),
        previous_secret_grace: Duration::from_secs(3600),
    }
}

fn signed_post(body: &str) -> Request {
    let signature = shared::signature::sign(body.as_bytes(), &"local-app-secret".to_owned().into());
    let mut req = Request::new(Body::Text(body.to_owned()));
    *req.method_mut() = Method::POST;
    req.headers_mut().insert(
        shared::signature::SIGNATURE_HEADER,
        signature.parse().expect("hex is a valid header value"),
    );
    req
}

#[tokio::test(flavor = "current_thread")]
async fn the_webhook_span_stays_off_lines_logged_by_other_tasks_while_it_waits() {
    let recorder = LogRecorder::default();
    let _guard = recorder.install();
    let state = state();
    let other_task = async {
        for _ in 0..5 {
            tokio::task::yield_now().await;
            tracing::info!("another task's line");
        }
    };
    let (response, ()) = tokio::join!(
        handler(&state, signed_post(&shared::testkit::text_batch(2, 10))),
        other_task
    );
    assert_eq!(response.expect("infallible").status(), 200);
    let others: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.message == "another task's line")
        .collect();
    assert_eq!(others.len(), 5);
    for line in others {
        assert!(
            line.spans.is_empty(),
            "another task's line was logged inside {:?}",
            line.spans
        );
    }
}
