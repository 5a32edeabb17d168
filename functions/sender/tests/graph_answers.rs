//! The Graph adapter over a real socket: what each kind of HTTP answer means for "was it sent?".
//! A throttle or gateway that answers without Meta's error body (429, 502, 503) did not let the
//! request through; a gateway timeout (504), a timeout or a body cut short may hide a send.

use std::time::Duration;

use sender::graph::{GraphApi, GraphClient, SendResult};
use serde_json::json;
use shared::secrets::{AccessTokens, CachedSecrets, SecretVersions, StaticSecrets, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the one-shot server does with the request.
enum Reply {
    /// Answers with this raw status line and body.
    Http(&'static str, String),
    /// Reads the request and never answers.
    Silence,
}

/// Serves one request on a free port; returns the base URL.
async fn graph_answering(reply: Reply) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut buf).await;
        match reply {
            Reply::Http(status, body) => {
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
            Reply::Silence => tokio::time::sleep(Duration::from_secs(30)).await,
        }
    });
    format!("http://{addr}")
}

async fn send_to(reply: Reply) -> SendResult {
    let base = graph_answering(reply).await;
    let secrets = StaticSecrets(SecretVersions {
        current: Version {
            value: AccessTokens {
                access_token: Some("token".to_owned().into()),
                access_tokens: Default::default(),
            },
            created_ms: Some(0),
        },
        previous: None,
    });
    let client = GraphClient::new(
        &base,
        "v23.0",
        Duration::from_millis(500),
        CachedSecrets::new(secrets, Duration::from_secs(300)),
    )
    .unwrap();
    let body = json!({"messaging_product": "whatsapp", "to": "+5511987654321", "type": "text", "text": {"body": "hi"}});
    client.send("106540352242922", &body).await.unwrap()
}

fn meta_error(code: i64) -> String {
    json!({"error": {"message": format!("(#{code}) Service unavailable"), "type": "OAuthException", "code": code, "fbtrace_id": "Az"}}).to_string()
}

#[tokio::test]
async fn a_503_without_a_meta_error_body_was_not_processed() {
    let result = send_to(Reply::Http("503 Service Unavailable", String::new())).await;
    assert!(
        matches!(result, SendResult::NotProcessed { status: 503 }),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_502_with_a_gateways_html_page_was_not_processed() {
    let page = "<html><body>Bad Gateway</body></html>".to_owned();
    let result = send_to(Reply::Http("502 Bad Gateway", page)).await;
    assert!(
        matches!(result, SendResult::NotProcessed { status: 502 }),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_429_without_a_meta_error_body_was_not_processed() {
    let result = send_to(Reply::Http("429 Too Many Requests", String::new())).await;
    assert!(
        matches!(result, SendResult::NotProcessed { status: 429 }),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_504_may_hide_a_send() {
    let result = send_to(Reply::Http("504 Gateway Timeout", String::new())).await;
    assert!(matches!(result, SendResult::Unknown(_)), "{result:?}");
}

#[tokio::test]
async fn a_500_without_a_meta_error_body_may_hide_a_send() {
    let result = send_to(Reply::Http("500 Internal Server Error", String::new())).await;
    assert!(matches!(result, SendResult::Unknown(_)), "{result:?}");
}

#[tokio::test]
async fn a_timeout_after_the_request_left_may_hide_a_send() {
    let result = send_to(Reply::Silence).await;
    assert!(matches!(result, SendResult::Unknown(_)), "{result:?}");
}

#[tokio::test]
async fn a_503_with_metas_error_body_is_decided_by_its_code() {
    let result = send_to(Reply::Http("503 Service Unavailable", meta_error(131000))).await;
    assert!(
        matches!(&result, SendResult::Refused(e) if e.code == 131000),
        "{result:?}"
    );
}
