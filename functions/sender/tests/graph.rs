//! The real Graph API client against a local HTTP server that records each request's path and
//! `Authorization` header: the sender sends from each business number with that number's token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sender::graph::{GraphApi, GraphClient, SendResult};
use serde_json::json;
use shared::secrets::{
    parse_secret, AccessTokens, CachedSecrets, SecretVersions, SecretsError, StaticSecrets, Version,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Answers every request as Meta accepts a message, after recording (path, authorization).
async fn graph_server() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).await.ok()?;
                let path = request_line.split(' ').nth(1)?.to_owned();
                let (mut auth, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).await.ok()?;
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(':')?;
                    match name.to_ascii_lowercase().as_str() {
                        "authorization" => auth = value.trim().to_owned(),
                        "content-length" => length = value.trim().parse().ok()?,
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.ok()?;
                record.lock().ok()?.push((path, auth));
                let answer = r#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.X"}]}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                reader.get_mut().write_all(response.as_bytes()).await.ok()
            });
        }
    });
    (url, seen)
}

fn client(url: &str, secret: &str) -> GraphClient<StaticSecrets<AccessTokens>> {
    let tokens: AccessTokens = parse_secret("sender", secret).expect("valid sender secret");
    let versions = SecretVersions {
        current: Version {
            value: tokens,
            created_ms: Some(0),
        },
        previous: None,
    };
    GraphClient::new(
        url,
        "v25.0",
        Duration::from_secs(5),
        CachedSecrets::new(StaticSecrets(versions), Duration::from_secs(300)),
    )
    .expect("client")
}

#[tokio::test]
async fn sends_from_each_number_with_the_token_mapped_for_it_and_others_with_the_default() {
    // Arrange
    let (url, seen) = graph_server().await;
    let graph = client(
        &url,
        r#"{"access_token":"default-token","access_tokens":{"111":"waba-a-token","222":"waba-b-token"}}"#,
    );
    let body =
        json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "x"}});

    // Act
    for pn in ["111", "222", "333"] {
        let sent = graph
            .send(pn, &body)
            .await
            .expect("a token for every number");
        assert!(
            matches!(sent, SendResult::Accepted { .. }),
            "{pn}: {sent:?}"
        );
    }

    // Assert
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (
                "/v25.0/111/messages".to_owned(),
                "Bearer waba-a-token".to_owned()
            ),
            (
                "/v25.0/222/messages".to_owned(),
                "Bearer waba-b-token".to_owned()
            ),
            (
                "/v25.0/333/messages".to_owned(),
                "Bearer default-token".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn sends_nothing_when_the_token_for_the_number_is_unset_or_a_placeholder() {
    let (url, seen) = graph_server().await;
    let body = json!({"messaging_product": "whatsapp"});
    for secret in [
        r#"{"access_token":""}"#,
        r#"{"access_token":"set-me"}"#,
        r#"{"access_token":"default-token","access_tokens":{"111":" "}}"#,
        r#"{"access_tokens":{"222":"waba-b-token"}}"#,
    ] {
        let graph = client(&url, secret);
        let sent = graph.send("111", &body).await;
        assert!(
            matches!(sent, Err(SecretsError::Unset { .. })),
            "{secret}: {sent:?}"
        );
    }
    assert!(seen.lock().unwrap().is_empty(), "no request left");
}
