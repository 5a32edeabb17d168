//! End-to-end through the runner: the functions' EMF lines count what the CRM heard, per
//! business number — messages in (a webhook delivered three times counts once), messages out,
//! a template's delivery steps and the pricing categories of delivered messages — and carry no
//! personal data. The stack's functions log into a capture file of this test's own (the
//! runner passes `LOG_CAPTURE_FILE` to them), which is appended to the suite's capture at the
//! end so `make test`'s log scan reads it too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_tests::{
    customer_writes, of_type, post_signed, send_commands, start_stack_with, CrmEvents,
};
use serde_json::{json, Value};
use shared::telemetry::CAPTURE_FILE_VAR;

const PN: &str = "106540352242922";
const CUSTOMER: &str = "5511987650301";
const TEXT: &str = "Quero saber do meu pedido";
const PATIENCE: Duration = Duration::from_secs(120);

/// The EMF documents in `path` (lines whose `_aws` declares metrics in `WaCrmBridge`).
fn emf_documents(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "WaCrmBridge")
        .collect()
}

/// The sum of `metric` over the documents whose dimension set is exactly `dims` with these
/// values.
fn sum(docs: &[Value], metric: &str, dims: &[(&str, &str)]) -> u64 {
    docs.iter()
        .filter(|d| {
            let names = &d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
            let declared: Vec<&str> = names
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            declared == dims.iter().map(|(k, _)| *k).collect::<Vec<_>>()
                && dims.iter().all(|(k, v)| d[*k] == *v)
        })
        .filter_map(|d| d[metric].as_u64())
        .sum()
}

/// Appends this test's capture to the suite's, when the suite captures (`make test`).
fn hand_to_the_suite_s_capture(own: &Path) {
    let Some(suite) = std::env::var_os(CAPTURE_FILE_VAR) else {
        return;
    };
    use std::io::Write;
    let text = std::fs::read(own).expect("own capture readable");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(suite)
        .and_then(|mut f| f.write_all(&text))
        .expect("suite capture writable");
}

#[tokio::test]
async fn emf_lines_count_messages_templates_and_prices_per_business_number_once() {
    let capture: PathBuf = std::env::temp_dir().join(format!(
        "wa-crm-bridge-metrics-e2e-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let stack = start_stack_with(&[], |o| {
        o.function_env.insert(
            CAPTURE_FILE_VAR.to_owned(),
            capture.to_string_lossy().into_owned(),
        );
        // A phone's pace: each status has its own webhook, so every step is its own event.
        o.status_delay = Duration::from_millis(500);
    })
    .await;
    let events = CrmEvents::of(&stack).await;

    // A webhook Meta delivers three times: one message in.
    let duplicated = shared::testkit::text_batch(1, 30);
    for _ in 0..3 {
        assert_eq!(post_signed(&stack, &duplicated).await, 200);
    }
    // A customer writes (the window opens), the agent answers and sends a template.
    customer_writes(&stack, json!({"from": CUSTOMER, "text": TEXT})).await;
    let mut seen = events.until("message.received", 2, PATIENCE).await;
    assert_eq!(of_type(&seen, "message.received").len(), 2, "{seen:#?}");
    send_commands(
        &stack,
        &[
            json!({"command_id": "metrics-text-1", "type": "send_text", "phone_number_id": PN,
                   "to": format!("+{CUSTOMER}"), "text": {"body": "Já vejo!"}}),
            json!({"command_id": "metrics-template-1", "type": "send_template", "phone_number_id": PN,
                   "to": format!("+{CUSTOMER}"),
                   "template": {"name": "order_update", "language": {"code": "pt_BR"}}}),
        ],
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline
        && of_type(&seen, "message.status")
            .iter()
            .filter(|e| e["data"]["status"] == "read")
            .count()
            < 2
    {
        seen.extend(
            events
                .until("message.status", 1, Duration::from_secs(5))
                .await,
        );
    }
    let statuses = of_type(&seen, "message.status");
    let template_statuses: Vec<&&Value> = statuses
        .iter()
        .filter(|e| e["data"]["template"] == "order_update")
        .collect();
    assert!(
        template_statuses
            .iter()
            .any(|e| e["data"]["status"] == "read"),
        "the template's statuses name it: {seen:#?}"
    );
    assert!(statuses
        .iter()
        .filter(|e| e["data"]["template"] != "order_update")
        .all(|e| e["data"]["template"].is_null()));

    // The invocation that published an event writes its metrics when it ends: a moment later.
    let expected_out = 2;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut docs = emf_documents(&capture);
    while Instant::now() < deadline
        && (sum(
            &docs,
            "TemplatesRead",
            &[("phone_number_id", PN), ("template", "order_update")],
        ) < 1
            || sum(&docs, "MessagesOut", &[("phone_number_id", PN)]) < expected_out)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        docs = emf_documents(&capture);
    }
    stack.shutdown().await;
    hand_to_the_suite_s_capture(&capture);

    let number = [("phone_number_id", PN)];
    assert_eq!(sum(&docs, "MessagesIn", &number), 2, "{docs:#?}");
    assert_eq!(
        sum(&docs, "MessagesOut", &number),
        expected_out,
        "{docs:#?}"
    );
    let template = [("phone_number_id", PN), ("template", "order_update")];
    assert_eq!(sum(&docs, "TemplatesSent", &template), 1, "{docs:#?}");
    assert_eq!(sum(&docs, "TemplatesDelivered", &template), 1, "{docs:#?}");
    assert_eq!(sum(&docs, "TemplatesRead", &template), 1, "{docs:#?}");
    assert_eq!(sum(&docs, "TemplatesFailed", &template), 0, "{docs:#?}");
    // The simulator prices a template as utility and a reply in the window as free service.
    let priced = |category, kind| {
        sum(
            &docs,
            "PricedMessages",
            &[
                ("phone_number_id", PN),
                ("pricing_category", category),
                ("pricing_type", kind),
            ],
        )
    };
    assert_eq!(priced("utility", "regular"), 1, "{docs:#?}");
    assert_eq!(priced("service", "free_customer_service"), 1, "{docs:#?}");

    // Who wrote them, and nothing personal in any of them.
    let functions: std::collections::BTreeSet<&str> =
        docs.iter().filter_map(|d| d["function"].as_str()).collect();
    // The processor and the sender counted the above; window-alerts may add the idle close of
    // the fixture's conversation (its Meta timestamp is long past) when its schedule runs.
    assert!(
        functions.contains("processor") && functions.contains("sender"),
        "{docs:#?}"
    );
    assert!(
        functions.is_subset(
            &["processor", "sender", "window-alerts"]
                .into_iter()
                .collect()
        ),
        "{docs:#?}"
    );
    for doc in &docs {
        let line = doc.to_string();
        for personal in [
            CUSTOMER,
            "5511900000000",
            TEXT,
            "Já vejo",
            "Cliente",
            "wamid.",
        ] {
            assert!(!line.contains(personal), "{personal} in {line}");
        }
    }
    let _ = std::fs::remove_file(&capture);
}
