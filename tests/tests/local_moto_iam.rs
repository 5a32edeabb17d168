//! The local IAM evaluator (infra/python/moto_local/iam.py) on its own: sessions registered with
//! hand-written policies, calls made with the SDK, answers checked against AWS's.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem, Update,
};
use local_aws::iam::{local_endpoints, register, RoleSpec, SessionCredentials};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";

struct World {
    prefix: String,
    table: String,
    queue_url: String,
    admin: aws_config::SdkConfig,
}

impl World {
    /// A table (pk/sk) and a standard queue under a fresh prefix, made by the administrator.
    async fn new() -> Self {
        let admin = local_aws::local_sdk_config().await;
        let prefix = format!("i{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let table = format!("{prefix}table");
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key")
        };
        aws_sdk_dynamodb::Client::new(&admin)
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send()
            .await
            .expect("the administrator creates a table");
        let queue_url = aws_sdk_sqs::Client::new(&admin)
            .create_queue()
            .queue_name(format!("{prefix}queue"))
            .send()
            .await
            .expect("the administrator creates a queue")
            .queue_url
            .expect("queue url");
        Self {
            prefix,
            table,
            queue_url,
            admin,
        }
    }

    fn table_arn(&self) -> String {
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{}", self.table)
    }

    fn queue_arn(&self) -> String {
        format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}queue", self.prefix)
    }

    /// A session with `statements` registered with every local moto; its SDK configuration.
    async fn session(&self, statements: Value) -> aws_config::SdkConfig {
        let role = RoleSpec {
            function_logical_id: "Fn".into(),
            binary: "fn".into(),
            role_logical_id: "FnRole".into(),
            policies: vec![json!({ "Statement": statements })],
            managed_policy_arns: vec![],
        };
        let credentials = SessionCredentials::generate();
        register(
            &local_endpoints(),
            &format!("{}FnRole", self.prefix),
            &role,
            &credentials,
        )
        .await
        .expect("the session registers");
        let provider = aws_sdk_dynamodb::config::Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            None,
            "test",
        );
        self.admin
            .to_builder()
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build()
    }
}

fn item(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S("x".to_owned())),
    ])
}

/// The moto that serves SQS (`with-moto.sh` and `make test` set it).
fn sqs_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL points at the local AWS")
}

fn code<E: ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("(no code)").to_owned()
}

