//! The local moto's fault and latency injection, seen through the real SDK clients: injected
//! errors reach the caller as AWS's would (after the SDK's standard retries), only on the
//! resources a rule names, and latency delays exactly the matching calls.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ScalarAttributeType, TransactWriteItem, WriteRequest,
};
use e2e_tests::faults::{self, AwsError, Target};

fn prefix() -> String {
    format!("f{}-", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await)
}

async fn table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("CreateTable");
}

fn item(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_owned(), AttributeValue::S(pk.to_owned()))].into()
}

async fn put(ddb: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> Result<(), String> {
    ddb.put_item()
        .table_name(table)
        .set_item(Some(item(pk)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            e.into_service_error()
                .code()
                .unwrap_or("no code")
                .to_owned()
        })
}

#[tokio::test]
async fn throttling_fewer_times_than_the_sdk_attempts_is_absorbed_by_its_retries() {
    let p = prefix();
    let ddb = dynamodb().await;
    let name = format!("{p}items");
    table(&ddb, &name).await;

    faults::inject(
        Target::dynamodb(Some("PutItem"), &name),
        &AwsError::dynamodb_throttling(),
        2,
    )
    .await;

    assert_eq!(put(&ddb, &name, "a").await, Ok(()));
    assert_eq!(
        faults::remaining(&p).await,
        0,
        "both throttles were answered"
    );
    faults::clear(&p).await;
}

#[tokio::test]
async fn throttling_as_often_as_the_sdk_attempts_reaches_the_caller_as_throttling_exception() {
    let p = prefix();
    let ddb = dynamodb().await;
    let name = format!("{p}items");
    table(&ddb, &name).await;

    faults::inject(
        Target::dynamodb(None, &name),
        &AwsError::dynamodb_throttling(),
        3,
    )
    .await;

    let err = ddb
        .put_item()
        .table_name(&name)
        .set_item(Some(item("a")))
        .send()
        .await
        .expect_err("three throttles exhaust the standard retry mode")
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("Rate of requests exceeds the allowed throughput.")
    );
    // The rule is used up: the next call goes through.
    assert_eq!(put(&ddb, &name, "a").await, Ok(()));
    faults::clear(&p).await;
}

#[tokio::test]
async fn a_fault_hits_only_the_tables_it_names_and_only_its_action() {
    let p = prefix();
    let ddb = dynamodb().await;
    let (hit, other) = (format!("{p}hit"), format!("{p}other"));
    table(&ddb, &hit).await;
    table(&ddb, &other).await;

    faults::inject(
        Target::dynamodb(Some("PutItem"), &hit),
        &AwsError::new(400, "ValidationException", "injected"),
        1,
    )
    .await;

    assert_eq!(put(&ddb, &other, "a").await, Ok(()), "another table");
    ddb.get_item()
        .table_name(&hit)
        .set_key(Some(item("a")))
        .send()
        .await
        .expect("another action on the named table");
    assert_eq!(
        put(&ddb, &hit, "a").await,
        Err("ValidationException".to_owned())
    );
    assert_eq!(put(&ddb, &hit, "a").await, Ok(()), "one call only");
    faults::clear(&p).await;
}

#[tokio::test]
async fn batch_and_transaction_requests_match_by_any_table_they_write() {
    let p = prefix();
    let ddb = dynamodb().await;
    let (plain, hit) = (format!("{p}plain"), format!("{p}hit"));
    table(&ddb, &plain).await;
    table(&ddb, &hit).await;
    let error = AwsError::new(400, "ValidationException", "injected");
    faults::inject(Target::dynamodb(None, &hit), &error, 2).await;

    let batch = ddb
        .batch_write_item()
        .request_items(&plain, vec![write(&item("a"))])
        .request_items(&hit, vec![write(&item("b"))])
        .send()
        .await;
    let transaction = ddb
        .transact_write_items()
        .transact_items(transact_put(&plain, "c"))
        .transact_items(transact_put(&hit, "d"))
        .send()
        .await;

    let code = |e: &dyn ProvideErrorMetadata| e.code().map(str::to_owned);
    assert_eq!(
        code(&batch.expect_err("batch").into_service_error()).as_deref(),
        Some("ValidationException")
    );
    assert_eq!(
        code(&transaction.expect_err("transaction").into_service_error()).as_deref(),
        Some("ValidationException")
    );
    faults::clear(&p).await;
}

