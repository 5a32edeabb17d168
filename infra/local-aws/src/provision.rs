//! Creates the model's tables, queues, secrets, KMS keys and buckets on the emulator, idempotently: running it
//! again against the same emulator converges instead of failing.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types as ddb;
use aws_sdk_sqs::types::QueueAttributeName;
use tracing::info;

use crate::error::{LookupError, ProvisionError, ResourceKind};
use crate::model::{
    AttributeType, BillingMode, BucketSpec, EnvValue, FunctionSpec, KeySchema, KeySpec, Model,
    Projection, QueueSpec, SecretSpec, TableSpec, Throughput,
};

/// Where the emulator listens when `AWS_ENDPOINT_URL` is not set (`make run` starts moto here).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";

/// How long to wait for a new table to become ACTIVE (moto: immediately).
const TABLE_ACTIVE_POLLS: u32 = 120;
const TABLE_ACTIVE_INTERVAL: Duration = Duration::from_millis(250);

/// The SDK clients provisioning uses, built once from the caller's configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            s3: local_s3(config),
        }
    }
}

/// An S3 client for the local emulator: path-style (`http://host/bucket/key`), since a local
/// endpoint has no per-bucket host names.
pub fn local_s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// SDK configuration for the local emulator: the environment wins, and what it leaves unset
/// falls back to moto's conventions (endpoint [`DEFAULT_ENDPOINT`], region `us-east-1`,
/// credentials `test`/`test`), so nothing local can reach a real AWS account by accident.
///
/// Service endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, `_SQS`, `_SECRETS_MANAGER`: `make run` and
/// `with-moto.sh` give DynamoDB a moto of its own) win over `AWS_ENDPOINT_URL`; the SDK consults
/// them only when the shared endpoint was not set in code, so the default is set on the built
/// configuration, where it is the fallback.
pub async fn local_sdk_config() -> aws_config::SdkConfig {
    let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = non_empty("AWS_REGION")
        .or_else(|| non_empty("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region));
    if non_empty("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "local-aws",
        ));
    }
    let config = loader.load().await;
    if config.endpoint_url().is_some() {
        return config;
    }
    let mut builder = config.into_builder();
    builder.set_endpoint_url(Some(DEFAULT_ENDPOINT.to_owned()));
    builder.build()
}

