//! Helpers for the end-to-end tests: a private local stack per test (unique resource names on
//! the shared moto, free ports) and queue readers.

use std::time::{Duration, Instant};

pub mod artifact;
pub mod cold_start;
pub mod faults;
pub mod iam;
pub mod log_scan;

pub use local_runner::{RunningStack, StackOptions};

/// Starts a stack whose resources carry a unique prefix; `paused` functions are not played.
pub async fn start_stack(paused: &[&str]) -> RunningStack {
    start_stack_with(paused, |_| {}).await
}

/// [`start_stack`] with options adjusted by `adjust` first.
pub async fn start_stack_with(
    paused: &[&str],
    adjust: impl FnOnce(&mut StackOptions),
) -> RunningStack {
    shared::telemetry::init();
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut opts = StackOptions::for_tests(&prefix);
    opts.paused = paused.iter().map(|s| (*s).to_owned()).collect();
    adjust(&mut opts);
    match local_runner::start(opts).await {
        Ok(stack) => stack,
        Err(err) => panic!(
            "local stack did not start ({}); is moto running at AWS_ENDPOINT_URL? `make test` starts it",
            shared::telemetry::error_chain(&err)
        ),
    }
}

/// An SQS client on the same emulator as the stack.
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&local_aws::local_sdk_config().await)
}

/// Messages visible on a queue now (moto's count is exact).
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("GetQueueAttributes");
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Receives and deletes messages until `want` have arrived or `timeout` passes; returns the
/// bodies with their `type` attribute (if any), in arrival order.
pub async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    timeout: Duration,
) -> Vec<(Option<String>, serde_json::Value)> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        let mut receipts = Vec::new();
        for (i, m) in out.messages().iter().enumerate() {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("null")).expect("queue body is JSON");
            let kind = m
                .message_attributes()
                .and_then(|a| a.get("type"))
                .and_then(|v| v.string_value())
                .map(str::to_owned);
            got.push((kind, body));
            receipts.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .expect("delete entry"),
            );
        }
        if !receipts.is_empty() {
            sqs.delete_message_batch()
                .queue_url(url)
                .set_entries(Some(receipts))
                .send()
                .await
                .expect("DeleteMessageBatch");
        }
    }
    got
}

/// Signs `body` with `secret` the way Meta does.
pub fn meta_signature(body: &[u8], secret: &str) -> String {
    local_runner::inputs::secret(secret);
    shared::signature::sign(body, &secret.to_owned().into())
}

/// A customer writes: the simulator delivers Meta's signed webhook to the stack. Panics unless
/// the webhook answered 200. Returns the simulator's answer (`wamid`, `webhook_status`).
pub async fn customer_writes(
    stack: &RunningStack,
    message: serde_json::Value,
) -> serde_json::Value {
    let res: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_sim/inbound", stack.sim_url))
        .json(&message)
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("simulator answers JSON");
    assert_eq!(res["webhook_status"], 200, "{res}");
    res
}

/// POSTs `body` to the stack's webhook signed with the local app secret; returns the status.
pub async fn post_signed(stack: &RunningStack, body: &str) -> u16 {
    reqwest::Client::new()
        .post(stack.webhook_url())
        .header("content-type", "application/json")
        .header(
            "X-Hub-Signature-256",
            meta_signature(body.as_bytes(), "local-app-secret"),
        )
        .body(body.to_owned())
        .send()
        .await
        .expect("webhook answers")
        .status()
        .as_u16()
}

/// Reads `crm-events` like a CRM would, checking every event against the published contract.
pub struct CrmEvents {
    sqs: aws_sdk_sqs::Client,
    url: String,
    contract: shared::contract::EventContract,
}

impl CrmEvents {
    pub async fn of(stack: &RunningStack) -> Self {
        Self {
            sqs: sqs().await,
            url: stack
                .provisioned
                .queue_url("CrmEventsQueue")
                .expect("crm events queue")
                .to_owned(),
            contract: shared::contract::EventContract::load(),
        }
    }

    /// Waits until `want` events of type `kind` arrived (at most `timeout`), then listens 3 s
    /// more so that duplicates would show; returns every event received, in order.
    pub async fn until(
        &self,
        kind: &str,
        want: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        let mut got: Vec<serde_json::Value> = Vec::new();
        while got.iter().filter(|e| e["type"] == kind).count() < want && Instant::now() < deadline {
            got.extend(self.take(1, Duration::from_secs(1)).await);
        }
        got.extend(self.take(usize::MAX, Duration::from_secs(3)).await);
        got
    }

    async fn take(&self, want: usize, timeout: Duration) -> Vec<serde_json::Value> {
        drain(&self.sqs, &self.url, want, timeout)
            .await
            .into_iter()
            .map(|(attr, event)| {
                self.contract.check(&event);
                assert_eq!(
                    attr.as_deref(),
                    event["type"].as_str(),
                    "type attribute matches the body"
                );
                event
            })
            .collect()
    }
}

/// The events of one type among `events`.
pub fn of_type<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Puts CRM commands on `crm-commands.fifo` as a CRM would: group = recipient (`to`),
/// dedup id = `command_id`.
pub async fn send_commands(stack: &RunningStack, commands: &[serde_json::Value]) {
    use shared::queue::MessageSink;
    let url = stack
        .provisioned
        .queue_url("CrmCommandsQueue")
        .expect("commands queue");
    let sink = shared::queue::SqsSink::new(sqs().await, url);
    let messages = commands
        .iter()
        .map(|c| shared::queue::OutboundMessage {
            body: c.to_string(),
            group_id: c["to"].as_str().map(str::to_owned),
            dedup_id: c["command_id"].as_str().map(str::to_owned),
            attributes: Vec::new(),
        })
        .collect();
    sink.send_all(messages).await.expect("commands enqueued");
}

/// Meta posts one change of `field` with this `value` (signed by the simulator, through the
/// webhook). Panics unless the webhook took it.
pub async fn meta_posts(stack: &RunningStack, field: &str, value: serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/_sim/webhook", stack.sim_url))
        .json(&serde_json::json!({"field": field, "value": value}))
        .send()
        .await
        .expect("simulator answers");
    assert!(
        res.status().is_success(),
        "simulator refused the {field} change: {}",
        res.status()
    );
}

/// Delivers one signed `messages` change with these `statuses` through the simulator.
pub async fn deliver_statuses(stack: &RunningStack, statuses: serde_json::Value) {
    let value = serde_json::json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": statuses
    });
    meta_posts(stack, "messages", value).await;
}

/// The window-alerts state on this stack's resources: its store and event sink, for a test that
/// plays another function's part on them.
pub async fn window_alerts_state(stack: &RunningStack) -> window_alerts::LiveState {
    let function = stack
        .model
        .function_by_binary("window-alerts")
        .expect("template declares window-alerts");
    let env = shared::config::Env::from_map(
        stack
            .provisioned
            .environment(function)
            .expect("window-alerts environment"),
    );
    let config = window_alerts::Config::from_env(&env).expect("window-alerts config");
    window_alerts::LiveState::live(config, &local_aws::local_sdk_config().await)
}
