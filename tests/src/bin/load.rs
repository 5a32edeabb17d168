//! `make load`: how many customer messages per second the running local stack turns into CRM
//! events, end to end.
//!
//! Posts `LOAD_MESSAGES` signed text messages to the webhook the way Meta delivers them under
//! load — several updates per POST (`LOAD_BATCH` messages from as many customers in one
//! `messages` change; Meta batches up to 1000 updates and 3 MB per POST), `LOAD_CONCURRENCY`
//! POSTs in flight — while reading `crm-events.fifo` as a CRM would, and stops when every
//! message's `message.received` event has arrived. The rate is messages over the time from the
//! first POST to the last event. Settings: see [`LoadConfig::from_env`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use shared::config::{ConfigError, Env};
use tokio::sync::Semaphore;

/// How many receivers read `crm-events.fifo` at once (each takes up to 10 per call).
const RECEIVERS: usize = 4;

/// The run's settings, read once.
struct LoadConfig {
    messages: usize,
    batch: usize,
    concurrency: usize,
    webhook_url: String,
    /// The stack's local app secret (a development value, never logged).
    app_secret: String,
    events_queue: String,
    timeout: Duration,
}

impl LoadConfig {
    /// `LOAD_MESSAGES` (2000), `LOAD_BATCH` (20 per POST), `LOAD_CONCURRENCY` (4 POSTs in
    /// flight), `LOAD_TIMEOUT_SECONDS` (1800); the stack's own `LOCAL_API_ADDR`,
    /// `LOCAL_APP_SECRET` and `LOCAL_RESOURCE_PREFIX`, with `make run`'s defaults.
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let api: SocketAddr =
            env.parsed_or("LOCAL_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 3000)))?;
        let prefix: String = env.parsed_or("LOCAL_RESOURCE_PREFIX", String::new())?;
        let app_secret: String =
            env.parsed_or("LOCAL_APP_SECRET", "local-app-secret".to_owned())?;
        Ok(Self {
            messages: env.parsed_or("LOAD_MESSAGES", 2000)?,
            batch: env.parsed_or::<usize>("LOAD_BATCH", 20)?.clamp(1, 1000),
            concurrency: env.parsed_or::<usize>("LOAD_CONCURRENCY", 4)?.max(1),
            webhook_url: format!("http://{api}/webhook"),
            app_secret,
            events_queue: format!("{prefix}crm-events.fifo"),
            timeout: env.seconds_or("LOAD_TIMEOUT_SECONDS", Duration::from_secs(1800))?,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match LoadConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("load: {}", shared::telemetry::error_chain(&err));
            return ExitCode::from(2);
        }
    };
    match run(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("load: {reason}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: &LoadConfig) -> Result<(), String> {
    let sqs = aws_sdk_sqs::Client::new(&local_aws::local_sdk_config().await);
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&config.events_queue)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{} not found ({}); is the stack up (`make run`)?",
                config.events_queue,
                shared::telemetry::error_chain(&e)
            )
        })?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    // Unique per run, so events of an earlier run still queued are not counted.
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run_tag = format!("wamid.LOAD{}", run_id.get(..12).unwrap_or(&run_id));
    let bodies = bodies(config, &run_tag);
    println!(
        "load: {} messages in {} POSTs of up to {} to {}, {} in flight",
        config.messages,
        bodies.len(),
        config.batch,
        config.webhook_url,
        config.concurrency
    );

    let started = Instant::now();
    let deadline = started + config.timeout;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let readers: Vec<_> = (0..RECEIVERS)
        .map(|_| {
            tokio::spawn(read_events(
                sqs.clone(),
                queue_url.clone(),
                deadline,
                tx.clone(),
            ))
        })
        .collect();
    drop(tx);
    let stop_readers = || readers.iter().for_each(|r| r.abort());

    if let Err(reason) = post_all(config, bodies).await {
        stop_readers();
        return Err(reason);
    }
    let post_secs = started.elapsed().as_secs_f64();
    println!(
        "load: every POST answered 200 after {post_secs:.1} s ({:.1} messages/s accepted)",
        config.messages as f64 / post_secs
    );

    let mut seen = Seen::default();
    let mut last_report = Instant::now();
    while seen.wamids.len() < config.messages {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some(events)) => events.iter().for_each(|e| seen.add(e, &run_tag, started)),
            Ok(None) | Err(_) => {
                stop_readers();
                return Err(format!(
                    "only {} of {} message.received events within {} s",
                    seen.wamids.len(),
                    config.messages,
                    config.timeout.as_secs()
                ));
            }
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            println!(
                "load: {:>5} / {} events after {:.0} s",
                seen.wamids.len(),
                config.messages,
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    stop_readers();
    let secs = seen.last_after.as_secs_f64();
    println!(
        "load: {} message.received events ({} duplicates, {} other events) in {secs:.1} s",
        seen.wamids.len(),
        seen.duplicates,
        seen.others
    );
    println!(
        "load: {:.1} messages/s end to end",
        config.messages as f64 / secs
    );
    Ok(())
}