/// What provisioning created, keyed by logical id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioned {
    tables: BTreeMap<String, TableHandle>,
    queues: BTreeMap<String, QueueHandle>,
    secrets: BTreeMap<String, SecretHandle>,
    keys: BTreeMap<String, KeyHandle>,
    buckets: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyHandle {
    id: String,
    arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TableHandle {
    name: String,
    arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct QueueHandle {
    name: String,
    url: String,
    arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SecretHandle {
    name: String,
    arn: String,
}

impl Provisioned {
    pub fn table_name(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.tables, ResourceKind::Table, logical_id).map(|t| t.name.as_str())
    }

    pub fn queue_url(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.queues, ResourceKind::Queue, logical_id).map(|q| q.url.as_str())
    }

    pub fn queue_arn(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.queues, ResourceKind::Queue, logical_id).map(|q| q.arn.as_str())
    }

    /// The secret's ARN, which is what `!Ref` gives the deployed functions as `SECRET_ID`.
    pub fn secret_id(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.secrets, ResourceKind::Secret, logical_id).map(|s| s.arn.as_str())
    }

    /// The secret's name (the part of the ARN a person recognises).
    pub fn secret_name(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.secrets, ResourceKind::Secret, logical_id).map(|s| s.name.as_str())
    }

    /// The bucket's name, which is what `!Ref` gives the deployed functions as `DATA_BUCKET`.
    pub fn bucket_name(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.buckets, ResourceKind::Bucket, logical_id).map(String::as_str)
    }

    /// The KMS key's ARN.
    pub fn key_arn(&self, logical_id: &str) -> Result<&str, LookupError> {
        lookup(&self.keys, ResourceKind::Key, logical_id).map(|k| k.arn.as_str())
    }

    /// Table names by logical id.
    pub fn table_names(&self) -> BTreeMap<&str, &str> {
        self.tables
            .iter()
            .map(|(id, t)| (id.as_str(), t.name.as_str()))
            .collect()
    }

    /// Queue URLs by logical id.
    pub fn queue_urls(&self) -> BTreeMap<&str, &str> {
        self.queues
            .iter()
            .map(|(id, q)| (id.as_str(), q.url.as_str()))
            .collect()
    }

    /// Secret ARNs by logical id.
    pub fn secret_ids(&self) -> BTreeMap<&str, &str> {
        self.secrets
            .iter()
            .map(|(id, s)| (id.as_str(), s.arn.as_str()))
            .collect()
    }

    /// The function's environment with references resolved the way CloudFormation would:
    /// `Ref` gives a queue's URL, a table's name, a secret's ARN.
    pub fn environment(
        &self,
        function: &FunctionSpec,
    ) -> Result<BTreeMap<String, String>, LookupError> {
        function
            .environment
            .iter()
            .map(|(name, value)| Ok((name.clone(), self.resolve(value)?)))
            .collect()
    }

    /// A reference resolved the way CloudFormation would: `Ref` gives a queue's URL, a table's
    /// name, a secret's ARN, a bucket's name, a key's id; `GetAtt` a queue's
    /// `Arn`/`QueueName`/`QueueUrl`, a table's, bucket's or key's `Arn`, a key's `KeyId`.
    pub fn resolve(&self, value: &EnvValue) -> Result<String, LookupError> {
        match value {
            EnvValue::Literal(s) => Ok(s.clone()),
            EnvValue::Ref(id) => {
                if let Some(q) = self.queues.get(id) {
                    Ok(q.url.clone())
                } else if let Some(t) = self.tables.get(id) {
                    Ok(t.name.clone())
                } else if let Some(s) = self.secrets.get(id) {
                    Ok(s.arn.clone())
                } else if let Some(b) = self.buckets.get(id) {
                    Ok(b.clone())
                } else if let Some(k) = self.keys.get(id) {
                    Ok(k.id.clone())
                } else {
                    Err(LookupError::UnknownResource {
                        logical_id: id.clone(),
                    })
                }
            }
            EnvValue::GetAtt {
                logical_id,
                attribute,
            } => {
                let unsupported = || LookupError::UnsupportedAttribute {
                    logical_id: logical_id.clone(),
                    attribute: attribute.clone(),
                };
                if let Some(q) = self.queues.get(logical_id) {
                    match attribute.as_str() {
                        "Arn" => Ok(q.arn.clone()),
                        "QueueName" => Ok(q.name.clone()),
                        "QueueUrl" => Ok(q.url.clone()),
                        _ => Err(unsupported()),
                    }
                } else if let Some(t) = self.tables.get(logical_id) {
                    match attribute.as_str() {
                        "Arn" => t.arn.clone().ok_or_else(unsupported),
                        _ => Err(unsupported()),
                    }
                } else if let Some(s) = self.secrets.get(logical_id) {
                    match attribute.as_str() {
                        "Id" => Ok(s.arn.clone()),
                        _ => Err(unsupported()),
                    }
                } else if let Some(b) = self.buckets.get(logical_id) {
                    match attribute.as_str() {
                        "Arn" => Ok(format!("arn:aws:s3:::{b}")),
                        _ => Err(unsupported()),
                    }
                } else if let Some(k) = self.keys.get(logical_id) {
                    match attribute.as_str() {
                        "Arn" => Ok(k.arn.clone()),
                        "KeyId" => Ok(k.id.clone()),
                        _ => Err(unsupported()),
                    }
                } else {
                    Err(LookupError::UnknownResource {
                        logical_id: logical_id.clone(),
                    })
                }
            }
        }
    }
}

fn lookup<'a, T>(
    map: &'a BTreeMap<String, T>,
    kind: ResourceKind,
    logical_id: &str,
) -> Result<&'a T, LookupError> {
    map.get(logical_id)
        .ok_or_else(|| LookupError::NotProvisioned {
            kind,
            logical_id: logical_id.to_owned(),
        })
}

