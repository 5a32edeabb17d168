//! Plays API Gateway's HTTP API: every method on `/webhook` reaches the webhook function (which
//! answers 405 itself) as a payload-format-2.0 event with the raw body preserved byte for byte
//! (text when it is UTF-8, base64 otherwise, as API Gateway does); the function's answer becomes
//! the HTTP response, and a failed or timed-out invocation a 500, as API Gateway answers it.

use std::sync::Arc;

use aws_lambda_events::encodings::Body as EventBody;
use aws_lambda_events::event::apigw::ApiGatewayV2httpResponse;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::clock::LocalClock;
use crate::function::Function;

/// API Gateway rejects larger payloads before they reach Lambda (HTTP API limit: 10 MB).
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

#[derive(Clone)]
struct Api {
    function: Arc<Function>,
    clock: LocalClock,
}

/// The router for `/webhook`.
pub fn router(function: Arc<Function>, clock: LocalClock) -> Router {
    Router::new()
        .route("/webhook", any(forward))
        .with_state(Api { function, clock })
}

async fn forward(State(api): State<Api>, req: Request<axum::body::Body>) -> Response {
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
    let request_id = format!("{:016x}", rand::random::<u64>());
    let event = crate::handlers::http_api_event(&parts, &bytes, &request_id, api.clock.now_ms());
    // In a task of its own: a caller that hangs up does not stop the invocation (nor kill its
    // environment), as in AWS.
    let function = api.function.clone();
    let invocation =
        tokio::spawn(async move { function.invoke(Bytes::from(event.to_string())).await });
    let answer = match invocation.await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "webhook invocation failed; API Gateway answers 500");
            return internal_error();
        }
        Err(err) => {
            tracing::warn!(error = %err, "webhook invocation failed; API Gateway answers 500");
            return internal_error();
        }
    };
    match serde_json::from_slice::<ApiGatewayV2httpResponse>(&answer) {
        Ok(res) => to_http(res),
        Err(err) => {
            tracing::warn!(error = %err, "the webhook answered something API Gateway cannot read");
            internal_error()
        }
    }
}

fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/json")],
        "{\"message\":\"Internal Server Error\"}",
    )
        .into_response()
}

fn to_http(res: ApiGatewayV2httpResponse) -> Response {
    let status = u16::try_from(res.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body: Vec<u8> = match res.body {
        Some(EventBody::Text(t)) if res.is_base64_encoded => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(t.as_bytes()) {
                Ok(b) => b,
                Err(_) => return internal_error(),
            }
        }
        Some(EventBody::Text(t)) => t.into_bytes(),
        Some(EventBody::Binary(b)) => b,
        _ => Vec::new(),
    };
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in res.headers.iter().chain(res.multi_value_headers.iter()) {
        headers.append(name.clone(), value.clone());
    }
    for cookie in &res.cookies {
        if let Ok(v) = http::HeaderValue::from_str(cookie) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: serde_json::Value) -> ApiGatewayV2httpResponse {
        serde_json::from_value(json).expect("a payload 2.0 response")
    }

    #[tokio::test]
    async fn the_functions_answer_becomes_the_http_response() {
        let res = to_http(answer(serde_json::json!({
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "body": "aGVsbG8=",
            "isBase64Encoded": true,
            "cookies": ["a=1"]
        })));
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/plain");
        assert_eq!(res.headers()["set-cookie"], "a=1");
        let body = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .expect("a body");
        assert_eq!(&body[..], b"hello");
    }

    #[tokio::test]
    async fn an_answer_api_gateway_cannot_use_is_a_500() {
        let bad_status = to_http(answer(
            serde_json::json!({"statusCode": 1000, "cookies": []}),
        ));
        assert_eq!(bad_status.status(), 500);
        let bad_base64 = to_http(answer(serde_json::json!({
            "statusCode": 200, "body": "not base64!", "isBase64Encoded": true, "cookies": []
        })));
        assert_eq!(bad_base64.status(), 500);
        let body = axum::body::to_bytes(bad_base64.into_body(), 1024)
            .await
            .expect("a body");
        assert_eq!(&body[..], b"{\"message\":\"Internal Server Error\"}");
    }
}
