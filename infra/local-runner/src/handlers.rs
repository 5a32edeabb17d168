//! The event shapes AWS hands each kind of function, on the way in and out of the compiled
//! binary: an SQS batch (`SqsEvent` → `SqsBatchResponse`), API Gateway's HTTP API payload 2.0
//! (what `lambda_http` reads) and EventBridge's scheduled event.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Bytes;
use serde_json::json;

use crate::environment::InvokeError;
use crate::esm::SqsHandler;
use crate::function::Function;

/// The account id in the ARNs the runner makes up (moto's default account).
pub const LOCAL_ACCOUNT: &str = "123456789012";

impl SqsHandler for Function {
    async fn call(&self, event: SqsEvent) -> Result<SqsBatchResponse, InvokeError> {
        let payload = serde_json::to_vec(&event).map_err(|e| InvokeError::Encoding(e.into()))?;
        let answer = self.invoke(Bytes::from(payload)).await?;
        serde_json::from_slice(&answer).map_err(|e| InvokeError::Encoding(e.into()))
    }
}

/// API Gateway HTTP API's payload format 2.0 for one request to `/webhook`: headers lower-cased
/// (repeated ones joined by commas), the body as text when it is UTF-8, base64 otherwise.
pub fn http_api_event(
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
    now_ms: i64,
) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let joined = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        headers.insert(name.as_str().to_owned(), json!(joined));
    }
    let query = parts.uri.query().unwrap_or("");
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match params.get_mut(&k) {
            // API Gateway joins repeated parameters with commas.
            Some(serde_json::Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                params.insert(k, json!(v));
            }
        }
    }
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let route_key = format!("{method} {path}");
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => {
            use base64::Engine as _;
            (
                Some(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            )
        }
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": shared::events::rfc3339(now_ms / 1000),
            "timeEpoch": now_ms
        },
        "isBase64Encoded": encoded
    });
    if !params.is_empty() {
        event["queryStringParameters"] = serde_json::Value::Object(params);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'+') => out.push(b' '),
            Some(b'%') => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            Some(b) => out.push(*b),
            None => break,
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// EventBridge's scheduled event, as the schedule rule delivers it.
pub fn scheduled_event(rule_arn: &str, region: &str, id: &str, now_ms: i64) -> serde_json::Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT,
        "time": shared::events::rfc3339(now_ms / 1000),
        "region": region,
        "resources": [rule_arn],
        "detail": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, method: &str) -> http::request::Parts {
        let (parts, ()) = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", "sha256=ab")
            .header("Accept", "a")
            .header("Accept", "b")
            .body(())
            .expect("a request")
            .into_parts();
        parts
    }

    #[test]
    fn an_http_api_event_is_what_lambda_http_reads_as_the_same_request() {
        let event = http_api_event(
            &parts(
                "/webhook?hub.mode=subscribe&hub.challenge=a%20b&x=1&x=2",
                "GET",
            ),
            b"",
            "req",
            1_795_255_200_000,
        );
        let req: lambda_http::request::LambdaRequest =
            serde_json::from_value(event.clone()).expect("lambda_http reads it");
        let req: lambda_http::Request = req.into();
        assert_eq!(req.method(), "GET");
        assert_eq!(req.uri().path(), "/webhook");
        assert_eq!(event["queryStringParameters"]["hub.challenge"], "a b");
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        assert_eq!(event["headers"]["accept"], "a,b");
        assert_eq!(event["headers"]["x-hub-signature-256"], "sha256=ab");
        assert!(event.get("body").is_none());
    }

    #[test]
    fn a_body_that_is_not_utf8_travels_base64_encoded() {
        let event = http_api_event(&parts("/webhook", "POST"), &[0xff, 0x00], "r", 0);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wA=");
        let text = http_api_event(&parts("/webhook", "POST"), b"{\"a\":1}", "r", 0);
        assert_eq!(text["isBase64Encoded"], false);
        assert_eq!(text["body"], "{\"a\":1}");
    }

    #[test]
    fn percent_decoding_keeps_a_broken_escape_as_it_came() {
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
