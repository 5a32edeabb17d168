//! The webhook function: Meta's GET handshake and signed POSTs.
//!
//! A POST is answered 200 only once every update it carries is on the inbound queue; if any part
//! cannot be buffered the answer is 5xx and Meta retries (duplicates are handled downstream).
//! An update too large for one queue message is first stored in the bucket under a key named by
//! its content, and a reference to it is queued instead (a claim check the processor redeems).

use std::convert::Infallible;
use std::time::Duration;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use shared::blob::s3::{BucketConfig, S3Blobs};
use shared::blob::{keys, BlobError, Blobs};
use shared::config::{ConfigError, Env};
use shared::inbound::{self, EnvelopeError, UpdateKind};
use shared::queue::{self, MessageSink, OutboundMessage, QueueError, SqsSink};
use shared::secrets::{
    AppCredentials, CachedSecrets, SecretSource, SecretVersions, SecretsError, SecretsManagerSource,
};
use shared::signature::{self, SignatureError, SIGNATURE_HEADER};
use subtle::ConstantTimeEq;
use tracing::Instrument;

/// Meta sends at most 3 MB per POST; anything bigger is not Meta.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What the handler needs, built once at cold start.
pub struct State<Q, S: SecretSource, B> {
    pub secrets: CachedSecrets<S>,
    pub inbound: Q,
    /// Where updates too large for one queue message go (claim checks).
    pub blobs: B,
    /// How long after a rotation the `AWSPREVIOUS` app secret still verifies.
    pub previous_secret_grace: Duration,
}

/// What the operator must do while the app secret is unset (the one error line says it).
const SET_THE_APP_SECRET: &str =
    "put Meta's app secret into the webhook's secret (README, first deploy); Meta retries for 7 days";

/// The function's settings, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub secret_id: String,
    pub secrets_refresh: Duration,
    /// `PREVIOUS_SECRET_GRACE_SECONDS` (default 3600): the `AWSPREVIOUS` app secret verifies
    /// only this long after the current version was created.
    pub previous_secret_grace: Duration,
    pub inbound_queue_url: String,
    /// `DATA_BUCKET`: the bucket of claim-checked updates.
    pub bucket: BucketConfig,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            secret_id: env.required("SECRET_ID")?,
            secrets_refresh: env.seconds_or("SECRETS_REFRESH_SECONDS", Duration::from_secs(300))?,
            previous_secret_grace: env
                .seconds_or("PREVIOUS_SECRET_GRACE_SECONDS", Duration::from_secs(3600))?,
            inbound_queue_url: env.required("INBOUND_QUEUE_URL")?,
            bucket: BucketConfig::from_env(env)?,
        })
    }
}

/// The state wired to AWS: Secrets Manager, SQS and S3.
pub type LiveState = State<SqsSink, SecretsManagerSource<AppCredentials>, S3Blobs>;

impl LiveState {
    pub fn live(config: &Config, aws: &aws_config::SdkConfig) -> Self {
        // The previous app secret stays valid for PREVIOUS_SECRET_GRACE_SECONDS after a rotation.
        let secrets =
            SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(aws), &config.secret_id)
                .with_previous();
        State {
            secrets: CachedSecrets::new(secrets, config.secrets_refresh),
            inbound: SqsSink::new(aws_sdk_sqs::Client::new(aws), &config.inbound_queue_url),
            blobs: S3Blobs::new(aws, &config.bucket.data_bucket),
            previous_secret_grace: config.previous_secret_grace,
        }
    }
}