/// Creates (or converges) every table, queue and secret of `model`. Each secret gets its own
/// value from `secret_values` (by logical id: `MetaSecret`, `MetaAccessSecret`); a secret without
/// one is an error, so no function starts with a value meant for another. Dead-letter queues are
/// created before the queues that redrive to them.
pub async fn provision(
    model: &Model,
    clients: &Clients,
    secret_values: &BTreeMap<String, String>,
) -> Result<Provisioned, ProvisionError> {
    if let Some(spec) = model
        .secrets
        .iter()
        .find(|s| !secret_values.contains_key(&s.logical_id))
    {
        return Err(ProvisionError::NoSecretValue {
            logical_id: spec.logical_id.clone(),
        });
    }
    let mut provisioned = Provisioned::default();
    for spec in &model.tables {
        let handle = provision_table(&clients.dynamodb, spec).await?;
        provisioned.tables.insert(spec.logical_id.clone(), handle);
    }
    for spec in queues_in_dependency_order(model)? {
        let dlq_arn = match &spec.redrive {
            Some(r) => Some(provisioned.queue_arn(&r.dlq_logical_id)?.to_owned()),
            None => None,
        };
        let handle = provision_queue(&clients.sqs, spec, dlq_arn.as_deref()).await?;
        provisioned.queues.insert(spec.logical_id.clone(), handle);
    }
    for spec in &model.secrets {
        let value = secret_values
            .get(&spec.logical_id)
            .map(String::as_str)
            .unwrap_or_default();
        let handle = provision_secret(&clients.secrets, spec, value).await?;
        provisioned.secrets.insert(spec.logical_id.clone(), handle);
    }
    let prefix = model
        .parameters
        .get("ResourcePrefix")
        .map(String::as_str)
        .unwrap_or_default();
    for spec in &model.keys {
        let handle = provision_key(&clients.kms, spec, prefix).await?;
        provisioned.keys.insert(spec.logical_id.clone(), handle);
    }
    for spec in &model.buckets {
        let key_arn = match &spec.kms_key_logical_id {
            Some(key) => Some(provisioned.key_arn(key)?.to_owned()),
            None => None,
        };
        provision_bucket(&clients.s3, spec, key_arn.as_deref()).await?;
        provisioned
            .buckets
            .insert(spec.logical_id.clone(), spec.name.clone());
    }
    Ok(provisioned)
}

/// `value` for every secret of `model`: for tests whose functions read no secret.
pub fn one_value_for_each_secret(model: &Model, value: &str) -> BTreeMap<String, String> {
    model
        .secrets
        .iter()
        .map(|s| (s.logical_id.clone(), value.to_owned()))
        .collect()
}

/// Queues whose redrive target is already placed come first; a cycle or a dangling target
/// (both rejected by model validation) surfaces as a lookup error.
fn queues_in_dependency_order(model: &Model) -> Result<Vec<&QueueSpec>, LookupError> {
    let mut ordered: Vec<&QueueSpec> = Vec::with_capacity(model.queues.len());
    let mut pending: Vec<&QueueSpec> = model.queues.iter().collect();
    while !pending.is_empty() {
        let (ready, blocked): (Vec<&QueueSpec>, Vec<&QueueSpec>) =
            pending.into_iter().partition(|q| match &q.redrive {
                None => true,
                Some(r) => ordered.iter().any(|o| o.logical_id == r.dlq_logical_id),
            });
        if ready.is_empty() {
            let stuck = blocked
                .first()
                .and_then(|q| q.redrive.as_ref())
                .map(|r| r.dlq_logical_id.clone())
                .unwrap_or_default();
            return Err(LookupError::NotProvisioned {
                kind: ResourceKind::Queue,
                logical_id: stuck,
            });
        }
        ordered.extend(ready);
        pending = blocked;
    }
    Ok(ordered)
}

