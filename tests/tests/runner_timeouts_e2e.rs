//! The local runner plays Lambda's execution environments around the compiled processor: an
//! invocation past the function's timeout is killed with its process, counted, and its batch
//! left unacknowledged (back after the queue's visibility timeout); a process that dies fails
//! its invocation and is replaced; a warm environment is reused; a function that cannot start
//! fails the stack by name; and no process outlives its stack.
//!
//! A function stuck past its deadline is played by freezing its process (SIGSTOP): the
//! functions themselves stop their records before the deadline (`shared::sqs_consumer`), so
//! only a hung process reaches it, and that is what Lambda's timeout is for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e_tests::{start_stack_with, RunningStack, StackOptions};
use local_runner::esm::{self, Mapping};

/// A queue of its own (visibility timeout 2 s) holding one message, and a mapping to it.
async fn queue_with_one_message(sqs: &aws_sdk_sqs::Client) -> Mapping {
    let name = format!(
        "t{}-runner-timeouts",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL");
    sqs.send_message()
        .queue_url(&url)
        .message_body("{\"not\":\"an update\"}")
        .send()
        .await
        .expect("SendMessage");
    Mapping {
        name: format!("processor<-{name}"),
        queue_arn: format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
        queue_url: url,
        batch_size: 10,
        pollers: 1,
        region: "us-east-1".into(),
    }
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default()
}

/// Receives until the message is back (it comes back after the 2 s visibility timeout).
async fn comes_back(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let until = Instant::now() + Duration::from_secs(8);
    loop {
        let again = receive(sqs, url).await;
        if !again.is_empty() || Instant::now() > until {
            return again;
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie (exited, not reaped) says so in its stat.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

/// A stack whose processor has a 2 s timeout (its inbound queue stays empty: only the test
/// invokes it).
async fn stack() -> RunningStack {
    start_stack_with(&[], |o| {
        o.function_timeouts = BTreeMap::from([("processor".to_owned(), Duration::from_secs(2))]);
    })
    .await
}

#[tokio::test]
async fn an_invocation_past_its_timeout_is_killed_counted_and_its_batch_comes_back() {
    // Arrange: the processor's warm environment hangs (frozen) before it takes the batch.
    let stack = stack().await;
    let processor = stack.function("processor").expect("processor runs");
    let sqs = e2e_tests::sqs().await;
    let mapping = queue_with_one_message(&sqs).await;
    let pids = processor.pids();
    assert_eq!(pids.len(), 1, "one warm environment: {pids:?}");
    signal(pids[0], "-STOP");
    let batch = receive(&sqs, &mapping.queue_url).await;
    assert_eq!(batch.len(), 1);

    // Act
    let began = Instant::now();
    let deleted = esm::invoke_once(&sqs, &mapping, processor.as_ref(), batch).await;
    let took = began.elapsed();

    // Assert: cut at the 2 s timeout, not waited for; the process is gone; nothing acknowledged;
    // counted once, for the processor only.
    assert_eq!(deleted, 0);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "killed at 2 s: {took:?}"
    );
    assert!(
        !alive(pids[0]),
        "the timed-out environment's process was killed"
    );
    assert_eq!(stack.timed_out_invocations("processor"), 1);
    assert_eq!(stack.timed_out_invocations("sender"), 0);
    assert_eq!(
        comes_back(&sqs, &mapping.queue_url).await.len(),
        1,
        "back after the visibility timeout"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn an_invocation_in_time_is_answered_by_the_warm_environment_and_not_counted() {
    // Arrange
    let stack = stack().await;
    let processor = stack.function("processor").expect("processor runs");
    let sqs = e2e_tests::sqs().await;
    let mapping = queue_with_one_message(&sqs).await;
    let warm = processor.pids();
    let batch = receive(&sqs, &mapping.queue_url).await;

    // Act: the processor reports the record that is not an update as a batch item failure.
    let began = Instant::now();
    let deleted = esm::invoke_once(&sqs, &mapping, processor.as_ref(), batch).await;

    // Assert: answered in time by the environment warmed at start (no new cold start).
    assert_eq!(
        deleted, 0,
        "the poison record is reported as a batch item failure"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(stack.timed_out_invocations("processor"), 0);
    assert_eq!(processor.cold_starts(), 1);
    assert_eq!(processor.pids(), warm);
    // What Lambda would bill, as `make cost` reads it: one warm invocation of the template's
    // 256 MB, signed by the function's role session (how moto's recorder tells its calls apart).
    let usage: serde_json::Value = reqwest::get(
        stack
            .webhook_url()
            .replace("/webhook", "/_local/lambda-usage"),
    )
    .await
    .expect("usage answered")
    .json()
    .await
    .expect("usage is JSON");
    let processor_usage = &usage["processor"];
    assert_eq!(processor_usage["invocations"], 1, "{usage}");
    assert_eq!(processor_usage["cold_starts"], 0, "{usage}");
    assert_eq!(processor_usage["memory_mb"], 128, "{usage}");
    assert!(processor_usage["billed_ms"].as_u64() >= Some(1), "{usage}");
    let role_key = stack
        .function_environment("processor")
        .and_then(|env| env.get("AWS_ACCESS_KEY_ID"))
        .expect("the processor's role credentials");
    assert_eq!(
        processor_usage["access_key_id"],
        role_key.as_str(),
        "{usage}"
    );
    assert_ne!(
        processor_usage["access_key_id"],
        usage["sender"]["access_key_id"]
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_process_that_dies_fails_its_invocation_and_a_fresh_one_takes_the_next() {
    // Arrange: the environment hangs with the batch, then dies.
    let stack = stack().await;
    let processor = stack.function("processor").expect("processor runs");
    let sqs = e2e_tests::sqs().await;
    let mapping = queue_with_one_message(&sqs).await;
    let pid = processor.pids()[0];
    signal(pid, "-STOP");
    let batch = receive(&sqs, &mapping.queue_url).await;
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        signal(pid, "-KILL");
    });

    // Act
    let began = Instant::now();
    let deleted = esm::invoke_once(&sqs, &mapping, processor.as_ref(), batch).await;
    let took = began.elapsed();
    killer.await.expect("killed");
    let again = comes_back(&sqs, &mapping.queue_url).await;
    let redelivered = esm::invoke_once(&sqs, &mapping, processor.as_ref(), again).await;

    // Assert: failed when the process died (before the timeout), not counted as a timeout; the
    // next invocation ran in a new environment.
    assert_eq!(deleted, 0);
    assert!(
        took < Duration::from_secs(2),
        "failed when it died: {took:?}"
    );
    assert_eq!(stack.timed_out_invocations("processor"), 0);
    assert_eq!(redelivered, 0, "answered: the poison record failed alone");
    assert_eq!(processor.cold_starts(), 2, "replaced");
    assert!(!processor.pids().contains(&pid));
    stack.shutdown().await;
}

#[tokio::test]
async fn a_function_that_cannot_start_fails_the_stack_with_its_name() {
    // Arrange: a setting every consumer rejects at cold start.
    let mut opts = StackOptions::for_tests(&format!(
        "t{}-",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    ));
    opts.function_env
        .insert("MIN_RECORD_BUDGET_MS".into(), "0".into());

    // Act
    let started = local_runner::start(opts).await;

    // Assert
    let Err(err) = started else {
        panic!("a stack with a function that exits at init started");
    };
    let chain = shared::telemetry::error_chain(&err);
    assert!(
        ["processor", "sender", "media"]
            .iter()
            .any(|f| chain.starts_with(&format!("function {f} could not start"))),
        "{chain}"
    );
    assert!(chain.contains("exit status: 1"), "{chain}");
}

#[tokio::test]
async fn no_function_process_outlives_its_stack() {
    // Arrange: two stacks, one shut down, one dropped.
    let stopped = stack().await;
    let dropped = stack().await;
    let pids: Vec<u32> = stopped
        .function_pids()
        .into_iter()
        .chain(dropped.function_pids())
        .collect();
    assert!(pids.len() >= 8, "four functions each: {pids:?}");
    assert!(pids.iter().all(|p| alive(*p)));

    // Act
    stopped.shutdown().await;
    drop(dropped);

    // Assert
    let until = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
}

#[tokio::test]
async fn api_gateway_answers_500_when_the_webhook_times_out_and_a_dead_environment_is_replaced() {
    // Arrange: a 1 s webhook timeout; its warm environment hangs.
    let stack = start_stack_with(&["processor", "sender", "window-alerts"], |o| {
        o.function_timeouts = BTreeMap::from([("webhook".to_owned(), Duration::from_secs(1))]);
    })
    .await;
    let webhook = stack.function("webhook").expect("webhook runs");
    let hung = webhook.pids()[0];
    signal(hung, "-STOP");
    let handshake = format!(
        "{}?hub.mode=subscribe&hub.verify_token=local-verify-token&hub.challenge=42",
        stack.webhook_url()
    );

    // Act
    let timed_out = reqwest::get(&handshake).await.expect("answers");
    let status = timed_out.status();
    let body = timed_out.text().await.expect("a body");
    let answered = reqwest::get(&handshake).await.expect("answers");

    // Assert: API Gateway's 500 for the timed-out invocation; the next request gets a fresh
    // environment and Meta's challenge back.
    assert_eq!(status, 500);
    assert_eq!(body, "{\"message\":\"Internal Server Error\"}");
    assert_eq!(stack.timed_out_invocations("webhook"), 1);
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.text().await.expect("a body"), "42");
    assert_eq!(webhook.cold_starts(), 2);
    assert!(!alive(hung));
    stack.shutdown().await;
}