/// The POST bodies: `batch` text messages per `messages` change, each from its own customer
/// with the contact block Meta sends, and a `wamid` carrying the run's tag.
fn bodies(config: &LoadConfig, run_tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut n = 0;
    while n < config.messages {
        let count = (config.messages - n).min(config.batch);
        let mut contacts = Vec::with_capacity(count);
        let mut messages = Vec::with_capacity(count);
        for i in n..n + count {
            // Fictitious Brazilian mobile numbers (area 11), one customer per message.
            let wa_id = format!("551199{:07}", i);
            contacts.push(
                serde_json::json!({"profile": {"name": format!("Load {i}")}, "wa_id": wa_id}),
            );
            messages.push(serde_json::json!({
                "from": wa_id,
                "id": format!("{run_tag}{i:06}"),
                "timestamp": (chrono_now_secs()).to_string(),
                "type": "text",
                "text": {"body": format!("Olá, mensagem de carga {i}")},
            }));
        }
        out.push(
            serde_json::json!({
                "object": "whatsapp_business_account",
                "entry": [{
                    "id": "102290129340398",
                    "changes": [{
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                            "contacts": contacts,
                            "messages": messages,
                        }
                    }]
                }]
            })
            .to_string(),
        );
        n += count;
    }
    out
}

fn chrono_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// POSTs every body, signed as Meta signs, at most `concurrency` at once; fails on the first
/// answer other than 200 (Meta would retry it; a load run should not hide it).
async fn post_all(config: &LoadConfig, bodies: Vec<String>) -> Result<(), String> {
    let client = reqwest::Client::new();
    let limit = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for body in bodies {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return Err("POST limiter closed".into());
        };
        let signature = e2e_tests::meta_signature(body.as_bytes(), &config.app_secret);
        let request = client
            .post(&config.webhook_url)
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body);
        tasks.spawn(async move {
            let answer = request.send().await;
            drop(permit);
            match answer {
                Ok(res) if res.status().as_u16() == 200 => Ok(()),
                Ok(res) => Err(format!("the webhook answered {}", res.status())),
                Err(e) => Err(format!("the webhook did not answer: {e}")),
            }
        });
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| e.to_string())??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// One receiver: receives and deletes until `deadline`, handing each batch's events on.
async fn read_events(
    sqs: aws_sdk_sqs::Client,
    url: String,
    deadline: Instant,
    tx: tokio::sync::mpsc::UnboundedSender<Vec<serde_json::Value>>,
) {
    while Instant::now() < deadline {
        let Ok(out) = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut entries = Vec::new();
        let mut events = Vec::new();
        for (i, m) in out.messages().iter().enumerate() {
            if let Some(event) = m.body().and_then(|b| serde_json::from_str(b).ok()) {
                events.push(event);
            }
            if let Ok(entry) = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                .build()
            {
                entries.push(entry);
            }
        }
        if !entries.is_empty() {
            let _ = sqs
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await;
        }
        if tx.send(events).is_err() {
            return;
        }
    }
}

/// What the run has seen on `crm-events.fifo`.
#[derive(Default)]
struct Seen {
    wamids: HashSet<String>,
    duplicates: usize,
    others: usize,
    /// When the newest event arrived, from the first POST.
    last_after: Duration,
}

impl Seen {
    fn add(&mut self, event: &serde_json::Value, run_tag: &str, started: Instant) {
        let wamid = event["data"]["wamid"].as_str();
        match wamid {
            Some(w) if event["type"] == "message.received" && w.starts_with(run_tag) => {
                if self.wamids.insert(w.to_owned()) {
                    self.last_after = started.elapsed();
                } else {
                    self.duplicates += 1;
                }
            }
            _ => self.others += 1,
        }
    }
}
