//! Plays API Gateway's HTTP API: routes GET and POST `/webhook` to the webhook handler with the
//! raw body preserved byte for byte (as `isBase64Encoded: false` text when it is UTF-8, as
//! binary otherwise, as API Gateway does).

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

/// Anything that answers a `lambda_http::Request` like the webhook Lambda does.
pub trait HttpHandler: Send + Sync + 'static {
    fn call(
        &self,
        req: lambda_http::Request,
    ) -> impl Future<Output = lambda_http::Response<lambda_http::Body>> + Send;
}

/// API Gateway rejects larger payloads before they reach Lambda (HTTP API limit: 10 MB).
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// The router for `/webhook` (every method reaches the handler, which answers 405 itself).
pub fn router<H: HttpHandler>(handler: Arc<H>) -> Router {
    Router::new()
        .route("/webhook", any(forward::<H>))
        .with_state(handler)
}

async fn forward<H: HttpHandler>(
    State(handler): State<Arc<H>>,
    req: Request<axum::body::Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_PAYLOAD).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"message\":\"Request Entity Too Large\"}",
            )
                .into_response()
        }
    };
    crate::inputs::webhook_request(parts.uri.query(), &bytes);
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => lambda_http::Body::Text(text),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    };
    let lambda_req = lambda_http::Request::from_parts(parts, body);
    let res = handler.call(lambda_req).await;
    let (parts, body) = res.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