#[tokio::test]
async fn an_explicit_deny_wins_over_an_allow() {
    let w = World::new().await;
    let sdk = w
        .session(json!([
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": w.table_arn()},
            {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"},
        ]))
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let err = ddb
        .put_item()
        .table_name(&w.table)
        .set_item(Some(item("a")))
        .send()
        .await
        .expect_err("denied explicitly");
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(
        err.message()
            .unwrap_or_default()
            .ends_with("with an explicit deny in an identity-based policy"),
        "{err:?}"
    );
    ddb.get_item()
        .table_name(&w.table)
        .set_key(Some(item("a")))
        .send()
        .await
        .expect("GetItem is allowed by dynamodb:*");
}

#[tokio::test]
async fn actions_match_case_insensitively_and_resources_exactly() {
    let w = World::new().await;
    let sdk = w
        .session(json!([
            {"Effect": "Allow", "Action": "DYNAMODB:getitem", "Resource": w.table_arn()},
        ]))
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    ddb.get_item()
        .table_name(&w.table)
        .set_key(Some(item("a")))
        .send()
        .await
        .expect("the action matches whatever its case");
    let other = format!("{}other", w.prefix);
    let err = ddb
        .get_item()
        .table_name(&other)
        .set_key(Some(item("a")))
        .send()
        .await
        .expect_err("another table");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");
}

#[tokio::test]
async fn a_query_on_an_index_needs_a_grant_on_the_index() {
    let w = World::new().await;
    let sdk = w
        .session(json!([
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": w.table_arn()},
        ]))
        .await;
    let err = aws_sdk_dynamodb::Client::new(&sdk)
        .query()
        .table_name(&w.table)
        .index_name("due-index")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S("a".into()))
        .send()
        .await
        .expect_err("the table's grant does not cover its index");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains(&format!("{}/index/due-index", w.table_arn())),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_transaction_needs_the_action_of_each_of_its_items() {
    let w = World::new().await;
    let sdk = w
        .session(json!([
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": w.table_arn()},
        ]))
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let put = |pk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&w.table)
                    .set_item(Some(item(pk)))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    ddb.transact_write_items()
        .transact_items(put("a"))
        .transact_items(put("b"))
        .send()
        .await
        .expect("PutItem covers a transaction of puts");
    let update = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(&w.table)
                .set_key(Some(item("a")))
                .update_expression("SET v = :v")
                .expression_attribute_values(":v", AttributeValue::N("1".into()))
                .build()
                .expect("update"),
        )
        .build();
    let err = ddb
        .transact_write_items()
        .transact_items(put("c"))
        .transact_items(update)
        .send()
        .await
        .expect_err("the update item needs dynamodb:UpdateItem");
    assert_eq!(code(&err), "AccessDeniedException", "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("perform: dynamodb:UpdateItem on resource"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_sqs_batch_needs_the_single_action_and_is_denied_in_sqs_s_shape() {
    let w = World::new().await;
    let sdk = w
        .session(json!([
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": w.queue_arn()},
        ]))
        .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    sqs.send_message_batch()
        .queue_url(&w.queue_url)
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("1")
                .message_body("x")
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect("sqs:SendMessage covers SendMessageBatch");
    let err = sqs
        .receive_message()
        .queue_url(&w.queue_url)
        .send()
        .await
        .expect_err("no sqs:ReceiveMessage");
    assert_eq!(code(&err), "AccessDenied", "{err:?}");
    assert!(
        err.message().unwrap_or_default().contains(&format!(
            "is not authorized to perform: sqs:receivemessage on resource: {}",
            w.queue_arn()
        )),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_same_session_is_valid_on_both_local_aws_processes() {
    let w = World::new().await;
    let sdk = w
        .session(json!([
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": w.table_arn()},
            {"Effect": "Allow", "Action": "sqs:GetQueueAttributes", "Resource": w.queue_arn()},
        ]))
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&w.table)
        .set_key(Some(item("a")))
        .send()
        .await
        .expect("DynamoDB's moto knows the session");
    aws_sdk_sqs::Client::new(&sdk)
        .get_queue_attributes()
        .queue_url(&w.queue_url)
        .send()
        .await
        .expect("SQS's moto knows the session");
}

#[tokio::test]
async fn policies_the_evaluator_cannot_apply_are_refused_at_registration() {
    let client = reqwest::Client::new();
    let endpoint = sqs_endpoint();
    let session = |policies: Value, managed: Value| {
        json!({
            "role_name": "r", "session_name": "s", "access_key_id": "ASIAREFUSEDREFUSED00",
            "secret_access_key": "x", "session_token": "t",
            "policies": policies, "managed_policy_arns": managed,
        })
    };
    let with_condition = json!([{"Statement": [{"Effect": "Allow", "Action": "sqs:*",
        "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}]);
    let not_action = json!([{"Statement": [{"Effect": "Allow", "NotAction": "sqs:*",
        "Resource": "*"}]}]);
    for body in [
        session(with_condition, json!([])),
        session(not_action, json!([])),
        session(json!([]), json!(["arn:aws:iam::aws:policy/NoSuchPolicy"])),
    ] {
        let res = client
            .post(format!("{endpoint}/_local/iam/sessions"))
            .json(&body)
            .send()
            .await
            .expect("moto answers");
        assert_eq!(res.status().as_u16(), 400, "{body}");
    }
}

#[tokio::test]
async fn an_unsigned_request_is_refused() {
    let endpoint = sqs_endpoint();
    let res = reqwest::Client::new()
        .post(&endpoint)
        .header("x-amz-target", "AmazonSQS.ListQueues")
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}")
        .send()
        .await
        .expect("moto answers");
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(
        res.headers()
            .get("x-amzn-query-error")
            .and_then(|v| v.to_str().ok()),
        Some("MissingAuthenticationToken;Sender")
    );
}
