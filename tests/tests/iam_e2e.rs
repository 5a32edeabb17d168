//! IAM enforced locally: every function signs with a session of its `template.yaml` role and the
//! local AWS refuses what that role does not allow, as AWS does (infra/python/moto_local/iam.py).

use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::iam::{denials, edited_template};
use e2e_tests::{customer_writes, of_type, start_stack, start_stack_with, CrmEvents};
use serde_json::json;

/// How long a message may take to become a CRM event; only a failing test waits this long.
const PATIENCE: Duration = Duration::from_secs(60);

/// Every function but the webhook paused: a stack whose resources another stack's roles try.
const ALL_BUT_WEBHOOK: &[&str] = &["processor", "sender", "window-alerts"];

fn code<E: ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("(no code)").to_owned()
}

/// The named test for "remove one action from a function's policy and see AccessDenied": with
/// the real template the message comes through and nothing is denied; with an action missing,
/// this fails listing what moto denied.
#[tokio::test]
async fn a_customer_message_reaches_the_crm_with_every_function_on_its_template_role() {
    let stack = start_stack(&[]).await;
    customer_writes(&stack, json!({"from": "5511987654321", "text": "oi"})).await;
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 1, PATIENCE)
        .await;
    let denied = denials(&stack).await;
    assert!(
        denied.is_empty(),
        "template.yaml's policies refused a call:\n{}",
        denied.join("\n")
    );
    assert_eq!(of_type(&events, "message.received").len(), 1, "{events:#?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn without_put_item_in_its_policy_the_processor_is_denied_and_no_event_comes_out() {
    let template = edited_template(
        "ProcessorFunction",
        "                - dynamodb:PutItem\n",
        "",
    );
    let stack = start_stack_with(&[], |o| o.template = template.clone()).await;
    customer_writes(&stack, json!({"from": "5511987654321", "text": "oi"})).await;
    let role = stack
        .role_name("processor")
        .expect("processor role")
        .to_owned();
    let table = stack
        .provisioned
        .table_name("StateTable")
        .expect("state table")
        .to_owned();
    let wanted = format!(
        "AccessDenied: arn:aws:sts::123456789012:assumed-role/{role}/processor is not authorized \
         to perform dynamodb:PutItem on arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut denied = denials(&stack).await;
    while !denied.contains(&wanted) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        denied = denials(&stack).await;
    }
    assert!(denied.contains(&wanted), "{denied:#?}");
    let events = CrmEvents::of(&stack)
        .await
        .until("message.received", 1, Duration::from_secs(3))
        .await;
    assert!(
        of_type(&events, "message.received").is_empty(),
        "{events:#?}"
    );
    stack.shutdown().await;
    let _ = std::fs::remove_dir_all(template.parent().expect("temp dir"));
}

