//! "Local matches template": provisions the real `template.yaml` on moto under a unique prefix
//! and reads every resource back through the SDK, comparing it with the template's model.
//!
//! Needs moto at `AWS_ENDPOINT_URL` (default `http://127.0.0.1:4566`); `make test` starts it.
//! Without it these tests fail, on purpose: a skipped proof is no proof.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types as ddb;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use local_aws::{
    local_sdk_config, provision, workspace_template_path, AttributeType, BillingMode, Clients,
    KeySchema, Model, Parameters, Projection, Provisioned, DEFAULT_ENDPOINT,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const APP_SECRET: &str = r#"{"app_secret":"a","verify_token":"v"}"#;
const ACCESS_SECRET: &str = r#"{"access_token":"t"}"#;

/// One value per secret: the webhook's and the sender's.
fn secrets(app: &str, access: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("MetaSecret".to_owned(), app.to_owned()),
        ("MetaAccessSecret".to_owned(), access.to_owned()),
        ("PrivacySecret".to_owned(), r#"{"hash_key":"k"}"#.to_owned()),
    ])
}

/// Clients for moto, after checking it answers; a clear failure otherwise.
async fn moto() -> Clients {
    let clients = Clients::new(&local_sdk_config().await);
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_owned());
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        clients.sqs.list_queues().send(),
    )
    .await;
    match probe {
        Ok(Ok(_)) => clients,
        Ok(Err(err)) => panic!(
            "moto is not reachable at {endpoint}: {}. Start it (`make test` does, or \
             `.venv/bin/moto_server -H 127.0.0.1 -p 4566`) or set AWS_ENDPOINT_URL.",
            DisplayErrorContext(&err)
        ),
        Err(_) => panic!("moto at {endpoint} did not answer within 15 s"),
    }
}

/// A prefix no other test run uses, so parallel tests can share one moto.
fn unique_parameters() -> Parameters {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let short = id.get(..12).unwrap_or(&id);
    Parameters::local().with("ResourcePrefix", format!("t{short}-"))
}

fn model(parameters: &Parameters) -> Model {
    Model::load(workspace_template_path(), parameters)
        .unwrap_or_else(|err| panic!("template.yaml does not load: {err}"))
}

fn key_pairs(keys: &KeySchema) -> Vec<(String, ddb::KeyType)> {
    let mut out = vec![(keys.hash.clone(), ddb::KeyType::Hash)];
    if let Some(range) = &keys.range {
        out.push((range.clone(), ddb::KeyType::Range));
    }
    out
}

fn described_keys(keys: &[ddb::KeySchemaElement]) -> Vec<(String, ddb::KeyType)> {
    keys.iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect()
}

async fn assert_tables_match(
    model: &Model,
    provisioned: &Provisioned,
    clients: &Clients,
) -> TestResult {
    for spec in &model.tables {
        let name = provisioned.table_name(&spec.logical_id)?;
        assert_eq!(name, spec.name);
        let table = clients
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await?
            .table
            .ok_or("DescribeTable returned no table")?;

        assert_eq!(
            described_keys(table.key_schema()),
            key_pairs(&spec.key_schema),
            "{name} keys"
        );

        let mut described: Vec<(String, ddb::ScalarAttributeType)> = table
            .attribute_definitions()
            .iter()
            .map(|d| (d.attribute_name().to_owned(), d.attribute_type().clone()))
            .collect();
        let mut expected: Vec<(String, ddb::ScalarAttributeType)> = spec
            .attribute_definitions
            .iter()
            .map(|d| {
                let t = match d.attribute_type {
                    AttributeType::String => ddb::ScalarAttributeType::S,
                    AttributeType::Number => ddb::ScalarAttributeType::N,
                    AttributeType::Binary => ddb::ScalarAttributeType::B,
                };
                (d.name.clone(), t)
            })
            .collect();
        described.sort_by(|a, b| a.0.cmp(&b.0));
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(described, expected, "{name} attribute definitions");

        let gsis = table.global_secondary_indexes();
        assert_eq!(gsis.len(), spec.gsis.len(), "{name} GSI count");
        for gsi in &spec.gsis {
            let found = gsis
                .iter()
                .find(|g| g.index_name() == Some(gsi.name.as_str()))
                .ok_or_else(|| format!("{name} has no GSI {}", gsi.name))?;
            assert_eq!(
                described_keys(found.key_schema()),
                key_pairs(&gsi.keys),
                "{} keys",
                gsi.name
            );
            let projection = found.projection().ok_or("GSI without projection")?;
            let (expected_type, expected_attrs) = match &gsi.projection {
                Projection::All => (ddb::ProjectionType::All, Vec::new()),
                Projection::KeysOnly => (ddb::ProjectionType::KeysOnly, Vec::new()),
                Projection::Include(attrs) => (ddb::ProjectionType::Include, attrs.clone()),
            };
            assert_eq!(
                projection.projection_type(),
                Some(&expected_type),
                "{} projection",
                gsi.name
            );
            assert_eq!(projection.non_key_attributes(), expected_attrs.as_slice());
        }

        let billing = table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .cloned();
        match spec.billing_mode {
            BillingMode::PayPerRequest => {
                assert_eq!(
                    billing,
                    Some(ddb::BillingMode::PayPerRequest),
                    "{name} billing"
                )
            }
            BillingMode::Provisioned(_) => {
                assert_ne!(billing, Some(ddb::BillingMode::PayPerRequest))
            }
        }

        let ttl = clients
            .dynamodb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await?;
        let ttl = ttl.time_to_live_description();
        match &spec.ttl_attribute {
            Some(attribute) => {
                assert_eq!(
                    ttl.and_then(|t| t.time_to_live_status()),
                    Some(&ddb::TimeToLiveStatus::Enabled),
                    "{name} TTL status"
                );
                assert_eq!(
                    ttl.and_then(|t| t.attribute_name()),
                    Some(attribute.as_str())
                );
            }
            None => assert_ne!(
                ttl.and_then(|t| t.time_to_live_status()),
                Some(&ddb::TimeToLiveStatus::Enabled)
            ),
        }
    }
    Ok(())
}

