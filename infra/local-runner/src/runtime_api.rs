//! The Lambda Runtime API for one execution environment, served by the runner: the function's
//! own `lambda_runtime` long-polls `next`, gets one event with Lambda's headers (request id,
//! deadline, function ARN, trace id) and posts its response or error back, exactly as in AWS.
//!
//! Serving the API ourselves (rather than driving `cargo lambda watch`) keeps the runner small
//! and deterministic: each function gets the template's environment and timeout precisely, no
//! cargo or Python tooling runs under the tests, and the runner can kill an environment at its
//! deadline as Lambda does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::clock::LocalClock;

/// Lambda's limit on a synchronous invocation's payload and response (6 MB).
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// One event for the function, and where its outcome goes.
#[derive(Debug)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// The function's timeout: the deadline is this long after the event is handed out.
    pub timeout: Duration,
    /// Told the deadline when the function takes the event (its `next` answered).
    pub handed_out: oneshot::Sender<Instant>,
    pub outcome: oneshot::Sender<Outcome>,
}

/// What the function posted for an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the handler's result.
    Response(Bytes),
    /// `POST /invocation/{id}/error`: the handler failed (or panicked); Lambda's error JSON.
    Error(Bytes),
}

/// Identity Lambda gives an invocation in its headers.
#[derive(Debug, Clone)]
pub struct FunctionIdentity {
    pub arn: String,
}

/// A running Runtime API for one environment.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    /// Flips to true at the function's first `next`: its init phase is over.
    pub ready: watch::Receiver<bool>,
    /// The body of an `init/error` post, if the function reported one.
    pub init_error: Arc<Mutex<Option<Bytes>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct ApiState {
    events: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    ready: watch::Sender<bool>,
    init_error: Arc<Mutex<Option<Bytes>>>,
    identity: FunctionIdentity,
    clock: LocalClock,
}

/// Serves the Runtime API on a free loopback port; invocations arrive through `events`.
pub async fn serve(
    events: mpsc::Receiver<Invocation>,
    identity: FunctionIdentity,
    clock: LocalClock,
) -> std::io::Result<RuntimeApi> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let (ready_tx, ready) = watch::channel(false);
    let init_error = Arc::new(Mutex::new(None));
    let state = Arc::new(ApiState {
        events: tokio::sync::Mutex::new(events),
        pending: Mutex::new(HashMap::new()),
        ready: ready_tx,
        init_error: init_error.clone(),
        identity,
        clock,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error_posted))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(state);
    let server = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "runtime API stopped");
        }
    });
    Ok(RuntimeApi {
        addr,
        ready,
        init_error,
        server,
    })
}

/// Long-polls for the next event and hands it out with Lambda's headers.
async fn next(State(state): State<Arc<ApiState>>) -> Response {
    state.ready.send_replace(true);
    let mut events = state.events.lock().await;
    loop {
        let Some(invocation) = events.recv().await else {
            // The environment is being torn down and the runner kills the process next. Lambda
            // never answers `next` without an event (the runtime could not read it), so neither
            // does this: the long poll stays open until the process is gone.
            return std::future::pending().await;
        };
        let deadline = Instant::now() + invocation.timeout;
        let deadline_ms = state
            .clock
            .now_ms()
            .saturating_add(i64::try_from(invocation.timeout.as_millis()).unwrap_or(i64::MAX));
        if invocation.handed_out.send(deadline).is_err() {
            continue; // the invoker gave up before the function asked
        }
        if let Ok(mut pending) = state.pending.lock() {
            pending.insert(invocation.request_id.clone(), invocation.outcome);
        }
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set("lambda-runtime-aws-request-id", &invocation.request_id);
        set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
        set("lambda-runtime-invoked-function-arn", &state.identity.arn);
        set(
            "lambda-runtime-trace-id",
            &trace_id(state.clock.now_ms(), &invocation.request_id),
        );
        set("content-type", "application/json");
        return (StatusCode::OK, headers, invocation.payload).into_response();
    }
}

/// An X-Ray trace header in Lambda's shape (`Root=1-<epoch hex>-<24 hex>`), not sampled.
fn trace_id(now_ms: i64, request_id: &str) -> String {
    let hex: String = request_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .chain(std::iter::repeat('0'))
        .take(24)
        .collect();
    format!("Root=1-{:08x}-{hex};Sampled=0", now_ms / 1000)
}

fn settle(state: &ApiState, id: &str, outcome: Outcome) -> StatusCode {
    let sender = state.pending.lock().ok().and_then(|mut p| p.remove(id));
    match sender {
        Some(tx) => {
            let _ = tx.send(outcome); // the invoker may have given up at the deadline
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&state, &id, Outcome::Response(body))
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&state, &id, Outcome::Error(body))
}