#[tokio::test]
async fn a_function_cannot_touch_another_stack_s_table_queue_or_secret_but_the_admin_can() {
    let ours = start_stack(ALL_BUT_WEBHOOK).await;
    let theirs = start_stack(ALL_BUT_WEBHOOK).await;
    let processor = ours.function_sdk_config("processor").expect("processor");
    let webhook = ours.function_sdk_config("webhook").expect("webhook");
    let admin = local_aws::local_sdk_config().await;
    let key = |id: &str| {
        [
            ("pk".to_owned(), AttributeValue::S(id.to_owned())),
            ("sk".to_owned(), AttributeValue::S("iam".to_owned())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    let their_table = theirs.provisioned.table_name("StateTable").expect("table");
    let their_events = theirs
        .provisioned
        .queue_url("CrmEventsQueue")
        .expect("queue");
    let their_secret = theirs.provisioned.secret_id("MetaSecret").expect("secret");

    let ddb = aws_sdk_dynamodb::Client::new(processor);
    let err = ddb
        .put_item()
        .table_name(their_table)
        .set_item(Some(key("x")))
        .send()
        .await
        .expect_err("another stack's table");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");
    let err = ddb
        .get_item()
        .table_name(their_table)
        .set_key(Some(key("x")))
        .send()
        .await
        .expect_err("another stack's table");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");

    let err = aws_sdk_sqs::Client::new(processor)
        .send_message()
        .queue_url(their_events)
        .message_body("{}")
        .message_group_id("g")
        .message_deduplication_id("d")
        .send()
        .await
        .expect_err("another stack's queue");
    assert_eq!(code(&err), "AccessDenied", "{err:?}");

    let secrets = aws_sdk_secretsmanager::Client::new(webhook);
    let err = secrets
        .get_secret_value()
        .secret_id(their_secret)
        .send()
        .await
        .expect_err("another stack's secret");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");
    secrets
        .get_secret_value()
        .secret_id(ours.provisioned.secret_id("MetaSecret").expect("secret"))
        .send()
        .await
        .expect("the webhook reads its own secret");

    aws_sdk_dynamodb::Client::new(&admin)
        .put_item()
        .table_name(their_table)
        .set_item(Some(key("x")))
        .send()
        .await
        .expect("the administrator writes any table");
    aws_sdk_sqs::Client::new(&admin)
        .send_message()
        .queue_url(their_events)
        .message_body("{}")
        .message_group_id("g")
        .message_deduplication_id("d")
        .send()
        .await
        .expect("the administrator sends to any queue");
    ours.shutdown().await;
    theirs.shutdown().await;
}

#[tokio::test]
async fn a_function_may_not_call_what_its_role_never_grants_even_on_its_own_table() {
    let stack = start_stack(ALL_BUT_WEBHOOK).await;
    let table = stack.provisioned.table_name("StateTable").expect("table");
    // The webhook's role grants SQS and its secret only.
    let err = aws_sdk_dynamodb::Client::new(stack.function_sdk_config("webhook").expect("webhook"))
        .scan()
        .table_name(table)
        .send()
        .await
        .expect_err("the webhook has no DynamoDB grant");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(
        message.contains("is not authorized to perform: dynamodb:Scan on resource: ")
            && message.contains(&format!(
                ":table/{table} because no identity-based policy allows"
            )),
        "{message}"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_or_an_unknown_key_is_refused_before_any_policy() {
    let stack = start_stack(ALL_BUT_WEBHOOK).await;
    let env = stack.function_environment("processor").expect("processor");
    let table = stack.provisioned.table_name("StateTable").expect("table");
    let with = |id: &str, secret: &str, token: Option<&str>| {
        let creds = aws_sdk_dynamodb::config::Credentials::new(
            id.to_owned(),
            secret.to_owned(),
            token.map(str::to_owned),
            None,
            "test",
        );
        let sdk = stack
            .function_sdk_config("processor")
            .expect("processor")
            .to_builder()
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                creds,
            ))
            .build();
        aws_sdk_dynamodb::Client::new(&sdk)
    };
    let id = &env["AWS_ACCESS_KEY_ID"];
    let token = env["AWS_SESSION_TOKEN"].as_str();
    let secret = env["AWS_SECRET_ACCESS_KEY"].as_str();
    let cases = [
        (
            "wrong secret",
            id.as_str(),
            "not-the-secret",
            Some(token),
            "InvalidSignatureException",
        ),
        (
            "wrong session token",
            id,
            secret,
            Some("not-the-token"),
            "UnrecognizedClientException",
        ),
        (
            "unknown key",
            "ASIAUNKNOWNUNKNOWN00",
            "x",
            None,
            "UnrecognizedClientException",
        ),
        (
            "the administrator's key with a wrong secret",
            "test",
            "not-test",
            None,
            "InvalidSignatureException",
        ),
    ];
    for (case, key, secret, token, expected) in cases {
        let err = with(key, secret, token)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect_err(case);
        assert_eq!(code(&err), expected, "{case}: {err:?}");
    }
    stack.shutdown().await;
}
