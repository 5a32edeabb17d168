//! The HTTP face of the simulator: Graph's send endpoint plus the `/_sim/*` control endpoints.
//! Every extractor failure is answered here, in Meta's shape on Graph paths and as
//! `{"error": "<reason>"}` on `/_sim` paths, never with axum's default rejection text.

use std::future::Future;
use std::io;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::errors::MetaError;
use crate::late::LateAnswer;
use crate::media::{DownloadRefusal, MediaFault, DOWNLOAD_PATH};
use crate::sim::{Fault, InboundRequest, Simulator};

impl Simulator {
    /// All routes, sharing this simulator's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/{phone_number_id}/messages", post(send))
            .route(
                "/{version}/{media_id}",
                get(media_metadata).fallback(unknown_path),
            )
            .route(DOWNLOAD_PATH, get(media_download).fallback(unknown_path))
            .route("/_sim/media", post(register_media))
            .route(
                "/_sim/media-faults",
                get(list_media_faults)
                    .post(add_media_fault)
                    .delete(clear_media_faults),
            )
            .route("/_sim/messages", get(list_requests).delete(clear_requests))
            .route(
                "/_sim/faults",
                get(list_faults).post(add_fault).delete(clear_faults),
            )
            .route(
                "/_sim/late-answers",
                get(list_late_answers).post(add_late_answer),
            )
            .route("/_sim/inbound", post(inbound))
            .route("/_sim/webhook", post(change))
            .route("/_sim/webhooks", get(list_webhooks).delete(clear_webhooks))
            .route("/_sim/reset", post(reset))
            .route("/_sim/health", get(health))
            .fallback(unknown_path)
            .with_state(self.clone())
    }

    /// Serves until the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn serve_with_shutdown<F>(
        self,
        listener: tokio::net::TcpListener,
        shutdown: F,
    ) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn send(
    State(sim): State<Simulator>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path((version, phone_number_id))) = path else {
        return MetaError::unknown_path(uri.path()).into_response();
    };
    let Ok(body) = body else {
        return MetaError::invalid("The request body could not be read.").into_response();
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let outcome = sim.handle_send(uri.path(), &version, &phone_number_id, authorization, &body);
    if let Some(after) = outcome.answer_after {
        tokio::time::sleep(after).await;
    }
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        outcome.body,
    )
        .into_response();
    if let Some(value) = outcome.error.as_ref().and_then(MetaError::www_authenticate) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn media_metadata(
    State(sim): State<Simulator>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((version, media_id))) = path else {
        return MetaError::unknown_path(uri.path()).into_response();
    };
    // The URL points back at whatever address the caller reached the simulator on.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base_url = format!("http://{host}");
    match sim.media_metadata(&version, &media_id, authorization(&headers), &base_url) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

/// The download URL's query: only `hash` names the URL; `mid` and `ext` are informative.
#[derive(Deserialize)]
struct DownloadQuery {
    hash: String,
}

async fn media_download(
    State(sim): State<Simulator>,
    query: Result<Query<DownloadQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Query(query)) = query else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match sim.media_download(&query.hash, authorization(&headers)) {
        Ok(download) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, download.mime_type)],
            download.bytes,
        )
            .into_response(),
        Err(DownloadRefusal::Token(err)) => err.into_response(),
        Err(DownloadRefusal::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(DownloadRefusal::Fault(status)) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
    }
}

async fn register_media(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return sim_error(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        );
    };
    let mime_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match sim.register_media(body.to_vec(), mime_type) {
        Ok(media) => (StatusCode::CREATED, Json(media)).into_response(),
        Err(err) => sim_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

async fn list_media_faults(State(sim): State<Simulator>) -> Response {
    Json(sim.media_faults()).into_response()
}

async fn add_media_fault(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let fault: MediaFault = match parse(body) {
        Ok(fault) => fault,
        Err(rejection) => return rejection.into_response(),
    };
    match sim.add_media_fault(fault.clone()) {
        Ok(()) => (StatusCode::CREATED, Json(fault)).into_response(),
        Err(err) => sim_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

async fn clear_media_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_media_faults();
    StatusCode::NO_CONTENT
}

async fn list_requests(State(sim): State<Simulator>) -> Response {
    Json(sim.requests()).into_response()
}

async fn clear_requests(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_requests();
    StatusCode::NO_CONTENT
}

async fn list_faults(State(sim): State<Simulator>) -> Response {
    Json(sim.faults()).into_response()
}

async fn add_fault(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Response {
    let fault: Fault = match parse(body) {
        Ok(fault) => fault,
        Err(rejection) => return rejection.into_response(),
    };
    match sim.add_fault(fault.clone()) {
        Ok(()) => (StatusCode::CREATED, Json(fault)).into_response(),
        Err(err) => sim_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

async fn list_late_answers(State(sim): State<Simulator>) -> Response {
    Json(sim.late_answers()).into_response()
}

async fn add_late_answer(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rule: LateAnswer = match parse(body) {
        Ok(rule) => rule,
        Err(rejection) => return rejection.into_response(),
    };
    match sim.add_late_answer(rule.clone()) {
        Ok(()) => (StatusCode::CREATED, Json(rule)).into_response(),
        Err(err) => sim_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn inbound(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: InboundRequest = match parse(body) {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };
    match sim.deliver_inbound(&request).await {
        Ok(outcome) => match outcome.webhook_status {
            Ok(status) => {
                Json(json!({"wamid": outcome.wamid, "webhook_status": status})).into_response()
            }
            Err(reason) => (
                StatusCode::BAD_GATEWAY,
                Json(json!({"wamid": outcome.wamid, "error": reason})),
            )
                .into_response(),
        },
        Err(err) => sim_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

/// `POST /_sim/webhook` body: any change value to deliver under `field`.
#[derive(Deserialize)]
struct ChangeRequest {
    #[serde(default = "messages_field")]
    field: String,
    value: Box<RawValue>,
}

fn messages_field() -> String {
    "messages".to_owned()
}

async fn change(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: ChangeRequest = match parse(body) {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };
    match sim.deliver_change(&request.field, &request.value).await {
        Ok(status) => Json(json!({"webhook_status": status})).into_response(),
        Err(reason) => sim_error(StatusCode::BAD_GATEWAY, reason),
    }
}

async fn list_webhooks(State(sim): State<Simulator>) -> Response {
    Json(sim.webhooks()).into_response()
}

async fn clear_webhooks(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_webhooks();
    StatusCode::NO_CONTENT
}

async fn reset(State(sim): State<Simulator>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Graph's answer for any path it does not serve.
async fn unknown_path(uri: Uri) -> Response {
    MetaError::unknown_path(uri.path()).into_response()
}

/// A `/_sim` request that could not be read: answered `{"error": reason}`.
struct BadRequest(StatusCode, String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        sim_error(self.0, self.1)
    }
}

fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, BadRequest> {
    let bytes =
        body.map_err(|e| BadRequest(e.status(), "the request body could not be read".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BadRequest(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn sim_error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({"error": reason.into()}))).into_response()
}
