//! DynamoDB: item size by AWS's rules, BatchWriteItem and TransactWriteItems limits.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ScalarAttributeType, TransactWriteItem, WriteRequest,
};

use crate::prefix;

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await)
}

async fn table(ddb: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("{}items", prefix());
    ddb.create_table()
        .table_name(&name)
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
    name
}

fn item(pk: &str, extra: Option<(&str, AttributeValue)>) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> =
        [("pk".to_owned(), AttributeValue::S(pk.to_owned()))].into();
    if let Some((name, value)) = extra {
        item.insert(name.to_owned(), value);
    }
    item
}

fn validation(err: &dyn ProvideErrorMetadata) -> (Option<String>, String) {
    (
        err.code().map(str::to_owned),
        err.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn an_item_over_400_kb_by_awss_size_rules_is_refused() {
    let ddb = dynamodb().await;
    let name = table(&ddb).await;
    // A list of short strings: 3 + (1 + 3) bytes per element by AWS's rules. 102,000 elements
    // make 408,003 bytes (under 409,600); 103,000 make 412,003 (moto alone counts 309,000).
    let list = |n: usize| AttributeValue::L(vec![AttributeValue::S("abc".to_owned()); n]);

    ddb.put_item()
        .table_name(&name)
        .set_item(Some(item("under", Some(("l", list(102_000))))))
        .send()
        .await
        .expect("under 400 KB");
    let err = ddb
        .put_item()
        .table_name(&name)
        .set_item(Some(item("over", Some(("l", list(103_000))))))
        .send()
        .await
        .expect_err("over 400 KB")
        .into_service_error();
    assert_eq!(
        validation(&err),
        (
            Some("ValidationException".to_owned()),
            "Item size has exceeded the maximum allowed size".to_owned()
        )
    );

    let batch = ddb
        .batch_write_item()
        .request_items(
            &name,
            vec![put_request(item("over", Some(("l", list(103_000)))))],
        )
        .send()
        .await
        .expect_err("over 400 KB in a batch")
        .into_service_error();
    assert_eq!(
        validation(&batch).1,
        "Item size has exceeded the maximum allowed size"
    );
}

fn put_request(item: HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("put"),
        )
        .build()
}

#[tokio::test]
async fn batch_write_item_takes_at_most_25_requests() {
    let ddb = dynamodb().await;
    let (a, b) = (table(&ddb).await, table(&ddb).await);
    let puts = |n: usize, tag: &str| {
        (0..n)
            .map(|i| put_request(item(&format!("{tag}{i}"), None)))
            .collect::<Vec<_>>()
    };

    ddb.batch_write_item()
        .request_items(&a, puts(25, "a"))
        .send()
        .await
        .expect("25 requests");
    let one_table = ddb
        .batch_write_item()
        .request_items(&a, puts(26, "b"))
        .send()
        .await
        .expect_err("26 requests")
        .into_service_error();
    let (code, message) = validation(&one_table);
    assert_eq!(code.as_deref(), Some("ValidationException"));
    assert!(
        message.contains("Member must have length less than or equal to 25"),
        "{message}"
    );

    let two_tables = ddb
        .batch_write_item()
        .request_items(&a, puts(13, "c"))
        .request_items(&b, puts(13, "d"))
        .send()
        .await
        .expect_err("26 requests over two tables")
        .into_service_error();
    assert_eq!(
        validation(&two_tables),
        (
            Some("ValidationException".to_owned()),
            "Too many items requested for the BatchWriteItem call".to_owned()
        )
    );
    let count = ddb
        .scan()
        .table_name(&a)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .expect("Scan");
    assert_eq!(count.count(), 25, "the refused batches wrote nothing");
}

#[tokio::test]
async fn a_transaction_is_at_most_100_actions_and_4_mb() {
    let ddb = dynamodb().await;
    let name = table(&ddb).await;
    let put = |pk: String, bytes: usize| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&name)
                    .set_item(Some(item(
                        &pk,
                        Some(("body", AttributeValue::S("x".repeat(bytes)))),
                    )))
                    .build()
                    .expect("put"),
            )
            .build()
    };

    let too_many = ddb
        .transact_write_items()
        .set_transact_items(Some((0..101).map(|i| put(format!("n{i}"), 1)).collect()))
        .send()
        .await
        .expect_err("101 actions")
        .into_service_error();
    let (code, message) = validation(&too_many);
    assert_eq!(code.as_deref(), Some("ValidationException"));
    assert!(
        message.contains("Member must have length less than or equal to 100"),
        "{message}"
    );

    // 390,000-byte items: 10 make 3.9 MB, 11 make 4.29 MB (over 4 MiB).
    ddb.transact_write_items()
        .set_transact_items(Some(
            (0..10).map(|i| put(format!("ok{i}"), 390_000)).collect(),
        ))
        .send()
        .await
        .expect("3.9 MB");
    let too_big = ddb
        .transact_write_items()
        .set_transact_items(Some(
            (0..11).map(|i| put(format!("big{i}"), 390_000)).collect(),
        ))
        .send()
        .await
        .expect_err("4.29 MB")
        .into_service_error();
    let (code, message) = validation(&too_big);
    assert_eq!(code.as_deref(), Some("ValidationException"));
    assert!(
        message.starts_with("Transaction request cannot be larger than 4 MB"),
        "{message}"
    );
    let stored = ddb
        .get_item()
        .table_name(&name)
        .set_key(Some(item("big0", None)))
        .send()
        .await
        .expect("GetItem");
    assert!(
        stored.item().is_none(),
        "the refused transaction wrote nothing"
    );

    // One put over 400 KB by AWS's rules (a list of 103,000 short strings, as above).
    let list = AttributeValue::L(vec![AttributeValue::S("abc".to_owned()); 103_000]);
    let over = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&name)
                .set_item(Some(item("over", Some(("l", list)))))
                .build()
                .expect("put"),
        )
        .build();
    let err = ddb
        .transact_write_items()
        .transact_items(put("small".to_owned(), 1))
        .transact_items(over)
        .send()
        .await
        .expect_err("an item over 400 KB")
        .into_service_error();
    assert_eq!(
        validation(&err).1,
        "Item size has exceeded the maximum allowed size"
    );
    let stored = ddb
        .get_item()
        .table_name(&name)
        .set_key(Some(item("small", None)))
        .send()
        .await
        .expect("GetItem");
    assert!(
        stored.item().is_none(),
        "the refused transaction wrote nothing"
    );
}
