//! End-to-end: the built `wa-bridge` binary against a local stack started here (its endpoints
//! and names passed as `make run`'s would be), one subcommand at a time, failure paths included.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use e2e_tests::{customer_writes, depth, sqs, start_stack, CrmEvents, RunningStack};
use serde_json::json;

const CUSTOMER: &str = "5511987654321";
const PATIENCE: Duration = Duration::from_secs(120);

/// The binary `make test` (`cargo build --workspace --bins`) built next to this test's runner.
fn binary() -> PathBuf {
    let dir = local_runner::binaries::bin_dir().expect("cargo profile directory");
    local_runner::binaries::function_binary(&dir, "wa-bridge")
        .unwrap_or_else(|e| panic!("{}", shared::telemetry::error_chain(&e)))
}

/// The stack's resource prefix, read back from its inbound queue's name.
fn prefix(stack: &RunningStack) -> String {
    let url = stack
        .provisioned
        .queue_url("InboundQueue")
        .expect("inbound");
    let name = url.rsplit('/').next().unwrap_or_default();
    name.strip_suffix("inbound").unwrap_or_default().to_owned()
}

/// Runs `wa-bridge` on `stack` (the local target: moto from this process's AWS_ENDPOINT_URL*).
async fn wa_bridge(stack: Option<&RunningStack>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.env_remove("WA_BRIDGE_STACK")
        .env_remove("WA_BRIDGE_APP_SECRET");
    if let Some(stack) = stack {
        cmd.arg("--prefix")
            .arg(prefix(stack))
            .arg("--webhook-url")
            .arg(stack.webhook_url());
    }
    cmd.args(args).kill_on_drop(true);
    tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("wa-bridge finished in time")
        .expect("wa-bridge ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_trip_with_wa_bridge_tail_show_send_and_replay() {
    let stack = start_stack(&[]).await;
    customer_writes(
        &stack,
        json!({"from": CUSTOMER, "name": "João", "text": "Olá! Tem em azul?"}),
    )
    .await;

    // events tail prints the customer's message, phone masked, and consumes it.
    let tail = wa_bridge(
        Some(&stack),
        &[
            "events",
            "tail",
            "--max",
            "1",
            "--type",
            "message.received",
            "--seconds",
            "60",
        ],
    )
    .await;
    let line = text(&tail.stdout);
    assert_eq!(code(&tail), 0, "{line}{}", text(&tail.stderr));
    assert!(line.contains("message.received"), "{line}");
    assert!(line.contains("\"Olá! Tem em azul?\""), "{line}");
    assert!(line.contains("+55119****4321"), "{line}");
    assert!(
        !line.contains(CUSTOMER),
        "the readable line masks the phone: {line}"
    );
    let events = CrmEvents::of(&stack).await;
    // What is left is the conversation the message opened (tail took message.received only).
    let rest = events
        .until("message.received", 1, Duration::from_secs(1))
        .await;
    assert!(
        rest.iter().all(|e| e["type"] == "conversation.opened"),
        "tail deleted what it printed: {rest:#?}"
    );

    // --peek shows an event and leaves it; tail --contact (any phone format) then consumes it.
    customer_writes(&stack, json!({"from": CUSTOMER, "text": "Ainda tem?"})).await;
    let mut peeked = String::new();
    for _ in 0..60 {
        peeked = text(
            &wa_bridge(Some(&stack), &["events", "tail", "--peek"])
                .await
                .stdout,
        );
        if !peeked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(peeked.contains("\"Ainda tem?\""), "{peeked}");
    let by_contact = wa_bridge(
        Some(&stack),
        &[
            "events",
            "tail",
            "--max",
            "1",
            "--seconds",
            "30",
            "--contact",
            "551187654321",
        ],
    )
    .await;
    assert!(
        text(&by_contact.stdout).contains("\"Ainda tem?\""),
        "the peek left it: {}",
        text(&by_contact.stdout)
    );

    // contact show: the window the message opened.
    let show = wa_bridge(Some(&stack), &["contact", "show", "+55 11 98765-4321"]).await;
    let shown = text(&show.stdout);
    assert_eq!(code(&show), 0, "{shown}{}", text(&show.stderr));
    assert!(shown.contains("window     open, 23h"), "{shown}");
    assert!(shown.contains("awaiting_reply    true"), "{shown}");
    assert!(
        shown.contains("  in  text"),
        "the inbound message is listed: {shown}"
    );
    assert!(!shown.contains(CUSTOMER), "{shown}");
    let json_show = wa_bridge(Some(&stack), &["contact", "show", CUSTOMER, "--json"]).await;
    let record: serde_json::Value = serde_json::from_slice(&json_show.stdout).expect("JSON");
    assert_eq!(record["contact"]["phone"], "+5511987654321");
    assert!(
        record["conversation"]["window_expires_at"].is_i64(),
        "{record}"
    );

    // send text to the customer who wrote: command.accepted, exit 0, one request at Meta.
    let send = wa_bridge(
        Some(&stack),
        &[
            "send",
            "text",
            "--to",
            "+55 11 98765-4321",
            "--body",
            "Temos sim!",
            "--command-id",
            "cli-reply-1",
        ],
    )
    .await;
    let outcome = text(&send.stdout);
    assert_eq!(code(&send), 0, "{outcome}{}", text(&send.stderr));
    assert!(outcome.contains("command.accepted"), "{outcome}");
    assert!(outcome.contains("command_id=cli-reply-1"), "{outcome}");
    assert_eq!(stack.simulator.requests().len(), 1);

    // contact show then lists the outbound message with its command.
    let after = wa_bridge(Some(&stack), &["contact", "show", CUSTOMER]).await;
    assert!(
        text(&after.stdout).contains("command_id=cli-reply-1"),
        "{}",
        text(&after.stdout)
    );

    // webhook replay of Meta's sample, signed with the stack's app secret: 200.
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/webhook-post-text.json");
    let replay = wa_bridge(
        Some(&stack),
        &["webhook", "replay", &sample.to_string_lossy()],
    )
    .await;
    assert_eq!(code(&replay), 0, "{}", text(&replay.stderr));
    assert!(
        text(&replay.stdout).starts_with("200  "),
        "{}",
        text(&replay.stdout)
    );

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_is_not_accepted_exits_1_and_a_contact_never_met_exits_3() {
    let stack = start_stack(&[]).await;
    let send = wa_bridge(
        Some(&stack),
        &["send", "text", "--to", "+55 21 99876-5432", "--body", "Oi"],
    )
    .await;
    let outcome = text(&send.stdout);
    assert_eq!(code(&send), 1, "{outcome}{}", text(&send.stderr));
    assert!(outcome.contains("command.rejected"), "{outcome}");
    assert!(outcome.contains("reason=window_closed"), "{outcome}");

    let show = wa_bridge(Some(&stack), &["contact", "show", "+55 21 99876-5432"]).await;
    assert_eq!(code(&show), 3, "{}", text(&show.stderr));
    assert!(
        text(&show.stderr).contains("no contact +55219****5432"),
        "{}",
        text(&show.stderr)
    );

    let bad = wa_bridge(Some(&stack), &["contact", "show", "(21) 99876-5432"]).await;
    assert_eq!(
        code(&bad),
        2,
        "a number without its country code: {}",
        text(&bad.stderr)
    );

    let missing = wa_bridge(Some(&stack), &["webhook", "replay", "no/such/file.json"]).await;
    assert_eq!(code(&missing), 3, "{}", text(&missing.stderr));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_goes_back_to_inbound_and_an_outcome_never_comes_in_time() {
    // Nothing consumes inbound or commands here, so what the commands move stays to be seen.
    let stack = start_stack(&["processor", "sender"]).await;
    let sqs = sqs().await;
    let dlq = stack
        .provisioned
        .queue_url("InboundDLQ")
        .expect("inbound dlq")
        .to_owned();
    let inbound = stack
        .provisioned
        .queue_url("InboundQueue")
        .expect("inbound")
        .to_owned();
    sqs.send_message()
        .queue_url(&dlq)
        .message_body(r#"{"dead":"letter"}"#)
        .send()
        .await
        .expect("SendMessage");

    let list = wa_bridge(Some(&stack), &["dlq", "list"]).await;
    let listed = text(&list.stdout);
    assert_eq!(code(&list), 0, "{listed}{}", text(&list.stderr));
    let row = listed
        .lines()
        .find(|l| l.contains("inbound-dlq"))
        .unwrap_or_else(|| panic!("inbound-dlq listed: {listed}"));
    assert!(row.split_whitespace().nth(1) == Some("1"), "depth 1: {row}");
    assert!(listed.contains("crm-events-dlq.fifo"), "{listed}");
    assert!(listed.contains("crm-commands-dlq.fifo"), "{listed}");

    let redrive = wa_bridge(Some(&stack), &["dlq", "redrive", "inbound-dlq"]).await;
    assert_eq!(
        code(&redrive),
        0,
        "{}{}",
        text(&redrive.stdout),
        text(&redrive.stderr)
    );
    assert!(
        text(&redrive.stdout).contains("moved 1 message(s) back to"),
        "{}",
        text(&redrive.stdout)
    );
    assert_eq!(depth(&sqs, &dlq).await, 0);
    assert_eq!(depth(&sqs, &inbound).await, 1);
    let back = e2e_tests::drain(&sqs, &inbound, 1, Duration::from_secs(5)).await;
    assert_eq!(
        back.first().map(|(_, b)| b.clone()),
        Some(json!({"dead": "letter"}))
    );

    // The same stack as a deployed one: found through its CloudFormation outputs.
    let name = deployed(&stack).await;
    let by_outputs = wa_bridge(None, &["--stack", &name, "dlq", "list"]).await;
    assert_eq!(code(&by_outputs), 0, "{}", text(&by_outputs.stderr));
    assert_eq!(
        text(&by_outputs.stdout).lines().count(),
        4,
        "{}",
        text(&by_outputs.stdout)
    );
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/webhook-post-text.json");
    let replay = wa_bridge(
        None,
        &[
            "--stack",
            &name,
            "webhook",
            "replay",
            &sample.to_string_lossy(),
        ],
    )
    .await;
    assert_eq!(code(&replay), 0, "{}", text(&replay.stderr));
    assert_eq!(
        depth(&sqs, &inbound).await,
        1,
        "the replayed update is buffered"
    );

    let unknown = wa_bridge(Some(&stack), &["dlq", "redrive", "no-such-dlq"]).await;
    assert_eq!(code(&unknown), 3, "{}", text(&unknown.stderr));

    // The sender is paused: no outcome within the timeout.
    let send = wa_bridge(
        Some(&stack),
        &[
            "send",
            "text",
            "--to",
            CUSTOMER,
            "--body",
            "Oi",
            "--timeout",
            "2",
        ],
    )
    .await;
    assert_eq!(code(&send), 4, "{}", text(&send.stderr));
    assert!(
        text(&send.stderr).contains("no outcome for command wa-bridge-"),
        "{}",
        text(&send.stderr)
    );
    let queued = wa_bridge(
        Some(&stack),
        &[
            "send",
            "text",
            "--to",
            CUSTOMER,
            "--body",
            "Oi",
            "--no-wait",
        ],
    )
    .await;
    assert_eq!(code(&queued), 0, "{}", text(&queued.stderr));
    assert!(text(&queued.stdout).starts_with("enqueued wa-bridge-"));
    stack.shutdown().await;
}

/// A CloudFormation stack on the local AWS whose outputs are `stack`'s resources, as `sam
/// deploy` would output them; returns its name.
async fn deployed(stack: &RunningStack) -> String {
    let name = format!("{}stack", prefix(stack));
    let p = &stack.provisioned;
    let outputs = json!({
        "WebhookUrl": stack.webhook_url(),
        "InboundQueueUrl": p.queue_url("InboundQueue").expect("inbound"),
        "CrmEventsQueueUrl": p.queue_url("CrmEventsQueue").expect("events"),
        "CrmCommandsQueueUrl": p.queue_url("CrmCommandsQueue").expect("commands"),
        "StateTableName": p.table_name("StateTable").expect("table"),
        "MetaSecretArn": p.secret_id("MetaSecret").expect("secret"),
        "PhoneNumberIds": "106540352242922",
    });
    let outputs: serde_json::Map<String, serde_json::Value> = outputs
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "Value": v })))
        .collect();
    let template = json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    });
    let cfn = aws_sdk_cloudformation::Client::new(&local_aws::local_sdk_config().await);
    cfn.create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .expect("CreateStack on the local AWS");
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_that_does_not_exist_or_an_aws_that_does_not_answer_is_said_so() {
    let missing = wa_bridge(None, &["--stack", "no-such-stack", "dlq", "list"]).await;
    assert_eq!(code(&missing), 3, "{}", text(&missing.stderr));
    assert!(
        text(&missing.stderr).contains("stack no-such-stack does not exist"),
        "{}",
        text(&missing.stderr)
    );

    let down = wa_bridge(
        None,
        &["--endpoint-url", "http://127.0.0.1:9", "dlq", "list"],
    )
    .await;
    assert_eq!(code(&down), 5, "{}", text(&down.stderr));
    assert!(
        text(&down.stderr).contains("cannot reach SQS at http://127.0.0.1:9"),
        "{}",
        text(&down.stderr)
    );

    let no_queue = wa_bridge(None, &["--prefix", "nobody-", "events", "tail", "--peek"]).await;
    assert_eq!(code(&no_queue), 3, "{}", text(&no_queue.stderr));
    assert!(
        text(&no_queue.stderr).contains("queue nobody-crm-events.fifo does not exist"),
        "{}",
        text(&no_queue.stderr)
    );
}