async fn queue_attributes(
    clients: &Clients,
    url: &str,
) -> Result<BTreeMap<String, String>, Box<dyn std::error::Error>> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await?;
    Ok(out
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect())
}

async fn assert_queues_match(
    model: &Model,
    provisioned: &Provisioned,
    clients: &Clients,
) -> TestResult {
    for spec in &model.queues {
        let url = provisioned.queue_url(&spec.logical_id)?;
        assert!(url.ends_with(&spec.name), "{url} names {}", spec.name);
        let attrs = queue_attributes(clients, url).await?;
        let attr = |k: &str| attrs.get(k).map(String::as_str);
        let name = &spec.name;

        assert_eq!(
            attr("QueueArn"),
            Some(provisioned.queue_arn(&spec.logical_id)?)
        );
        assert_eq!(
            attr("FifoQueue") == Some("true"),
            spec.fifo,
            "{name} FifoQueue"
        );
        if spec.fifo {
            assert_eq!(
                attr("ContentBasedDeduplication"),
                Some(spec.content_based_dedup.to_string().as_str()),
                "{name} ContentBasedDeduplication"
            );
            if let Some(scope) = &spec.deduplication_scope {
                assert_eq!(
                    attr("DeduplicationScope"),
                    Some(scope.as_str()),
                    "{name} DeduplicationScope"
                );
            }
            if let Some(limit) = &spec.fifo_throughput_limit {
                assert_eq!(
                    attr("FifoThroughputLimit"),
                    Some(limit.as_str()),
                    "{name} FifoThroughputLimit"
                );
            }
        }
        assert_eq!(
            attr("VisibilityTimeout"),
            Some(spec.visibility_timeout.as_secs().to_string().as_str()),
            "{name} VisibilityTimeout"
        );
        assert_eq!(
            attr("MessageRetentionPeriod"),
            Some(spec.retention.as_secs().to_string().as_str()),
            "{name} MessageRetentionPeriod"
        );
        if let Some(sse) = spec.sqs_managed_sse {
            assert_eq!(
                attr("SqsManagedSseEnabled"),
                Some(sse.to_string().as_str()),
                "{name} SqsManagedSseEnabled"
            );
        }
        match &spec.redrive {
            Some(redrive) => {
                let policy: serde_json::Value =
                    serde_json::from_str(attr("RedrivePolicy").ok_or("no RedrivePolicy")?)?;
                assert_eq!(
                    policy.get("deadLetterTargetArn").and_then(|v| v.as_str()),
                    Some(provisioned.queue_arn(&redrive.dlq_logical_id)?),
                    "{name} redrive target"
                );
                let count = policy.get("maxReceiveCount").and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                });
                assert_eq!(
                    count,
                    Some(u64::from(redrive.max_receive_count)),
                    "{name} maxReceiveCount"
                );
            }
            None => assert_eq!(attr("RedrivePolicy"), None, "{name} has no redrive"),
        }
    }
    Ok(())
}

async fn assert_secrets_match(
    model: &Model,
    provisioned: &Provisioned,
    clients: &Clients,
    values: &BTreeMap<String, String>,
) -> TestResult {
    assert_eq!(
        model.secrets.len(),
        values.len(),
        "one value per template secret"
    );
    for spec in &model.secrets {
        let value = values.get(&spec.logical_id).map(String::as_str);
        let id = provisioned.secret_id(&spec.logical_id)?;
        let described = clients
            .secrets
            .describe_secret()
            .secret_id(id)
            .send()
            .await?;
        assert_eq!(described.name(), Some(spec.name.as_str()));
        assert_eq!(described.arn(), Some(id));
        let stored = clients
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await?;
        assert_eq!(stored.secret_string(), value, "{} value", spec.name);
    }
    Ok(())
}

