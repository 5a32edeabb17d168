//! `run_once` against DynamoDB and SQS on the local emulator (moto at `AWS_ENDPOINT_URL`,
//! provisioned from `template.yaml` under a unique prefix): the `due-index` query reads only what
//! is due, and concurrent runs still publish each alert once. Needs moto: fails if it is absent.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::{contact, contact_id, opened, T0};
use futures::stream::{self, StreamExt};
use local_aws::{Clients, Parameters, Provisioned, Template};
use shared::store::dynamo::to_attr;
use window_alerts::{run_once, Config, LiveState};

const HOUR: i64 = 3600;

struct Local {
    sdk: aws_config::SdkConfig,
    provisioned: Provisioned,
}

impl Local {
    async fn start() -> Self {
        let sdk = local_aws::local_sdk_config().await;
        let prefix = format!("wa{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let model = Template::load(local_aws::workspace_template_path())
            .expect("template.yaml")
            .model(&Parameters::local().with("ResourcePrefix", prefix))
            .expect("template model");
        let provisioned = local_aws::provision(
            &model,
            &Clients::new(&sdk),
            &local_aws::one_value_for_each_secret(&model, "{}"),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("moto is needed at AWS_ENDPOINT_URL (`make test` starts it): {e:?}")
        });
        Self { sdk, provisioned }
    }

    fn table(&self) -> String {
        self.provisioned
            .table_name("StateTable")
            .unwrap()
            .to_owned()
    }

    fn queue(&self) -> String {
        self.provisioned
            .queue_url("CrmEventsQueue")
            .unwrap()
            .to_owned()
    }

    fn state(&self) -> LiveState {
        LiveState::live(
            Config {
                table_name: self.table(),
                crm_events_queue_url: self.queue(),
                ..Config::default()
            },
            &self.sdk,
        )
    }

    /// Writes items 25 at a time, 16 requests at once (seeding, not the code under test).
    async fn put_all(&self, items: Vec<HashMap<String, AttributeValue>>) {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let table = self.table();
        let chunks: Vec<Vec<_>> = items.chunks(25).map(<[_]>::to_vec).collect();
        stream::iter(chunks)
            .for_each_concurrent(16, |chunk| {
                let client = client.clone();
                let table = table.clone();
                async move {
                    let mut pending: Vec<WriteRequest> = chunk
                        .into_iter()
                        .map(|item| {
                            WriteRequest::builder()
                                .put_request(
                                    PutRequest::builder().set_item(Some(item)).build().unwrap(),
                                )
                                .build()
                        })
                        .collect();
                    while !pending.is_empty() {
                        let out = client
                            .batch_write_item()
                            .request_items(&table, pending)
                            .send()
                            .await
                            .expect("BatchWriteItem");
                        pending = out
                            .unprocessed_items()
                            .and_then(|u| u.get(&table))
                            .cloned()
                            .unwrap_or_default();
                    }
                }
            })
            .await;
    }

    async fn depth(&self) -> usize {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let attr = aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages;
        sqs.get_queue_attributes()
            .queue_url(self.queue())
            .attribute_names(attr.clone())
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes()
            .and_then(|a| a.get(&attr))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn item(pk: String, sk: &str, record: &impl serde::Serialize) -> HashMap<String, AttributeValue> {
    let serde_json::Value::Object(fields) = serde_json::to_value(record).unwrap() else {
        unreachable!("records are objects")
    };
    let mut item: HashMap<String, AttributeValue> = fields
        .iter()
        .map(|(k, v)| (k.clone(), to_attr(v)))
        .collect();
    item.insert("pk".into(), AttributeValue::S(pk));
    item.insert("sk".into(), AttributeValue::S(sk.into()));
    item.insert("ver".into(), AttributeValue::N("1".into()));
    item
}

/// Contact `n` and its conversation, opened by a message at `inbound_at`.
fn window_items(n: usize, inbound_at: i64) -> Vec<HashMap<String, AttributeValue>> {
    let pk = shared::store::keys::contact_pk(common::BUSINESS, &contact_id(n));
    vec![
        item(pk.clone(), "PROFILE", &contact(n)),
        item(pk, "CONVERSATION", &opened(n, inbound_at)),
    ]
}

#[tokio::test]
async fn a_run_over_10_000_conversations_reads_only_the_5_that_are_due() {
    let local = Local::start().await;
    let mut items = Vec::new();
    for n in 0..10_000 {
        if n % 2000 == 0 {
            items.extend(window_items(n, T0 - 23 * HOUR - 30 * MIN));
        } else {
            // Open windows whose first alert is hours away, plus some never armed at all.
            let mut record = opened(n, T0 - (n as i64 % 20) * HOUR);
            if n % 7 == 0 {
                record.due_bucket = None;
                record.due_at = None;
            }
            let pk = shared::store::keys::contact_pk(common::BUSINESS, &contact_id(n));
            items.push(item(pk, "CONVERSATION", &record));
        }
    }
    local.put_all(items).await;
    let state = local.state();

    let report = run_once(&state, T0 * 1000).await.expect("run");
    println!("10,000 conversations, 5 due: {report:?}");
    assert_eq!(report.index_items_read, 5, "{report:?}");
    assert_eq!(report.windows_read, 5, "{report:?}");
    assert_eq!((report.expiring, report.failed), (5, 0), "{report:?}");
    assert_eq!(local.depth().await, 5);

    let again = run_once(&state, T0 * 1000 + 1000).await.expect("run");
    assert_eq!(again.index_items_read, 0, "re-armed past now: {again:?}");
    assert_eq!(local.depth().await, 5);
}

#[tokio::test]
async fn concurrent_runs_on_dynamodb_publish_each_alert_once() {
    let local = Local::start().await;
    let mut items = Vec::new();
    for n in 0..12 {
        items.extend(window_items(n, T0 - 24 * HOUR - 10 * MIN));
    }
    local.put_all(items).await;
    let (a, b) = (local.state(), local.state());
    let (ra, rb) = tokio::join!(run_once(&a, T0 * 1000), run_once(&b, T0 * 1000));
    let (ra, rb) = (ra.expect("run a"), rb.expect("run b"));
    assert_eq!(ra.expired + rb.expired, 12, "{ra:?} {rb:?}");
    assert_eq!(ra.expiring + rb.expiring, 0);
    assert_eq!(ra.failed + rb.failed, 0, "{ra:?} {rb:?}");
    assert_eq!(local.depth().await, 12);
    let later = run_once(&a, (T0 + HOUR) * 1000).await.expect("run");
    assert_eq!(later.index_items_read, 0, "{later:?}");
}

const MIN: i64 = 60;