async fn provision_table(
    db: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
) -> Result<TableHandle, ProvisionError> {
    let name = spec.name.as_str();
    let mut request = db
        .create_table()
        .table_name(name)
        .set_key_schema(Some(key_schema(&spec.key_schema, name)?));
    for def in &spec.attribute_definitions {
        let attribute_type = match def.attribute_type {
            AttributeType::String => ddb::ScalarAttributeType::S,
            AttributeType::Number => ddb::ScalarAttributeType::N,
            AttributeType::Binary => ddb::ScalarAttributeType::B,
        };
        request = request.attribute_definitions(
            ddb::AttributeDefinition::builder()
                .attribute_name(&def.name)
                .attribute_type(attribute_type)
                .build()
                .map_err(ProvisionError::build("CreateTable", name))?,
        );
    }
    request = match spec.billing_mode {
        BillingMode::PayPerRequest => request.billing_mode(ddb::BillingMode::PayPerRequest),
        BillingMode::Provisioned(t) => request
            .billing_mode(ddb::BillingMode::Provisioned)
            .provisioned_throughput(throughput(t, name)?),
    };
    for gsi in &spec.gsis {
        let projection = match &gsi.projection {
            Projection::All => ddb::Projection::builder().projection_type(ddb::ProjectionType::All),
            Projection::KeysOnly => {
                ddb::Projection::builder().projection_type(ddb::ProjectionType::KeysOnly)
            }
            Projection::Include(attrs) => ddb::Projection::builder()
                .projection_type(ddb::ProjectionType::Include)
                .set_non_key_attributes(Some(attrs.clone())),
        }
        .build();
        let mut index = ddb::GlobalSecondaryIndex::builder()
            .index_name(&gsi.name)
            .set_key_schema(Some(key_schema(&gsi.keys, name)?))
            .projection(projection);
        if let Some(t) = gsi.throughput {
            index = index.provisioned_throughput(throughput(t, name)?);
        }
        request = request.global_secondary_indexes(
            index
                .build()
                .map_err(ProvisionError::build("CreateTable", name))?,
        );
    }

    match request.send().await {
        Ok(_) => info!(table = name, "created table"),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            info!(table = name, "table exists")
        }
        Err(err) => return Err(ProvisionError::aws("CreateTable", name)(err)),
    }

    let table = wait_until_active(db, name).await?;
    check_same_shape(&table, spec)?;
    if let Some(attribute) = &spec.ttl_attribute {
        enable_ttl(db, name, attribute).await?;
    }
    Ok(TableHandle {
        name: name.to_owned(),
        arn: table.table_arn().map(str::to_owned),
    })
}

fn key_schema(keys: &KeySchema, table: &str) -> Result<Vec<ddb::KeySchemaElement>, ProvisionError> {
    let element = |name: &str, key_type| {
        ddb::KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(ProvisionError::build("CreateTable", table))
    };
    let mut out = vec![element(&keys.hash, ddb::KeyType::Hash)?];
    if let Some(range) = &keys.range {
        out.push(element(range, ddb::KeyType::Range)?);
    }
    Ok(out)
}

fn throughput(t: Throughput, table: &str) -> Result<ddb::ProvisionedThroughput, ProvisionError> {
    ddb::ProvisionedThroughput::builder()
        .read_capacity_units(t.read_capacity_units)
        .write_capacity_units(t.write_capacity_units)
        .build()
        .map_err(ProvisionError::build("CreateTable", table))
}