#[tokio::test]
async fn provisioned_resources_match_the_template() -> TestResult {
    let clients = moto().await;
    let model = model(&unique_parameters());

    let provisioned = provision(&model, &clients, &secrets(APP_SECRET, ACCESS_SECRET)).await?;

    assert_eq!(provisioned.table_names().len(), model.tables.len());
    assert_eq!(provisioned.queue_urls().len(), model.queues.len());
    assert_eq!(provisioned.secret_ids().len(), model.secrets.len());
    assert_tables_match(&model, &provisioned, &clients).await?;
    assert_queues_match(&model, &provisioned, &clients).await?;
    assert_secrets_match(
        &model,
        &provisioned,
        &clients,
        &secrets(APP_SECRET, ACCESS_SECRET),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn provisioning_twice_converges_on_the_same_resources() -> TestResult {
    let clients = moto().await;
    let model = model(&unique_parameters());

    let first = provision(&model, &clients, &secrets(APP_SECRET, ACCESS_SECRET)).await?;
    let second = provision(&model, &clients, &secrets(APP_SECRET, ACCESS_SECRET)).await?;

    assert_eq!(first, second);
    assert_tables_match(&model, &second, &clients).await?;
    assert_queues_match(&model, &second, &clients).await?;
    assert_secrets_match(
        &model,
        &second,
        &clients,
        &secrets(APP_SECRET, ACCESS_SECRET),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn provisioning_after_a_parameter_change_updates_queues_and_secret() -> TestResult {
    let clients = moto().await;
    let parameters = unique_parameters();
    provision(
        &model(&parameters),
        &clients,
        &secrets(APP_SECRET, ACCESS_SECRET),
    )
    .await?;

    let changed = model(&parameters.with("MaxReceiveCount", "2"));
    let rotated = secrets(
        r#"{"app_secret":"b","verify_token":"w"}"#,
        r#"{"access_token":"u"}"#,
    );
    let provisioned = provision(&changed, &clients, &rotated).await?;

    assert_queues_match(&changed, &provisioned, &clients).await?;
    assert_secrets_match(&changed, &provisioned, &clients, &rotated).await?;
    Ok(())
}

#[tokio::test]
async fn function_environments_point_at_the_provisioned_resources() -> TestResult {
    let clients = moto().await;
    let model = model(&unique_parameters());
    let provisioned = provision(&model, &clients, &secrets(APP_SECRET, ACCESS_SECRET)).await?;

    let webhook = model
        .function_by_binary("webhook")
        .ok_or("no webhook function")?;
    let env = provisioned.environment(webhook)?;
    assert_eq!(
        env.get("INBOUND_QUEUE_URL").map(String::as_str),
        Some(provisioned.queue_url("InboundQueue")?)
    );
    assert_eq!(
        env.get("SECRET_ID").map(String::as_str),
        Some(provisioned.secret_id("MetaSecret")?)
    );

    let sender = model
        .function_by_binary("sender")
        .ok_or("no sender function")?;
    let env = provisioned.environment(sender)?;
    assert_eq!(
        env.get("TABLE_NAME").map(String::as_str),
        Some(provisioned.table_name("StateTable")?)
    );
    assert_eq!(
        env.get("CRM_EVENTS_QUEUE_URL").map(String::as_str),
        Some(provisioned.queue_url("CrmEventsQueue")?)
    );
    assert_eq!(
        env.get("GRAPH_API_VERSION").map(String::as_str),
        Some("v25.0")
    );

    // Each function's secret id names its own secret and works with Secrets Manager as-is.
    assert_eq!(
        env.get("SECRET_ID").map(String::as_str),
        Some(provisioned.secret_id("MetaAccessSecret")?)
    );
    let webhook_env = provisioned.environment(webhook)?;
    for (env, value) in [(&env, ACCESS_SECRET), (&webhook_env, APP_SECRET)] {
        let id = env.get("SECRET_ID").ok_or("no SECRET_ID")?;
        let stored = clients
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await?;
        assert_eq!(stored.secret_string(), Some(value));
    }
    Ok(())
}

#[tokio::test]
async fn a_template_secret_without_a_local_value_is_an_error() -> TestResult {
    let clients = moto().await;
    let model = model(&unique_parameters());
    let only_one = BTreeMap::from([("MetaSecret".to_owned(), APP_SECRET.to_owned())]);
    let err = provision(&model, &clients, &only_one)
        .await
        .expect_err("MetaAccessSecret has no value");
    assert!(err.to_string().contains("MetaAccessSecret"), "{err}");
    Ok(())
}

#[tokio::test]
async fn an_unknown_logical_id_is_an_error_not_a_panic() -> TestResult {
    let clients = moto().await;
    let model = model(&unique_parameters());
    let provisioned = provision(&model, &clients, &secrets(APP_SECRET, ACCESS_SECRET)).await?;

    assert!(provisioned.queue_url("NoSuchQueue").is_err());
    assert!(provisioned.table_name("InboundQueue").is_err());
    assert!(provisioned.secret_id("StateTable").is_err());
    Ok(())
}