async fn init_error_posted(State(state): State<Arc<ApiState>>, body: Bytes) -> StatusCode {
    if let Ok(mut slot) = state.init_error.lock() {
        *slot = Some(body);
    }
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn api() -> (RuntimeApi, mpsc::Sender<Invocation>, LocalClock) {
        let (tx, rx) = mpsc::channel(1);
        let clock = LocalClock::new().expect("a clock file");
        let identity = FunctionIdentity {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:sender".into(),
        };
        let api = serve(rx, identity, clock.clone()).await.expect("serves");
        (api, tx, clock)
    }

    fn invocation(
        id: &str,
        timeout: Duration,
    ) -> (
        Invocation,
        oneshot::Receiver<Instant>,
        oneshot::Receiver<Outcome>,
    ) {
        let (handed_out, handed_rx) = oneshot::channel();
        let (outcome, outcome_rx) = oneshot::channel();
        (
            Invocation {
                request_id: id.into(),
                payload: Bytes::from_static(b"{\"Records\":[]}"),
                timeout,
                handed_out,
                outcome,
            },
            handed_rx,
            outcome_rx,
        )
    }

    #[tokio::test]
    async fn hands_out_an_event_with_lambdas_headers_and_takes_its_response() {
        // Arrange
        let (api, tx, clock) = api().await;
        let base = format!("http://{}/2018-06-01/runtime", api.addr);
        let (inv, handed, outcome) = invocation("req-1", Duration::from_secs(7));
        tx.send(inv).await.expect("queued");

        // Act
        let next = reqwest::get(format!("{base}/invocation/next"))
            .await
            .expect("next answers");
        let headers = next.headers().clone();
        let body = next.bytes().await.expect("a body");
        let posted = reqwest::Client::new()
            .post(format!("{base}/invocation/req-1/response"))
            .body("{\"batchItemFailures\":[]}")
            .send()
            .await
            .expect("response answers");

        // Assert
        assert!(*api.ready.borrow());
        assert_eq!(&body[..], b"{\"Records\":[]}");
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        assert_eq!(header("lambda-runtime-aws-request-id"), "req-1");
        assert_eq!(
            header("lambda-runtime-invoked-function-arn"),
            "arn:aws:lambda:us-east-1:123456789012:function:sender"
        );
        assert!(header("lambda-runtime-trace-id").starts_with("Root=1-"));
        let deadline_ms: i64 = header("lambda-runtime-deadline-ms")
            .parse()
            .expect("a number");
        let left = deadline_ms - clock.now_ms();
        assert!((6_500..=7_000).contains(&left), "{left} ms left");
        let deadline = handed.await.expect("handed out");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_millis(6_500), "{left:?}");
        assert_eq!(posted.status(), 202);
        assert_eq!(
            outcome.await.expect("settled"),
            Outcome::Response(Bytes::from_static(b"{\"batchItemFailures\":[]}"))
        );
    }

    #[tokio::test]
    async fn takes_a_handler_error_and_an_init_error_and_refuses_an_unknown_request() {
        // Arrange
        let (api, tx, _) = api().await;
        let base = format!("http://{}/2018-06-01/runtime", api.addr);
        let (inv, _handed, outcome) = invocation("req-2", Duration::from_secs(3));
        tx.send(inv).await.expect("queued");
        let client = reqwest::Client::new();
        client
            .get(format!("{base}/invocation/next"))
            .send()
            .await
            .expect("next answers");

        // Act
        let failed = client
            .post(format!("{base}/invocation/req-2/error"))
            .body("{\"errorType\":\"Boom\"}")
            .send()
            .await
            .expect("error answers");
        let unknown = client
            .post(format!("{base}/invocation/nope/response"))
            .body("{}")
            .send()
            .await
            .expect("answers");
        let init = client
            .post(format!("{base}/init/error"))
            .body("{\"errorType\":\"Config\"}")
            .send()
            .await
            .expect("init error answers");

        // Assert
        assert_eq!(failed.status(), 202);
        assert_eq!(
            outcome.await.expect("settled"),
            Outcome::Error(Bytes::from_static(b"{\"errorType\":\"Boom\"}"))
        );
        assert_eq!(unknown.status(), 400);
        assert_eq!(init.status(), 202);
        let init_error = api.init_error.lock().expect("lock").clone();
        assert_eq!(
            init_error.as_deref(),
            Some(&b"{\"errorType\":\"Config\"}"[..])
        );
    }

    #[tokio::test]
    async fn travel_moves_the_deadline_header_with_the_functions_clock() {
        // Arrange: a day travelled.
        let (api, tx, clock) = api().await;
        clock.travel(Duration::from_secs(86_400)).expect("travels");
        let (inv, _handed, _outcome) = invocation("req-3", Duration::from_secs(3));
        tx.send(inv).await.expect("queued");

        // Act
        let next = reqwest::get(format!(
            "http://{}/2018-06-01/runtime/invocation/next",
            api.addr
        ))
        .await
        .expect("next answers");

        // Assert: the deadline is 3 s ahead on the travelled clock the function reads.
        let deadline_ms: i64 = next
            .headers()
            .get("lambda-runtime-deadline-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a deadline");
        let system = shared::now_ms();
        assert!(
            deadline_ms - system > 86_400_000,
            "{deadline_ms} vs {system}"
        );
        assert!(deadline_ms - clock.now_ms() <= 3_000);
    }
}