async fn wait_until_active(
    db: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<ddb::TableDescription, ProvisionError> {
    for _ in 0..TABLE_ACTIVE_POLLS {
        let out = db
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(ProvisionError::aws("DescribeTable", name))?;
        let table = out.table.ok_or_else(|| ProvisionError::MissingInResponse {
            operation: "DescribeTable",
            resource: name.to_owned(),
            field: "Table",
        })?;
        if table.table_status() == Some(&ddb::TableStatus::Active) {
            return Ok(table);
        }
        tokio::time::sleep(TABLE_ACTIVE_INTERVAL).await;
    }
    Err(ProvisionError::TableNotActive {
        table: name.to_owned(),
    })
}

/// An existing table with other keys or indexes would make local behaviour differ silently.
fn check_same_shape(table: &ddb::TableDescription, spec: &TableSpec) -> Result<(), ProvisionError> {
    let key_of = |schema: &[ddb::KeySchemaElement], kind: ddb::KeyType| {
        schema
            .iter()
            .find(|k| *k.key_type() == kind)
            .map(|k| k.attribute_name().to_owned())
    };
    let keys = table.key_schema();
    if key_of(keys, ddb::KeyType::Hash).as_deref() != Some(spec.key_schema.hash.as_str())
        || key_of(keys, ddb::KeyType::Range) != spec.key_schema.range
    {
        return Err(ProvisionError::Conflict {
            resource: spec.name.clone(),
            what: "key schema",
        });
    }
    let mut existing: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    let mut wanted: Vec<&str> = spec.gsis.iter().map(|g| g.name.as_str()).collect();
    existing.sort_unstable();
    wanted.sort_unstable();
    if existing != wanted {
        return Err(ProvisionError::Conflict {
            resource: spec.name.clone(),
            what: "set of global secondary indexes",
        });
    }
    Ok(())
}

/// Enables TTL unless it already is (DynamoDB rejects enabling it twice).
async fn enable_ttl(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    attribute: &str,
) -> Result<(), ProvisionError> {
    let current = db
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(ProvisionError::aws("DescribeTimeToLive", table))?;
    let description = current.time_to_live_description();
    let status = description.and_then(|d| d.time_to_live_status());
    let enabled = matches!(
        status,
        Some(ddb::TimeToLiveStatus::Enabled | ddb::TimeToLiveStatus::Enabling)
    );
    if enabled {
        return if description.and_then(|d| d.attribute_name()) == Some(attribute) {
            Ok(())
        } else {
            Err(ProvisionError::Conflict {
                resource: table.to_owned(),
                what: "TTL attribute",
            })
        };
    }
    let specification = ddb::TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()
        .map_err(ProvisionError::build("UpdateTimeToLive", table))?;
    db.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(ProvisionError::aws("UpdateTimeToLive", table))?;
    info!(table, attribute, "enabled TTL");
    Ok(())
}

/// The queue's attributes as SQS names them; `FifoQueue`, `ContentBasedDeduplication` and the
/// high-throughput pair (`DeduplicationScope`, `FifoThroughputLimit`) only on FIFO queues
/// (standard queues reject them).
fn queue_attributes(spec: &QueueSpec, dlq_arn: Option<&str>) -> Vec<(QueueAttributeName, String)> {
    let mut attrs = vec![
        (
            QueueAttributeName::VisibilityTimeout,
            spec.visibility_timeout.as_secs().to_string(),
        ),
        (
            QueueAttributeName::MessageRetentionPeriod,
            spec.retention.as_secs().to_string(),
        ),
    ];
    if spec.fifo {
        attrs.push((QueueAttributeName::FifoQueue, "true".to_owned()));
        attrs.push((
            QueueAttributeName::ContentBasedDeduplication,
            spec.content_based_dedup.to_string(),
        ));
        if let Some(scope) = &spec.deduplication_scope {
            attrs.push((QueueAttributeName::DeduplicationScope, scope.clone()));
        }
        if let Some(limit) = &spec.fifo_throughput_limit {
            attrs.push((QueueAttributeName::FifoThroughputLimit, limit.clone()));
        }
    }
    if let Some(sse) = spec.sqs_managed_sse {
        attrs.push((QueueAttributeName::SqsManagedSseEnabled, sse.to_string()));
    }
    if let (Some(redrive), Some(arn)) = (&spec.redrive, dlq_arn) {
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": redrive.max_receive_count,
        });
        attrs.push((QueueAttributeName::RedrivePolicy, policy.to_string()));
    }
    attrs
}