fn write(item: &std::collections::HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item.clone()))
                .build()
                .expect("put request"),
        )
        .build()
}

fn transact_put(table: &str, pk: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item(pk)))
                .build()
                .expect("put"),
        )
        .build()
}

#[tokio::test]
async fn sqs_errors_carry_the_query_code_the_sdk_reports() {
    let p = prefix();
    let sqs = e2e_tests::sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(format!("{p}q"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue url")
        .to_owned();

    faults::inject(
        Target::sqs(Some("SendMessage"), &url),
        &AwsError::sqs_queue_does_not_exist(),
        1,
    )
    .await;
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .expect_err("not retried: the first answer reaches the caller")
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));

    faults::inject(Target::sqs(None, &p), &AwsError::sqs_throttled(), 3).await;
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .expect_err("three throttles exhaust the standard retry mode")
        .into_service_error();
    assert_eq!(err.code(), Some("RequestThrottled"), "{err:?}");

    sqs.send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .expect("the rules are used up");
    faults::clear(&p).await;
}

#[tokio::test]
async fn latency_delays_every_matching_call_until_cleared() {
    let p = prefix();
    let ddb = dynamodb().await;
    let name = format!("{p}items");
    table(&ddb, &name).await;

    faults::slow(Target::dynamodb(Some("GetItem"), &name), 400).await;
    for _ in 0..2 {
        let started = Instant::now();
        ddb.get_item()
            .table_name(&name)
            .set_key(Some(item("a")))
            .send()
            .await
            .expect("a slow call still answers");
        // A lower bound only: the call cannot answer before the injected wait is over.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        faults::clear(&p).await,
        1,
        "the latency rule stays until cleared"
    );
    assert_eq!(faults::clear(&p).await, 0);
}

#[tokio::test]
async fn the_endpoint_refuses_a_rule_it_could_not_apply() {
    let p = prefix();
    for rule in [
        serde_json::json!({"service": "s3", "match": p}),
        serde_json::json!({"service": "sqs", "match": ""}),
        serde_json::json!({"service": "sqs", "match": p}),
        serde_json::json!({"service": "sqs", "match": p, "count": 2}),
        serde_json::json!({"service": "sqs", "match": p, "error": {"code": "X", "status": 200}}),
        serde_json::json!({"service": "sqs", "match": p, "error": {"code": "X"}, "count": 0}),
        serde_json::json!({"service": "sqs", "match": p, "latency_ms": -1}),
    ] {
        let (status, answer) = faults::post_rule(faults::Service::Sqs, &rule).await;
        assert_eq!(status, 400, "{rule} -> {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(faults::remaining(&p).await, 0);
}

#[tokio::test]
async fn a_500_is_retried_by_the_sdk_as_transient() {
    let p = prefix();
    let ddb = dynamodb().await;
    let name = format!("{p}items");
    table(&ddb, &name).await;

    faults::inject(
        Target::dynamodb(Some("PutItem"), &name),
        &AwsError::dynamodb_internal(),
        1,
    )
    .await;

    assert_eq!(put(&ddb, &name, "a").await, Ok(()));
    assert_eq!(faults::remaining(&p).await, 0, "the 500 was answered");
    faults::clear(&p).await;
}

#[tokio::test]
async fn clearing_needs_a_prefix_because_the_suite_shares_the_emulator() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| local_aws::DEFAULT_ENDPOINT.to_owned());
    let client = reqwest::Client::new();
    let url = format!("{endpoint}/_local/faults");

    let delete_all = client.delete(&url).send().await.expect("answers");
    let put = client.put(&url).send().await.expect("answers");

    assert_eq!(delete_all.status().as_u16(), 400);
    assert_eq!(put.status().as_u16(), 405);
}