/// Everything that can go wrong with a request; mapped to a status code in [`WebhookError::status`] only.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("verification failed")]
    Forbidden,
    #[error("invalid signature: {0}")]
    Unauthorized(#[from] SignatureError),
    #[error("body is {0} bytes, over the 3 MB limit")]
    TooLarge(usize),
    #[error("{0}")]
    BadRequest(#[from] EnvelopeError),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("credentials unavailable")]
    Secrets(#[from] SecretsError),
    /// The current app secret is a placeholder: no signature is trusted, Meta retries.
    #[error("the app secret is unset or a placeholder: {fix}")]
    AppSecretUnset { fix: &'static str },
    #[error("could not buffer every update")]
    Queue(#[from] QueueError),
    #[error("could not store an update too large for the queue")]
    Store(#[from] BlobError),
    #[error("could not serialise an update")]
    Encode(#[source] serde_json::Error),
}

impl WebhookError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Secrets(_) | Self::AppSecretUnset { .. } | Self::Queue(_) | Self::Store(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short reason sent back; internal detail stays in the logs.
    fn public_reason(&self) -> String {
        match self {
            Self::Secrets(_)
            | Self::AppSecretUnset { .. }
            | Self::Queue(_)
            | Self::Store(_)
            | Self::Encode(_) => "temporarily unavailable, retry".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The Lambda handler (also called by the local runner). Never fails: every outcome is a response.
pub async fn handler<Q: MessageSink, S: SecretSource<Value = AppCredentials>, B: Blobs>(
    state: &State<Q, S, B>,
    req: Request,
) -> Result<Response<Body>, Infallible> {
    // Attached to the future, not entered: an entered guard held across an `.await` would put
    // this span on every line other tasks log on this thread while the handler waits.
    let span =
        tracing::info_span!("webhook", method = %req.method(), updates = tracing::field::Empty);
    Ok(respond(state, req).instrument(span).await)
}

async fn respond<Q: MessageSink, S: SecretSource<Value = AppCredentials>, B: Blobs>(
    state: &State<Q, S, B>,
    req: Request,
) -> Response<Body> {
    let method = req.method().clone();
    let result = match method {
        Method::GET => handshake(state, &req).await,
        Method::POST => ingest(state, &req).await.map(|n| {
            tracing::Span::current().record("updates", n);
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from(format!("{{\"buffered\":{n}}}")))
        }),
        _ => Err(WebhookError::MethodNotAllowed),
    };
    match result {
        Ok(Ok(response)) => response,
        Ok(Err(build)) => {
            tracing::error!(error = %build, "could not build response");
            error_response(&WebhookError::MethodNotAllowed)
        }
        Err(err) => {
            // The error chain's Display, never its Debug: Debug would print SDK responses and
            // field values that Display keeps out.
            let error = shared::telemetry::error_chain(&err);
            if err.status().is_server_error() {
                tracing::error!(%error, "webhook failed; Meta will retry");
            } else {
                tracing::warn!(%error, status = err.status().as_u16(), "webhook rejected");
            }
            error_response(&err)
        }
    }
}

fn error_response(err: &WebhookError) -> Response<Body> {
    let body = serde_json::json!({ "error": err.public_reason() }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = err.status();
    response.headers_mut().insert(
        "content-type",
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

type Built = Result<Response<Body>, lambda_http::http::Error>;

/// GET: `hub.mode=subscribe` with the right `hub.verify_token` echoes `hub.challenge` verbatim.
async fn handshake<Q, S: SecretSource<Value = AppCredentials>, B>(
    state: &State<Q, S, B>,
    req: &Request,
) -> Result<Built, WebhookError> {
    let query = req.uri().query().unwrap_or("");
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in form_urlencoded_pairs(query) {
        match key.as_str() {
            "hub.mode" => mode = Some(value),
            "hub.verify_token" => token = Some(value),
            "hub.challenge" => challenge = Some(value),
            _ => {}
        }
    }
    let (Some(mode), Some(token), Some(challenge)) = (mode, token, challenge) else {
        return Err(WebhookError::Forbidden);
    };
    let secrets = state.secrets.get().await?;
    // A placeholder verify token matches nothing.
    let token_ok: bool = secrets.verify_token().is_some_and(|expected| {
        token
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into()
    });
    if mode != "subscribe" || !token_ok {
        return Err(WebhookError::Forbidden);
    }
    tracing::info!("webhook subscription verified");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(Body::from(challenge)))
}

/// Splits `a=1&b=2` into decoded pairs (`+` is a space, `%XX` escapes; bad escapes kept literally).
fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'+') => out.push(b' '),
            Some(b'%') => match bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            Some(&b) => out.push(b),
            None => break,
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// POST: verify, split, store what is too large, buffer. Returns how many updates were buffered.
async fn ingest<Q: MessageSink, S: SecretSource<Value = AppCredentials>, B: Blobs>(
    state: &State<Q, S, B>,
    req: &Request,
) -> Result<usize, WebhookError> {
    let body: &[u8] = req.body().as_ref();
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let secrets = state.secrets.get().await?;
    let prepared = prepare(
        &secrets,
        state.previous_secret_grace,
        header,
        body,
        shared::now_ms(),
    );
    if let Err(WebhookError::AppSecretUnset { .. }) = &prepared {
        shared::metrics::count("AppSecretUnset", "webhook", serde_json::Map::new());
    }
    let Prepared { messages, stored } = prepared?;
    let count = messages.len();
    // Stored before their references are queued: a reference never names a missing object.
    for update in stored {
        state
            .blobs
            .put(&update.key, update.bytes, "application/json")
            .await?;
    }
    state.inbound.send_all(messages).await?;
    Ok(count)
}

/// What a POST becomes: the queue messages, and the updates to store first (claim checks).
#[derive(Debug, Default)]
pub struct Prepared {
    pub messages: Vec<OutboundMessage>,
    pub stored: Vec<StoredUpdate>,
}

/// An update too large for one queue message, as it goes to the bucket: Meta's bytes of it,
/// under a key named by them (a retry of the POST writes the same object again).
#[derive(Debug)]
pub struct StoredUpdate {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// The handler's own work on a POST, without I/O: which app secrets are trusted at
/// `received_at_ms` (none while the current one is a placeholder: every POST is 503), size
/// check, signature, parse, split, the SQS messages to send and the updates too large for one
/// (stored, and queued by reference). Benchmarked in `benches/ingest.rs`.
pub fn prepare(
    secrets: &SecretVersions<AppCredentials>,
    previous_secret_grace: Duration,
    signature_header: Option<&str>,
    body: &[u8],
    received_at_ms: i64,
) -> Result<Prepared, WebhookError> {
    let keys = secrets
        .signing_keys(received_at_ms, previous_secret_grace)
        .map_err(|_| WebhookError::AppSecretUnset {
            fix: SET_THE_APP_SECRET,
        })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge(body.len()));
    }
    signature::verify(signature_header, body, keys)?;
    let updates = inbound::split(body, received_at_ms)?;
    let mut prepared = Prepared::default();
    for u in &updates {
        let mut message = message_of(u)?;
        if queue::size(&message) > queue::MESSAGE_BYTES {
            let bytes = u.update.get().as_bytes().to_vec();
            let key = keys::update(&bytes);
            message = message_of(&u.by_reference(key.clone()))?;
            prepared.stored.push(StoredUpdate { key, bytes });
        }
        prepared.messages.push(message);
    }
    Ok(prepared)
}

/// The queue message of one update: its JSON, with its kind and field as attributes.
fn message_of(u: &inbound::BufferedUpdate<'_>) -> Result<OutboundMessage, WebhookError> {
    Ok(OutboundMessage {
        body: serde_json::to_string(u).map_err(WebhookError::Encode)?,
        attributes: vec![
            ("kind".to_owned(), kind_name(u.kind).to_owned()),
            ("field".to_owned(), u.field.clone().into_owned()),
        ],
        ..OutboundMessage::default()
    })
}

fn kind_name(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message => "message",
        UpdateKind::Status => "status",
        UpdateKind::Error => "error",
        UpdateKind::Change => "change",
        UpdateKind::HistoryMessage => "history_message",
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_query_escapes_and_keeps_bad_ones() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A1"), "á");
    }
}
