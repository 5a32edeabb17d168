//! End-to-end through the runner: an update too large for one SQS message (the app's echoes of
//! a busy afternoon, ~2 MB as Meta escapes it) travels by reference through the bucket (a claim
//! check) and reaches the CRM like any other, once, beside a normal message of the same POST.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_tests::{of_type, post_signed, start_stack, CrmEvents};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const BUSINESS: &str = "15550783881";
const WABA: &str = "102290129340398";
const PATIENCE: Duration = Duration::from_secs(180);
/// Echoes of ~20 KB each (4,000 characters, accents and emoji escaped as Meta does): 100 make
/// one update of ~2 MB.
const ECHOES: usize = 100;

/// JSON as Meta writes it: every non-ASCII character as a `\uXXXX` escape.
fn meta_json(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn metadata() -> Value {
    json!({"display_phone_number": BUSINESS, "phone_number_id": PN})
}

/// One POST: a `smb_message_echoes` change of ~2 MB and a customer's text message.
fn big_post(customer: &str, writer: &str, now: i64) -> String {
    let long = "Olá 😊🎉👍 ".repeat(500);
    let body: String = long.chars().take(4000).collect();
    let echoes: Vec<Value> = (0..ECHOES)
        .map(|i| {
            json!({"from": BUSINESS, "to": customer, "id": format!("wamid.E2ECLAIM{i:03}"),
                   "timestamp": (now - 600 + i as i64).to_string(), "type": "text",
                   "text": {"body": body}})
        })
        .collect();
    meta_json(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [
            {"field": "smb_message_echoes", "value": {
                "messaging_product": "whatsapp", "metadata": metadata(),
                "message_echoes": echoes}},
            {"field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": metadata(),
                "contacts": [{"profile": {"name": "Célia"}, "wa_id": writer}],
                "messages": [{"from": writer, "id": "wamid.E2ECLAIMTEXT",
                              "timestamp": now.to_string(), "type": "text",
                              "text": {"body": "Vocês entregam amanhã?"}}]}}
        ]}]
    }))
}

/// How many events of `kind` each wamid got.
fn per_wamid(events: &[Value], kind: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for e in of_type(events, kind) {
        let wamid = e["data"]["wamid"].as_str().unwrap_or("?").to_owned();
        *seen.entry(wamid).or_default() += 1;
    }
    seen
}

#[tokio::test]
async fn a_post_with_a_2_mb_update_and_a_message_is_accepted_and_each_reaches_the_crm_once() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let now = shared::now_ms() / 1000;
    let body = big_post("5511987650091", "5511987650092", now);
    assert!(
        body.len() > 2_000_000 && body.len() < 3_000_000,
        "{} bytes",
        body.len()
    );

    // Meta delivers the POST, and again (a retry after a lost answer).
    assert_eq!(post_signed(&stack, &body).await, 200, "the first delivery");
    assert_eq!(post_signed(&stack, &body).await, 200, "the retry");

    let events = crm.until("message.echo", ECHOES, PATIENCE).await;
    let echoes = per_wamid(&events, "message.echo");
    assert_eq!(echoes.len(), ECHOES, "every echo arrived");
    assert!(echoes.values().all(|&n| n == 1), "each once: {echoes:?}");
    let received = per_wamid(&events, "message.received");
    assert_eq!(
        received,
        BTreeMap::from([("wamid.E2ECLAIMTEXT".to_owned(), 1)]),
        "the customer's message once"
    );
    let text = of_type(&events, "message.echo")
        .first()
        .and_then(|e| e["data"]["text"].as_str().map(str::len))
        .unwrap_or(0);
    assert!(text > 4000, "the echo's text arrived whole ({text} bytes)");
}
