//! The local AWS runs DynamoDB in a moto of its own (`infra/scripts/moto.sh`): clients from
//! [`local_sdk_config`] must reach DynamoDB at `AWS_ENDPOINT_URL_DYNAMODB` and SQS at
//! `AWS_ENDPOINT_URL`, or the stack would provision tables where its functions never look.
//!
//! Needs the local AWS that `make test` (`with-moto.sh`) starts; fails without it.

use aws_sdk_dynamodb::types as ddb;
use local_aws::local_sdk_config;

fn required(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: run through infra/scripts/with-moto.sh"))
}

/// A DynamoDB client pinned to one endpoint (set in code, so no environment variable wins).
async fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&local_sdk_config().await)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

async fn table_names(client: &aws_sdk_dynamodb::Client) -> Vec<String> {
    // Every page: ListTables answers at most 100 names, and the suite's stacks make more.
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .expect("ListTables");
        names.extend(page.table_names().iter().cloned());
        match page.last_evaluated_table_name() {
            Some(last) => start = Some(last.to_owned()),
            None => return names,
        }
    }
}

#[tokio::test]
async fn dynamodb_calls_go_to_the_dynamodb_moto_and_sqs_calls_to_the_shared_one() {
    let shared = required("AWS_ENDPOINT_URL");
    let dynamodb = required("AWS_ENDPOINT_URL_DYNAMODB");
    assert_ne!(shared, dynamodb, "the two services have separate motos");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("e{}", id.get(..12).unwrap_or(&id));
    let config = local_sdk_config().await;

    aws_sdk_dynamodb::Client::new(&config)
        .create_table()
        .table_name(&name)
        .billing_mode(ddb::BillingMode::PayPerRequest)
        .attribute_definitions(
            ddb::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ddb::ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            ddb::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(ddb::KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("CreateTable");
    let queue = aws_sdk_sqs::Client::new(&config)
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("CreateQueue");

    assert!(table_names(&dynamodb_at(&dynamodb).await)
        .await
        .contains(&name));
    assert!(!table_names(&dynamodb_at(&shared).await)
        .await
        .contains(&name));
    let queue_url = queue.queue_url().unwrap_or_default();
    assert!(
        queue_url.starts_with(shared.trim_end_matches('/')),
        "{queue_url} is served by {shared}"
    );
}
