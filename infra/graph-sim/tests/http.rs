//! The simulator over real HTTP: a router on 127.0.0.1:0, reqwest as the sender, and a tiny axum
//! receiver standing in for the webhook function. Everything stays on localhost.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use graph_sim::{SimConfig, Simulator};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const TOKEN: &str = "test-access-token";
const SECRET: &str = "test-app-secret";
const PHONE_ID: &str = "106540352242922";
const USER: &str = "16505551234";
/// Nothing listens on the discard port, so webhooks sent there fail fast.
const NOWHERE: &str = "http://127.0.0.1:9/webhook";

struct Sim {
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn start(cfg: SimConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the simulator");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        tokio::spawn(Simulator::new(cfg).serve(listener));
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn send_with_token(&self, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v25.0/{PHONE_ID}/messages", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    async fn send(&self, body: Value) -> (u16, Value) {
        self.send_with_token(TOKEN, body).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("sim request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("sim request")
            .json()
            .await
            .expect("JSON answer")
    }
}

fn config(webhook_url: &str) -> SimConfig {
    let mut cfg = SimConfig::new(
        SecretString::from(TOKEN.to_owned()),
        SecretString::from(SECRET.to_owned()),
        webhook_url,
    );
    cfg.send_statuses = false;
    cfg
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product":"whatsapp","recipient_type":"individual","to":to,"type":"text","text":{"body":body}})
}

fn template(to: &str) -> Value {
    json!({"messaging_product":"whatsapp","to":to,"type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}})
}

fn error_code(answer: &Value) -> Option<u64> {
    answer["error"]["code"].as_u64()
}

/// A webhook receiver that hands every POST (headers, raw body) to the test and answers 200.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    async fn take(
        State(tx): State<mpsc::UnboundedSender<(HeaderMap, Bytes)>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let _ = tx.send((headers, body));
        "ok"
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/webhook", post(take))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/webhook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn next_webhook(rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) -> (HeaderMap, Bytes) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a webhook within 5 s")
        .expect("receiver open")
}

/// A simulator that sends statuses (10 ms apart) to a receiver, and that receiver's webhooks.
async fn with_statuses() -> (Sim, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (url, webhooks) = receiver().await;
    let mut cfg = config(&url);
    cfg.send_statuses = true;
    cfg.status_delay = Duration::from_millis(10);
    (Sim::start(cfg).await, webhooks)
}

fn verify(headers: &HeaderMap, body: &[u8]) {
    let signature = headers
        .get(shared::signature::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let secret = SecretString::from(SECRET.to_owned());
    assert_eq!(
        shared::signature::verify(signature, body, [&secret]),
        Ok(())
    );
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
}

#[tokio::test]
async fn rejects_a_send_with_the_wrong_token_with_code_190() {
    let sim = Sim::start(config(NOWHERE)).await;
    let (status, answer) = sim.send_with_token("stolen", template(USER)).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&answer), Some(190));
    assert_eq!(answer["error"]["type"], "OAuthException");
    assert!(answer["error"]["fbtrace_id"].is_string());

    let missing = sim
        .http
        .post(format!("{}/v25.0/{PHONE_ID}/messages", sim.base))
        .json(&template(USER))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status().as_u16(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn accepts_a_text_inside_the_window_and_records_it() {
    let (url, mut webhooks) = receiver().await;
    let sim = Sim::start(config(&url)).await;
    let (status, _) = sim
        .post(
            "/_sim/inbound",
            json!({"from": USER, "name": "Ana", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 200);
    next_webhook(&mut webhooks).await;

    let (status, answer) = sim.send(text(&format!("+{USER}"), "Hello!")).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messaging_product"], "whatsapp");
    assert_eq!(answer["contacts"][0]["input"], format!("+{USER}"));
    assert_eq!(answer["contacts"][0]["wa_id"], USER);
    let wamid = answer["messages"][0]["id"].as_str().expect("a wamid");
    assert!(wamid.starts_with("wamid.HBg"), "{wamid}");
    let log = sim.get("/_sim/messages").await;
    let entry = &log[0];
    assert_eq!(entry["path"], format!("/v25.0/{PHONE_ID}/messages"));
    assert_eq!(entry["body"]["text"]["body"], "Hello!");
    assert_eq!(entry["response_status"], 200);
    assert_eq!(entry["wamid"], wamid);
    assert!(entry["time"].as_u64().is_some());
}

#[tokio::test]
async fn records_refused_sends_and_clears_the_log() {
    let sim = Sim::start(config(NOWHERE)).await;
    sim.send_with_token("nope", template(USER)).await;
    sim.send(json!({"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}))
        .await;
    let log = sim.get("/_sim/messages").await;
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    assert_eq!(log[0]["response_status"], 401);
    assert_eq!(log[1]["error_code"], 131008);
    assert!(log[1]["response"]["error"]["error_data"]["details"]
        .as_str()
        .is_some_and(|d| d.contains("to")));

    sim.http
        .delete(format!("{}/_sim/messages", sim.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(sim.get("/_sim/messages").await, json!([]));
}

#[tokio::test]
async fn answers_malformed_json_in_metas_shape() {
    let sim = Sim::start(config(NOWHERE)).await;
    let response = sim
        .http
        .post(format!("{}/v25.0/{PHONE_ID}/messages", sim.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response
        .json()
        .await
        .expect("a JSON error, not axum's text");
    assert_eq!(error_code(&answer), Some(100));

    let response = sim
        .http
        .post(format!("{}/_sim/faults", sim.base))
        .body("[")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.expect("a JSON error");
    assert!(answer["error"].is_string());
}

#[tokio::test]
async fn checks_version_phone_number_id_and_unknown_paths() {
    let sim = Sim::start(config(NOWHERE)).await;
    let post = |path: String| {
        sim.http
            .post(format!("{}{path}", sim.base))
            .bearer_auth(TOKEN)
            .json(&template(USER))
            .send()
    };
    let bad_version: Value = post(format!("/25.0/{PHONE_ID}/messages"))
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(error_code(&bad_version), Some(100));
    let other_number: Value = post("/v25.0/999/messages".into())
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(error_code(&other_number), Some(100));
    assert_eq!(other_number["error"]["error_subcode"], 33);
    let unknown: Value = post("/v25.0/nothing".into())
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(error_code(&unknown), Some(2500));
}

#[tokio::test]
async fn answers_mark_as_read_with_success() {
    let sim = Sim::start(config(NOWHERE)).await;
    let (status, answer) = sim
        .send(json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.ABC"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"success": true}));
}

#[tokio::test]
async fn faults_fail_the_next_n_sends_then_stop() {
    let sim = Sim::start(config(NOWHERE)).await;
    let (status, _) = sim
        .post(
            "/_sim/faults",
            json!({"to": format!("+{USER}"), "code": 131026, "times": 2}),
        )
        .await;
    assert_eq!(status, 201);

    for _ in 0..2 {
        let (status, answer) = sim.send(template(USER)).await;
        assert_eq!(status, 400);
        assert_eq!(error_code(&answer), Some(131026));
        assert_eq!(
            answer["error"]["message"],
            "(#131026) Message undeliverable"
        );
        assert!(answer["error"]["error_data"]["details"].is_string());
    }
    let (status, _) = sim.send(template(USER)).await;
    assert_eq!(status, 200);
    let (status, _) = sim.send(template("5511987654321")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_wildcard_fault_hits_any_recipient_with_the_codes_http_status() {
    let sim = Sim::start(config(NOWHERE)).await;
    sim.post("/_sim/faults", json!({"to": "*", "code": 131000}))
        .await;
    let (status, answer) = sim.send(template("5511987654321")).await;
    assert_eq!(status, 500);
    assert_eq!(error_code(&answer), Some(131000));
    let (status, _) = sim.send(template("5511987654321")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn refuses_a_fault_with_an_unknown_code() {
    let sim = Sim::start(config(NOWHERE)).await;
    let (status, answer) = sim
        .post("/_sim/faults", json!({"to": "*", "code": 4242}))
        .await;
    assert_eq!(status, 400);
    assert!(answer["error"]
        .as_str()
        .is_some_and(|e| e.contains("131047")));
}

#[tokio::test]
async fn refuses_a_burst_over_the_throughput_with_130429() {
    let mut cfg = config(NOWHERE);
    cfg.throughput_per_second = 5;
    let sim = std::sync::Arc::new(Sim::start(cfg).await);
    // Twenty at once: even on a slow machine they land well inside one second.
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..20 {
        let sim = sim.clone();
        burst.spawn(async move { sim.send(template(&format!("165055500{i:02}"))).await });
    }
    let mut accepted = 0;
    let mut throttled = 0;
    while let Some(joined) = burst.join_next().await {
        let (status, answer) = joined.expect("send task");
        match status {
            200 => accepted += 1,
            400 if error_code(&answer) == Some(130429) => throttled += 1,
            _ => panic!("unexpected answer {status}: {answer}"),
        }
    }
    assert!(accepted >= 5, "{accepted} accepted");
    assert!(throttled > 0, "none throttled");
}

#[tokio::test]
async fn refuses_the_46th_message_in_a_burst_to_one_user_with_131056() {
    let sim = Sim::start(config(NOWHERE)).await;
    for i in 0..45 {
        let (status, answer) = sim.send(template(USER)).await;
        assert_eq!(status, 200, "message {i}: {answer}");
    }
    let (status, answer) = sim.send(template(USER)).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&answer), Some(131056));
    let (status, _) = sim.send(template("5511987654321")).await;
    assert_eq!(status, 200, "other users are not affected");
}

#[tokio::test]
async fn refuses_free_form_outside_the_window_but_allows_templates() {
    let sim = Sim::start(config(NOWHERE)).await;
    let (status, answer) = sim.send(text(USER, "hello")).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&answer), Some(131047));
    assert_eq!(
        answer["error"]["message"],
        "(#131047) Re-engagement message"
    );

    let (status, _) = sim.send(template(USER)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_inbound_older_than_24_hours_does_not_open_the_window() {
    let sim = Sim::start(config(NOWHERE)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (status, _) = sim
        .post(
            "/_sim/inbound",
            json!({"from": USER, "text": "old", "timestamp": now - 25 * 3600}),
        )
        .await;
    assert_eq!(status, 502, "nobody listens, yet the message counts");
    let (_, answer) = sim.send(text(USER, "hello")).await;
    assert_eq!(error_code(&answer), Some(131047));

    sim.post(
        "/_sim/inbound",
        json!({"from": USER, "text": "new", "timestamp": now - 3600}),
    )
    .await;
    let (status, _) = sim.send(text(USER, "hello")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn delivers_an_inbound_message_signed_over_metas_escaped_bytes() {
    let (url, mut webhooks) = receiver().await;
    let sim = Sim::start(config(&url)).await;

    let (status, answer) = sim
        .post(
            "/_sim/inbound",
            json!({"from": USER, "name": "João", "text": "Olá 👋 https://x.y/z", "timestamp": 1749416383, "user_id": "US.13491208655302741918"}),
        )
        .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["webhook_status"], 200);
    let (headers, body) = next_webhook(&mut webhooks).await;
    verify(&headers, &body);
    let raw = String::from_utf8(body.to_vec()).expect("ASCII body");
    assert!(raw.is_ascii());
    assert!(
        raw.contains(r#""body":"Ol\u00e1 \ud83d\udc4b https://x.y/z""#),
        "{raw}"
    );
    assert!(raw.contains(r#""name":"Jo\u00e3o""#), "{raw}");
    let parsed: Value = serde_json::from_str(&raw).expect("valid JSON");
    assert_eq!(parsed["object"], "whatsapp_business_account");
    let change = &parsed["entry"][0]["changes"][0];
    assert_eq!(change["field"], "messages");
    let value = &change["value"];
    assert_eq!(value["metadata"]["phone_number_id"], PHONE_ID);
    assert_eq!(value["contacts"][0]["wa_id"], USER);
    assert_eq!(value["contacts"][0]["user_id"], "US.13491208655302741918");
    let message = &value["messages"][0];
    assert_eq!(message["from"], USER);
    assert_eq!(message["id"], answer["wamid"]);
    assert_eq!(message["timestamp"], "1749416383");
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"]["body"], "Olá 👋 https://x.y/z");
}

#[tokio::test]
async fn reports_an_unreachable_webhook_with_502() {
    let sim = Sim::start(config(NOWHERE)).await;
    let (status, answer) = sim
        .post("/_sim/inbound", json!({"from": USER, "text": "hi"}))
        .await;
    assert_eq!(status, 502);
    assert!(answer["wamid"].is_string());
    assert!(answer["error"]
        .as_str()
        .is_some_and(|e| e.contains("unreachable")));
}

#[tokio::test]
async fn delivers_sent_delivered_read_statuses_for_an_accepted_message() {
    let (sim, mut webhooks) = with_statuses().await;
    sim.post("/_sim/inbound", json!({"from": USER, "text": "hi"}))
        .await;
    next_webhook(&mut webhooks).await;

    let (status, answer) = sim.send(text(USER, "reply")).await;
    assert_eq!(status, 200);
    let wamid = answer["messages"][0]["id"].clone();

    let mut seen = Vec::new();
    for _ in 0..3 {
        let (headers, body) = next_webhook(&mut webhooks).await;
        verify(&headers, &body);
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        let value = &parsed["entry"][0]["changes"][0]["value"];
        assert!(value.get("contacts").is_none());
        assert_eq!(value["metadata"]["phone_number_id"], PHONE_ID);
        let status = &value["statuses"][0];
        assert_eq!(status["id"], wamid);
        assert_eq!(status["recipient_id"], USER);
        assert!(status["timestamp"].is_string());
        assert_eq!(status["pricing"]["pricing_model"], "PMP");
        assert_eq!(status["pricing"]["billable"], false);
        assert!(
            status.get("conversation").is_none(),
            "omitted from v24.0 on"
        );
        seen.push(status["status"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen, ["sent", "delivered", "read"]);
}

#[tokio::test]
async fn a_status_mode_fault_accepts_the_send_and_reports_failed_later() {
    let (sim, mut webhooks) = with_statuses().await;
    sim.post(
        "/_sim/faults",
        json!({"to": USER, "code": 131047, "mode": "status"}),
    )
    .await;

    let (status, answer) = sim.send(template(USER)).await;
    assert_eq!(status, 200);

    let (_, body) = next_webhook(&mut webhooks).await;
    let parsed: Value = serde_json::from_slice(&body).expect("JSON");
    let status = &parsed["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(status["id"], answer["messages"][0]["id"]);
    assert_eq!(status["status"], "failed");
    assert_eq!(status["errors"][0]["code"], 131047);
}

#[tokio::test]
async fn delivers_a_custom_change_signed_and_compact() {
    let (url, mut webhooks) = receiver().await;
    let sim = Sim::start(config(&url)).await;
    let (status, answer) = sim
        .post(
            "/_sim/webhook",
            json!({"field": "user_preferences", "value": {"user_preferences": [{"wa_id": USER, "category": "marketing_messages", "value": "stop", "timestamp": 1}]}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["webhook_status"], 200);
    let (headers, body) = next_webhook(&mut webhooks).await;
    verify(&headers, &body);
    let parsed: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(parsed["entry"][0]["time"].is_u64());
    assert_eq!(
        parsed["entry"][0]["changes"][0]["field"],
        "user_preferences"
    );
    assert_eq!(
        parsed["entry"][0]["changes"][0]["value"]["user_preferences"][0]["value"],
        "stop"
    );
    assert_eq!(sim.get("/_sim/webhooks").await[0]["status"], 200);
}

#[tokio::test]
async fn statuses_carry_a_conversation_block_before_v24() {
    let (url, mut webhooks) = receiver().await;
    let mut cfg = config(&url);
    cfg.send_statuses = true;
    cfg.status_delay = Duration::from_millis(1);
    let sim = Sim::start(cfg).await;
    let response = sim
        .http
        .post(format!("{}/v23.0/{PHONE_ID}/messages", sim.base))
        .bearer_auth(TOKEN)
        .json(&json!({"messaging_product":"whatsapp","to":USER,"type":"reaction","reaction":{"message_id":"wamid.X","emoji":"👍"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.status().as_u16(),
        400,
        "a reaction is free-form: window closed"
    );

    sim.send_with_token(TOKEN, template(USER)).await;
    let response = sim
        .http
        .post(format!("{}/v23.0/{PHONE_ID}/messages", sim.base))
        .bearer_auth(TOKEN)
        .json(&template("5511987654321"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200);
    let mut with_conversation = 0;
    for _ in 0..6 {
        let (_, body) = next_webhook(&mut webhooks).await;
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        let status = &parsed["entry"][0]["changes"][0]["value"]["statuses"][0];
        if status["recipient_id"] == "5511987654321" {
            assert_eq!(status["conversation"]["origin"]["type"], "utility");
            assert_eq!(status["pricing"]["billable"], true);
            with_conversation += 1;
        } else {
            assert!(status.get("conversation").is_none());
        }
    }
    assert_eq!(with_conversation, 3);
}

#[tokio::test]
async fn a_user_initiated_call_opens_the_window_and_a_business_initiated_one_does_not() {
    let sim = Sim::start(config(NOWHERE)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let call = |direction: &str, from: &str, to: &str| {
        json!({"field": "calls", "value": {"messaging_product": "whatsapp",
               "metadata": {"phone_number_id": PHONE_ID},
               "calls": [{"id": "wacid.X", "from": from, "to": to, "event": "connect",
                          "timestamp": now.to_string(), "direction": direction}]}})
    };
    let other = "5511987654321";
    sim.post(
        "/_sim/webhook",
        call("BUSINESS_INITIATED", "15550783881", other),
    )
    .await;
    let (_, answer) = sim.send(text(other, "hello")).await;
    assert_eq!(error_code(&answer), Some(131047));

    sim.post("/_sim/webhook", call("USER_INITIATED", USER, "15550783881"))
        .await;
    let (status, _) = sim.send(text(USER, "hello")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_late_answer_arrives_after_the_statuses_of_the_message_it_accepts() {
    let (sim, mut webhooks) = with_statuses().await;
    sim.post("/_sim/inbound", json!({"from": USER, "text": "hi"}))
        .await;
    next_webhook(&mut webhooks).await;
    let (status, late) = sim
        .post("/_sim/late-answers", json!({"to": USER, "after_ms": 3000}))
        .await;
    assert_eq!(status, 201, "{late}");

    let sim = std::sync::Arc::new(sim);
    let sending = tokio::spawn({
        let sim = sim.clone();
        async move { sim.send(text(USER, "reply")).await }
    });
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (_, body) = next_webhook(&mut webhooks).await;
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        seen.push(parsed["entry"][0]["changes"][0]["value"]["statuses"][0].clone());
    }
    assert!(!sending.is_finished(), "the answer waits for its delay");
    let (status, answer) = sending.await.expect("send task");

    assert_eq!(status, 200);
    let wamid = &answer["messages"][0]["id"];
    assert!(seen.iter().all(|s| &s["id"] == wamid), "{seen:#?}");
    assert_eq!(sim.get("/_sim/late-answers").await, json!([]), "used once");
}

#[tokio::test]
async fn refuses_a_late_answer_without_a_recipient_or_a_delay() {
    let sim = Sim::start(config(NOWHERE)).await;
    for bad in [
        json!({"to": "", "after_ms": 100}),
        json!({"to": USER, "after_ms": 0}),
        json!({"to": USER, "after_ms": 100, "times": 0}),
        json!({"to": USER}),
    ] {
        let (status, answer) = sim.post("/_sim/late-answers", bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn refuses_an_authentication_template_to_a_user_id_with_131062() {
    let sim = Sim::start(config(NOWHERE)).await;
    let approved = |name: &str, category: &str| {
        json!({"field": "message_template_status_update", "value": {"event": "APPROVED",
               "message_template_id": 1, "message_template_name": name,
               "message_template_language": "pt_BR", "message_template_category": category}})
    };
    sim.post("/_sim/webhook", approved("otp", "AUTHENTICATION"))
        .await;
    sim.post("/_sim/webhook", approved("aviso", "UTILITY"))
        .await;
    let to_user_id = |name: &str| {
        json!({"messaging_product": "whatsapp", "recipient": "BR.13491208655302741918",
               "type": "template", "template": {"name": name, "language": {"code": "pt_BR"}}})
    };

    let (status, answer) = sim.send(to_user_id("otp")).await;
    assert_eq!(
        (status, error_code(&answer)),
        (400, Some(131062)),
        "{answer}"
    );

    let (status, answer) = sim.send(to_user_id("aviso")).await;
    assert_eq!(
        status, 200,
        "a utility template may go to a user id: {answer}"
    );
    let mut to_phone = to_user_id("otp");
    to_phone["to"] = USER.into();
    let (status, answer) = sim.send(to_phone).await;
    assert_eq!(
        status, 200,
        "an authentication template may go to a phone: {answer}"
    );
}

#[tokio::test]
async fn coexistence_echoes_history_and_address_book_open_no_window() {
    let sim = Sim::start(config(NOWHERE)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string();
    let meta = json!({"phone_number_id": PHONE_ID});
    for (field, value) in [
        (
            "smb_message_echoes",
            json!({"messaging_product": "whatsapp", "metadata": meta,
                   "message_echoes": [{"from": "15550783881", "to": USER, "id": "wamid.E",
                                       "timestamp": now, "type": "text", "text": {"body": "oi"}}]}),
        ),
        (
            "history",
            json!({"messaging_product": "whatsapp", "metadata": meta,
                   "history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
                                "threads": [{"id": USER, "messages": [
                                    {"from": USER, "id": "wamid.H", "timestamp": now, "type": "text",
                                     "text": {"body": "oi"}, "history_context": {"status": "READ"}}]}]}]}),
        ),
        (
            "smb_app_state_sync",
            json!({"messaging_product": "whatsapp", "metadata": meta,
                   "state_sync": [{"type": "contact", "contact": {"phone_number": USER}, "action": "add",
                                   "metadata": {"timestamp": now}}]}),
        ),
    ] {
        sim.post("/_sim/webhook", json!({"field": field, "value": value}))
            .await;
        let (_, answer) = sim.send(text(USER, "hello")).await;
        assert_eq!(error_code(&answer), Some(131047), "after {field}");
    }
}

#[tokio::test]
async fn a_group_message_opens_no_window_for_its_participant_and_a_private_one_does() {
    let sim = Sim::start(config(NOWHERE)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let message = |group: Option<&str>| {
        let mut m = json!({"from": USER, "id": "wamid.G", "timestamp": now.to_string(),
                           "type": "text", "text": {"body": "oi"}});
        if let Some(g) = group {
            m["group_id"] = json!(g);
        }
        json!({"field": "messages", "value": {"messaging_product": "whatsapp",
               "metadata": {"phone_number_id": PHONE_ID},
               "contacts": [{"profile": {"name": "Bia"}, "wa_id": USER}],
               "messages": [m]}})
    };
    sim.post("/_sim/webhook", message(Some("Y2FwaV9ncm91cDox")))
        .await;
    let (_, answer) = sim.send(text(USER, "hello")).await;
    assert_eq!(error_code(&answer), Some(131047));

    sim.post("/_sim/webhook", message(None)).await;
    let (status, _) = sim.send(text(USER, "hello")).await;
    assert_eq!(status, 200);
}