async fn provision_queue(
    sqs: &aws_sdk_sqs::Client,
    spec: &QueueSpec,
    dlq_arn: Option<&str>,
) -> Result<QueueHandle, ProvisionError> {
    let name = spec.name.as_str();
    let attrs = queue_attributes(spec, dlq_arn);
    let mut request = sqs.create_queue().queue_name(name);
    for (key, value) in &attrs {
        request = request.attributes(key.clone(), value);
    }
    let url = match request.send().await {
        Ok(out) => out
            .queue_url
            .ok_or_else(|| ProvisionError::MissingInResponse {
                operation: "CreateQueue",
                resource: name.to_owned(),
                field: "QueueUrl",
            })?,
        // SQS only treats CreateQueue as idempotent when the attributes are identical; a queue
        // left by an older template gets its attributes updated instead.
        Err(err) if queue_exists(&err) => {
            let url = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(ProvisionError::aws("GetQueueUrl", name))?
                .queue_url
                .ok_or_else(|| ProvisionError::MissingInResponse {
                    operation: "GetQueueUrl",
                    resource: name.to_owned(),
                    field: "QueueUrl",
                })?;
            let mut update = sqs.set_queue_attributes().queue_url(&url);
            for (key, value) in attrs
                .iter()
                .filter(|(k, _)| *k != QueueAttributeName::FifoQueue)
            {
                update = update.attributes(key.clone(), value);
            }
            update
                .send()
                .await
                .map_err(ProvisionError::aws("SetQueueAttributes", name))?;
            info!(queue = name, "updated existing queue");
            url
        }
        Err(err) => return Err(ProvisionError::aws("CreateQueue", name)(err)),
    };
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(ProvisionError::aws("GetQueueAttributes", name))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| ProvisionError::MissingInResponse {
            operation: "GetQueueAttributes",
            resource: name.to_owned(),
            field: "QueueArn",
        })?;
    info!(queue = name, %url, "queue ready");
    Ok(QueueHandle {
        name: name.to_owned(),
        url,
        arn,
    })
}

/// `QueueNameExists` in the JSON protocol; older emulators answer `QueueAlreadyExists`.
fn queue_exists(
    err: &aws_sdk_sqs::error::SdkError<aws_sdk_sqs::operation::create_queue::CreateQueueError>,
) -> bool {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    err.as_service_error()
        .is_some_and(|e| e.is_queue_name_exists() || matches!(e.code(), Some("QueueAlreadyExists")))
}

async fn provision_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    spec: &SecretSpec,
    value: &str,
) -> Result<SecretHandle, ProvisionError> {
    let name = spec.name.as_str();
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    let arn = match created {
        Ok(out) => {
            info!(secret = name, "created secret");
            out.arn
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            let out = secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(ProvisionError::aws("PutSecretValue", name))?;
            info!(secret = name, "updated secret value");
            out.arn
        }
        Err(err) => return Err(ProvisionError::aws("CreateSecret", name)(err)),
    };
    let arn = arn.ok_or_else(|| ProvisionError::MissingInResponse {
        operation: "CreateSecret",
        resource: name.to_owned(),
        field: "ARN",
    })?;
    Ok(SecretHandle {
        name: name.to_owned(),
        arn,
    })
}

/// A key per stack, found again by its alias (`alias/<prefix><LogicalId>`): KMS gives every
/// new key a random id, so the alias is what makes provisioning converge.
async fn provision_key(
    kms: &aws_sdk_kms::Client,
    spec: &KeySpec,
    prefix: &str,
) -> Result<KeyHandle, ProvisionError> {
    let alias = format!("alias/{prefix}{}", spec.logical_id);
    let existing = kms.describe_key().key_id(&alias).send().await;
    let metadata = match existing {
        Ok(out) => out.key_metadata,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            let mut create = kms.create_key();
            if let Some(description) = &spec.description {
                create = create.description(description);
            }
            let created = create
                .send()
                .await
                .map_err(ProvisionError::aws("CreateKey", &alias))?
                .key_metadata;
            let id = created.as_ref().map(|m| m.key_id().to_owned());
            kms.create_alias()
                .alias_name(&alias)
                .set_target_key_id(id)
                .send()
                .await
                .map_err(ProvisionError::aws("CreateAlias", &alias))?;
            info!(key = alias, "created KMS key");
            created
        }
        Err(err) => return Err(ProvisionError::aws("DescribeKey", &alias)(err)),
    };
    let metadata = metadata.ok_or_else(|| ProvisionError::MissingInResponse {
        operation: "CreateKey",
        resource: alias.clone(),
        field: "KeyMetadata",
    })?;
    let arn = metadata
        .arn()
        .ok_or_else(|| ProvisionError::MissingInResponse {
            operation: "CreateKey",
            resource: alias.clone(),
            field: "Arn",
        })?
        .to_owned();
    if spec.rotation {
        kms.enable_key_rotation()
            .key_id(metadata.key_id())
            .send()
            .await
            .map_err(ProvisionError::aws("EnableKeyRotation", &alias))?;
    }
    Ok(KeyHandle {
        id: metadata.key_id().to_owned(),
        arn,
    })
}

