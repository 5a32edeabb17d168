//! The local moto's fast paths (`infra/python/moto_local/{sqs,dynamodb}_speed.py`) answer as
//! moto's own code does: a partition Query returns exactly that partition, in key order, page
//! by page; queue attributes count visible, in-flight and delayed messages and report a FIFO
//! queue's flags. Each would fail if the shortcut dropped, leaked or miscounted an item.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

fn prefix() -> String {
    format!("s{}-", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("CreateTable");
}

async fn put(ddb: &aws_sdk_dynamodb::Client, name: &str, pk: &str, sk: &str) {
    ddb.put_item()
        .table_name(name)
        .item("pk", AttributeValue::S(pk.to_owned()))
        .item("sk", AttributeValue::S(sk.to_owned()))
        .send()
        .await
        .expect("PutItem");
}

/// Every sort key of partition `pk`, `limit` per page, following `LastEvaluatedKey`.
async fn query_all(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    pk: &str,
    limit: i32,
    forward: bool,
) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut pages = 0;
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = ddb
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .limit(limit)
            .scan_index_forward(forward)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Query");
        pages += 1;
        for item in out.items() {
            assert_eq!(item.get("pk"), Some(&AttributeValue::S(pk.to_owned())));
            if let Some(AttributeValue::S(sk)) = item.get("sk") {
                keys.push(sk.clone());
            }
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return (keys, pages),
        }
    }
}

#[tokio::test]
async fn a_partition_query_returns_that_partition_in_key_order_page_by_page() {
    let ddb = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);
    let name = format!("{}items", prefix());
    table(&ddb, &name).await;
    for sk in ["c", "a", "e", "b", "d"] {
        put(&ddb, &name, "mine", sk).await;
    }
    for (pk, sk) in [("other", "a"), ("minex", "a"), ("min", "z")] {
        put(&ddb, &name, pk, sk).await;
    }

    let (forward, pages) = query_all(&ddb, &name, "mine", 2, true).await;
    let (backward, _) = query_all(&ddb, &name, "mine", 10, false).await;
    let (none, _) = query_all(&ddb, &name, "nobody", 10, true).await;

    assert_eq!(forward, ["a", "b", "c", "d", "e"]);
    assert!(pages >= 3, "Limit 2 pages through 5 items ({pages} pages)");
    assert_eq!(backward, ["e", "d", "c", "b", "a"]);
    assert!(none.is_empty());
}

async fn counts(sqs: &aws_sdk_sqs::Client, url: &str) -> HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn queue_attributes_count_visible_in_flight_and_delayed_messages() {
    let sqs = e2e_tests::sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(format!("{}q", prefix()))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    for i in 0..3 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .expect("SendMessage");
    }
    sqs.send_message()
        .queue_url(&url)
        .message_body("later")
        .delay_seconds(60)
        .send()
        .await
        .expect("SendMessage");
    sqs.receive_message()
        .queue_url(&url)
        .max_number_of_messages(1)
        .visibility_timeout(60)
        .send()
        .await
        .expect("ReceiveMessage");

    let a = counts(&sqs, &url).await;

    let get = |n: QueueAttributeName| a.get(&n).map(String::as_str);
    assert_eq!(
        get(QueueAttributeName::ApproximateNumberOfMessages),
        Some("2")
    );
    assert_eq!(
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        Some("1")
    );
    assert_eq!(
        get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        Some("1")
    );
    assert_eq!(get(QueueAttributeName::FifoQueue), None, "a standard queue");
}

#[tokio::test]
async fn a_fifo_queue_reports_its_flags_and_deduplicates_by_content_when_asked() {
    let sqs = e2e_tests::sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(format!("{}q.fifo", prefix()))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&url)
            .message_body("same body")
            .message_group_id("g")
            .send()
            .await
            .expect("SendMessage");
    }

    let a = counts(&sqs, &url).await;

    let get = |n: QueueAttributeName| a.get(&n).map(String::as_str);
    assert_eq!(get(QueueAttributeName::FifoQueue), Some("true"));
    assert_eq!(
        get(QueueAttributeName::ContentBasedDeduplication),
        Some("true")
    );
    assert_eq!(
        get(QueueAttributeName::ApproximateNumberOfMessages),
        Some("1"),
        "the second send had the same content: deduplicated"
    );
}