/// Creates the bucket (or finds it) and sets what the template sets: default encryption,
/// the public access block, bucket-owner-enforced ownership, versioning and the lifecycle.
/// moto keeps the lifecycle but never expires an object: tests that need expiry delete.
async fn provision_bucket(
    s3: &aws_sdk_s3::Client,
    spec: &BucketSpec,
    key_arn: Option<&str>,
) -> Result<(), ProvisionError> {
    use aws_sdk_s3::types as s3t;
    let name = spec.name.as_str();
    let build = |op| ProvisionError::build(op, name);
    let mut create = s3.create_bucket().bucket(name);
    let region = s3.config().region().map(|r| r.as_ref().to_owned());
    if let Some(region) = region.filter(|r| r != "us-east-1") {
        create = create.create_bucket_configuration(
            s3t::CreateBucketConfiguration::builder()
                .location_constraint(s3t::BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => info!(bucket = name, "created bucket"),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            info!(bucket = name, "bucket exists")
        }
        Err(err) => return Err(ProvisionError::aws("CreateBucket", name)(err)),
    }
    if let Some(key_arn) = key_arn {
        let rule = s3t::ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                s3t::ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(s3t::ServerSideEncryption::AwsKms)
                    .kms_master_key_id(key_arn)
                    .build()
                    .map_err(build("PutBucketEncryption"))?,
            )
            .bucket_key_enabled(spec.bucket_key)
            .build();
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                s3t::ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(build("PutBucketEncryption"))?,
            )
            .send()
            .await
            .map_err(ProvisionError::aws("PutBucketEncryption", name))?;
    }
    let blocked = spec.public_access_blocked;
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            s3t::PublicAccessBlockConfiguration::builder()
                .block_public_acls(blocked)
                .block_public_policy(blocked)
                .ignore_public_acls(blocked)
                .restrict_public_buckets(blocked)
                .build(),
        )
        .send()
        .await
        .map_err(ProvisionError::aws("PutPublicAccessBlock", name))?;
    if spec.versioned {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                s3t::VersioningConfiguration::builder()
                    .status(s3t::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(ProvisionError::aws("PutBucketVersioning", name))?;
    }
    if !spec.lifecycle.is_empty() {
        let mut rules = Vec::with_capacity(spec.lifecycle.len());
        for r in &spec.lifecycle {
            let mut rule = s3t::LifecycleRule::builder()
                .id(&r.id)
                .status(s3t::ExpirationStatus::Enabled)
                .filter(
                    s3t::LifecycleRuleFilter::builder()
                        .prefix(&r.prefix)
                        .build(),
                );
            if let Some(days) = r.expiration_days {
                rule = rule.expiration(
                    s3t::LifecycleExpiration::builder()
                        .days(i32::try_from(days).unwrap_or(i32::MAX))
                        .build(),
                );
            }
            if let Some(days) = r.abort_incomplete_days {
                rule = rule.abort_incomplete_multipart_upload(
                    s3t::AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(i32::try_from(days).unwrap_or(i32::MAX))
                        .build(),
                );
            }
            rules.push(
                rule.build()
                    .map_err(build("PutBucketLifecycleConfiguration"))?,
            );
        }
        s3.put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(
                s3t::BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .map_err(build("PutBucketLifecycleConfiguration"))?,
            )
            .send()
            .await
            .map_err(ProvisionError::aws("PutBucketLifecycleConfiguration", name))?;
    }
    info!(bucket = name, "bucket ready");
    Ok(())
}
