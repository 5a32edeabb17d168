//! The typed model of what the template deploys and the local emulator must mirror: tables,
//! queues, secrets, KMS keys and buckets, and how functions are wired to them (SQS event sources, schedules, routes,
//! environment).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value as Json};

use crate::error::TemplateError;
use crate::template::{as_object, get_att_parts, plain_string, single_intrinsic, Evaluator};
use crate::{Parameters, Template};

/// CloudFormation's defaults for properties the template may leave out.
const DEFAULT_VISIBILITY_TIMEOUT: u64 = 30;
const DEFAULT_RETENTION: u64 = 345_600;
const DEFAULT_SQS_BATCH_SIZE: u32 = 10;
const DEFAULT_FUNCTION_TIMEOUT: u64 = 3;
const DEFAULT_FUNCTION_MEMORY_MB: u64 = 128;

/// Everything local provisioning and the local runner need to know, derived from the template.
/// Each list is ordered by logical id.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Parameter values in effect (defaults merged with overrides).
    pub parameters: BTreeMap<String, String>,
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub secrets: Vec<SecretSpec>,
    pub keys: Vec<KeySpec>,
    pub buckets: Vec<BucketSpec>,
    pub functions: Vec<FunctionSpec>,
    pub event_sources: Vec<EventSourceSpec>,
    pub schedules: Vec<ScheduleSpec>,
    pub http_routes: Vec<HttpRouteSpec>,
}

/// A DynamoDB table (`AWS::DynamoDB::Table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    pub name: String,
    pub key_schema: KeySchema,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub gsis: Vec<GsiSpec>,
    /// The TTL attribute, when `TimeToLiveSpecification.Enabled` is true.
    pub ttl_attribute: Option<String>,
    pub billing_mode: BillingMode,
}

/// A hash key and an optional range key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub hash: String,
    pub range: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub name: String,
    pub attribute_type: AttributeType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Number,
    Binary,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GsiSpec {
    pub name: String,
    pub keys: KeySchema,
    pub projection: Projection,
    /// Only for provisioned tables.
    pub throughput: Option<Throughput>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingMode {
    PayPerRequest,
    Provisioned(Throughput),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throughput {
    pub read_capacity_units: i64,
    pub write_capacity_units: i64,
}

/// An SQS queue (`AWS::SQS::Queue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub name: String,
    pub fifo: bool,
    pub content_based_dedup: bool,
    /// FIFO only: `DeduplicationScope` (`queue` or `messageGroup`), when the template sets it.
    pub deduplication_scope: Option<String>,
    /// FIFO only: `FifoThroughputLimit` (`perQueue` or `perMessageGroupId`), when set.
    pub fifo_throughput_limit: Option<String>,
    pub visibility_timeout: Duration,
    pub retention: Duration,
    /// `SqsManagedSseEnabled`, when the template sets it.
    pub sqs_managed_sse: Option<bool>,
    pub redrive: Option<Redrive>,
}

/// Where a queue sends messages received too often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub dlq_logical_id: String,
    pub max_receive_count: u32,
}

/// A Secrets Manager secret (`AWS::SecretsManager::Secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub logical_id: String,
    pub name: String,
}

/// A KMS key (`AWS::KMS::Key`). Its key policy is not mirrored: the template's delegates to
/// IAM (the account root), which is what the local IAM evaluates anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub logical_id: String,
    pub description: Option<String>,
    pub rotation: bool,
}

/// An S3 bucket (`AWS::S3::Bucket`). Its bucket policy is not mirrored: the template's denies
/// plain HTTP, and the local endpoint is plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub logical_id: String,
    pub name: String,
    /// SSE-KMS default encryption with this key (`!GetAtt <Key>.Arn`), when the template sets it.
    pub kms_key_logical_id: Option<String>,
    pub bucket_key: bool,
    /// All four `PublicAccessBlockConfiguration` switches on.
    pub public_access_blocked: bool,
    pub versioned: bool,
    pub lifecycle: Vec<LifecycleRule>,
}

/// One lifecycle rule: objects under `prefix` expire after `expiration_days`; incomplete
/// multipart uploads are aborted after `abort_incomplete_days`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    pub id: String,
    pub prefix: String,
    pub expiration_days: Option<u64>,
    pub abort_incomplete_days: Option<u64>,
}

/// An `AWS::Serverless::Function` with its binary and environment (Globals merged in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary that implements the function.
    pub binary: String,
    /// `Timeout` (Globals merged in; Lambda's default is 3 s).
    pub timeout: Duration,
    /// `MemorySize` in MB (Globals merged in; Lambda's default is 128): the local runner tells
    /// the function through `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, as Lambda does.
    pub memory_mb: u64,
    pub environment: BTreeMap<String, EnvValue>,
}

/// An environment variable value: literal, or a reference provisioning resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// `Ref`: a queue's URL, a table's name, a secret's ARN.
    Ref(String),
    /// `Fn::GetAtt`: e.g. a queue's `Arn` or `QueueName`.
    GetAtt {
        logical_id: String,
        attribute: String,
    },
}

/// An SQS event source mapping declared as a function event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceSpec {
    pub function_logical_id: String,
    pub binary: String,
    pub queue_logical_id: String,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
}

/// A `Schedule`/`ScheduleV2` event: when the function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub function_logical_id: String,
    pub binary: String,
    pub expression: String,
}

/// An `HttpApi`/`Api` event: which route reaches the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRouteSpec {
    pub function_logical_id: String,
    pub binary: String,
    /// Upper case (`GET`, `POST`, or `ANY`).
    pub method: String,
    pub path: String,
}

impl Model {
    /// Reads the template at `path` and builds the model with `parameters`.
    pub fn load(
        path: impl AsRef<std::path::Path>,
        parameters: &Parameters,
    ) -> Result<Self, TemplateError> {
        Template::load(path)?.model(parameters)
    }

    pub fn table(&self, logical_id: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.logical_id == logical_id)
    }

    pub fn queue(&self, logical_id: &str) -> Option<&QueueSpec> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }

    pub fn secret(&self, logical_id: &str) -> Option<&SecretSpec> {
        self.secrets.iter().find(|s| s.logical_id == logical_id)
    }

    pub fn bucket(&self, logical_id: &str) -> Option<&BucketSpec> {
        self.buckets.iter().find(|b| b.logical_id == logical_id)
    }

    pub fn function(&self, logical_id: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// The function built from cargo binary `binary`.
    pub fn function_by_binary(&self, binary: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.binary == binary)
    }
}

impl Template {
    /// Builds the typed model, evaluating parameters, conditions and `Fn::Sub` names.
    pub fn model(&self, parameters: &Parameters) -> Result<Model, TemplateError> {
        let eval = Evaluator::new(self, parameters)?;
        let globals = self.global_function(&eval)?;
        let globals = Props {
            map: &globals,
            at: "/Globals/Function".to_owned(),
        };
        let globals_env = environment_of(&globals)?;
        let globals_timeout = globals.u64_or("Timeout", DEFAULT_FUNCTION_TIMEOUT)?;
        let globals_memory = globals.u64_or("MemorySize", DEFAULT_FUNCTION_MEMORY_MB)?;
        let mut model = Model {
            parameters: eval.parameter_values(),
            tables: Vec::new(),
            queues: Vec::new(),
            secrets: Vec::new(),
            keys: Vec::new(),
            buckets: Vec::new(),
            functions: Vec::new(),
            event_sources: Vec::new(),
            schedules: Vec::new(),
            http_routes: Vec::new(),
        };
        for (logical_id, resource) in &self.section("Resources")? {
            let at = format!("/Resources/{logical_id}");
            let resource = as_object(resource, &at)?;
            if let Some(cond) = resource.get("Condition") {
                let name = cond.as_str().ok_or_else(|| TemplateError::Shape {
                    at: format!("{at}/Condition"),
                    expected: "a condition name",
                })?;
                if !eval.condition(name, 0)? {
                    continue;
                }
            }
            let Some(Json::String(kind)) = resource.get("Type") else {
                return Err(TemplateError::MissingProperty {
                    at,
                    property: "Type",
                });
            };
            let props_at = format!("{at}/Properties");
            let props = match resource.get("Properties") {
                Some(p) => eval.eval(p, &props_at)?,
                None => None,
            };
            let empty = Map::new();
            let props = match &props {
                Some(p) => as_object(p, &props_at)?,
                None => &empty,
            };
            let r = Props {
                map: props,
                at: props_at.clone(),
            };
            match kind.as_str() {
                "AWS::DynamoDB::Table" => model.tables.push(table(logical_id, &r)?),
                "AWS::SQS::Queue" => model.queues.push(queue(logical_id, &r)?),
                "AWS::SecretsManager::Secret" => model.secrets.push(SecretSpec {
                    logical_id: logical_id.clone(),
                    name: r.string("Name")?,
                }),
                "AWS::KMS::Key" => model.keys.push(KeySpec {
                    logical_id: logical_id.clone(),
                    description: r.optional_string("Description")?,
                    rotation: r.bool_or("EnableKeyRotation", false)?,
                }),
                "AWS::S3::Bucket" => model.buckets.push(bucket(logical_id, &r)?),
                "AWS::Serverless::Function" => {
                    let binary = binary(resource, &at)?;
                    let mut environment = globals_env.clone();
                    environment.extend(environment_of(&r)?);
                    function_events(logical_id, &binary, &r, &mut model)?;
                    model.functions.push(FunctionSpec {
                        logical_id: logical_id.clone(),
                        binary,
                        timeout: Duration::from_secs(r.u64_or("Timeout", globals_timeout)?),
                        memory_mb: r.u64_or("MemorySize", globals_memory)?,
                        environment,
                    });
                }
                _ => {}
            }
        }
        validate_references(&model)?;
        Ok(model)
    }

    /// `Globals.Function`, evaluated; absent means empty.
    fn global_function(&self, eval: &Evaluator) -> Result<Map<String, Json>, TemplateError> {
        let at = "/Globals/Function";
        let function = match self.section("Globals")?.get("Function") {
            Some(function) => eval.eval(function, at)?,
            None => None,
        };
        match function {
            None => Ok(Map::new()),
            Some(Json::Object(map)) => Ok(map),
            Some(_) => Err(TemplateError::Shape {
                at: at.to_owned(),
                expected: "a mapping",
            }),
        }
    }
}

/// An evaluated property mapping plus its path, for typed access with located errors.
struct Props<'a> {
    map: &'a Map<String, Json>,
    at: String,
}

impl<'a> Props<'a> {
    fn path(&self, key: &str) -> String {
        format!("{}/{key}", self.at)
    }

    fn required(&self, key: &'static str) -> Result<&'a Json, TemplateError> {
        self.map
            .get(key)
            .ok_or_else(|| TemplateError::MissingProperty {
                at: self.at.to_owned(),
                property: key,
            })
    }

    fn string(&self, key: &'static str) -> Result<String, TemplateError> {
        expect_string(self.required(key)?, &self.path(key))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, TemplateError> {
        self.map
            .get(key)
            .map(|v| expect_string(v, &self.path(key)))
            .transpose()
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, TemplateError> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) => expect_bool(v, &self.path(key)),
        }
    }

    fn optional_bool(&self, key: &str) -> Result<Option<bool>, TemplateError> {
        self.map
            .get(key)
            .map(|v| expect_bool(v, &self.path(key)))
            .transpose()
    }

    fn u64_or(&self, key: &str, default: u64) -> Result<u64, TemplateError> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) => expect_u64(v, &self.path(key)),
        }
    }

    fn object(&self, key: &str) -> Result<Option<Props<'a>>, TemplateError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => {
                let at = self.path(key);
                Ok(Some(Props {
                    map: as_object(v, &at)?,
                    at,
                }))
            }
        }
    }

    fn list(&self, key: &str) -> Result<&'a [Json], TemplateError> {
        match self.map.get(key) {
            None => Ok(&[]),
            Some(Json::Array(items)) => Ok(items),
            Some(other) => Err(shape_or_unresolvable(other, &self.path(key), "a list")),
        }
    }
}

fn table(logical_id: &str, p: &Props<'_>) -> Result<TableSpec, TemplateError> {
    let billing_mode = match p.optional_string("BillingMode")?.as_deref() {
        Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
        None | Some("PROVISIONED") => BillingMode::Provisioned(
            throughput(p.object("ProvisionedThroughput")?, &p.at)?.ok_or_else(|| {
                TemplateError::MissingProperty {
                    at: p.at.clone(),
                    property: "ProvisionedThroughput",
                }
            })?,
        ),
        Some(other) => {
            return Err(TemplateError::InvalidValue {
                at: p.path("BillingMode"),
                value: other.to_owned(),
                expected: "BillingMode",
            })
        }
    };
    let attribute_definitions = p
        .list("AttributeDefinitions")?
        .iter()
        .map(|d| {
            let at = p.path("AttributeDefinitions");
            let d = Props {
                map: as_object(d, &at)?,
                at,
            };
            let attribute_type = match d.string("AttributeType")?.as_str() {
                "S" => AttributeType::String,
                "N" => AttributeType::Number,
                "B" => AttributeType::Binary,
                other => {
                    return Err(TemplateError::InvalidValue {
                        at: d.path("AttributeType"),
                        value: other.to_owned(),
                        expected: "AttributeType (S, N or B)",
                    })
                }
            };
            Ok(AttributeDefinition {
                name: d.string("AttributeName")?,
                attribute_type,
            })
        })
        .collect::<Result<Vec<_>, TemplateError>>()?;
    let gsis = p
        .list("GlobalSecondaryIndexes")?
        .iter()
        .map(|g| {
            let at = p.path("GlobalSecondaryIndexes");
            let g = Props {
                map: as_object(g, &at)?,
                at,
            };
            Ok(GsiSpec {
                name: g.string("IndexName")?,
                keys: key_schema(g.list("KeySchema")?, &g.path("KeySchema"))?,
                projection: projection(g.object("Projection")?, &g.at)?,
                throughput: throughput(g.object("ProvisionedThroughput")?, &g.at)?,
            })
        })
        .collect::<Result<Vec<_>, TemplateError>>()?;
    let ttl_attribute = match p.object("TimeToLiveSpecification")? {
        Some(ttl) if ttl.bool_or("Enabled", false)? => Some(ttl.string("AttributeName")?),
        _ => None,
    };
    Ok(TableSpec {
        logical_id: logical_id.to_owned(),
        name: p.string("TableName")?,
        key_schema: key_schema(p.list("KeySchema")?, &p.path("KeySchema"))?,
        attribute_definitions,
        gsis,
        ttl_attribute,
        billing_mode,
    })
}

fn key_schema(items: &[Json], at: &str) -> Result<KeySchema, TemplateError> {
    let mut hash = None;
    let mut range = None;
    for item in items {
        let k = Props {
            map: as_object(item, at)?,
            at: at.to_owned(),
        };
        let name = k.string("AttributeName")?;
        match k.string("KeyType")?.as_str() {
            "HASH" if hash.is_none() => hash = Some(name),
            "RANGE" if range.is_none() => range = Some(name),
            other => {
                return Err(TemplateError::InvalidValue {
                    at: at.to_owned(),
                    value: other.to_owned(),
                    expected: "key schema (one HASH, at most one RANGE)",
                })
            }
        }
    }
    let hash = hash.ok_or(TemplateError::MissingProperty {
        at: at.to_owned(),
        property: "a HASH key",
    })?;
    Ok(KeySchema { hash, range })
}

fn projection(p: Option<Props<'_>>, at: &str) -> Result<Projection, TemplateError> {
    let p = p.ok_or_else(|| TemplateError::MissingProperty {
        at: at.to_owned(),
        property: "Projection",
    })?;
    match p.optional_string("ProjectionType")?.as_deref() {
        None | Some("KEYS_ONLY") => Ok(Projection::KeysOnly),
        Some("ALL") => Ok(Projection::All),
        Some("INCLUDE") => Ok(Projection::Include(
            p.list("NonKeyAttributes")?
                .iter()
                .map(|a| expect_string(a, &p.path("NonKeyAttributes")))
                .collect::<Result<_, _>>()?,
        )),
        Some(other) => Err(TemplateError::InvalidValue {
            at: p.path("ProjectionType"),
            value: other.to_owned(),
            expected: "ProjectionType",
        }),
    }
}

fn throughput(p: Option<Props<'_>>, at: &str) -> Result<Option<Throughput>, TemplateError> {
    let Some(p) = p else { return Ok(None) };
    let units = |key: &'static str| -> Result<i64, TemplateError> {
        let n = expect_u64(p.required(key)?, &format!("{at}/{key}"))?;
        i64::try_from(n).map_err(|_| TemplateError::InvalidValue {
            at: format!("{at}/{key}"),
            value: n.to_string(),
            expected: "capacity units",
        })
    };
    Ok(Some(Throughput {
        read_capacity_units: units("ReadCapacityUnits")?,
        write_capacity_units: units("WriteCapacityUnits")?,
    }))
}

fn queue(logical_id: &str, p: &Props<'_>) -> Result<QueueSpec, TemplateError> {
    let redrive = match p.map.get("RedrivePolicy") {
        None => None,
        Some(policy) => Some(redrive(policy, &p.path("RedrivePolicy"))?),
    };
    Ok(QueueSpec {
        logical_id: logical_id.to_owned(),
        name: p.string("QueueName")?,
        fifo: p.bool_or("FifoQueue", false)?,
        content_based_dedup: p.bool_or("ContentBasedDeduplication", false)?,
        deduplication_scope: p.optional_string("DeduplicationScope")?,
        fifo_throughput_limit: p.optional_string("FifoThroughputLimit")?,
        visibility_timeout: Duration::from_secs(
            p.u64_or("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT)?,
        ),
        retention: Duration::from_secs(p.u64_or("MessageRetentionPeriod", DEFAULT_RETENTION)?),
        sqs_managed_sse: p.optional_bool("SqsManagedSseEnabled")?,
        redrive,
    })
}

fn bucket(logical_id: &str, p: &Props<'_>) -> Result<BucketSpec, TemplateError> {
    let mut kms_key_logical_id = None;
    let mut bucket_key = false;
    if let Some(encryption) = p.object("BucketEncryption")? {
        for rule in encryption.list("ServerSideEncryptionConfiguration")? {
            let at = encryption.path("ServerSideEncryptionConfiguration");
            let rule = Props {
                map: as_object(rule, &at)?,
                at,
            };
            bucket_key |= rule.bool_or("BucketKeyEnabled", false)?;
            if let Some(default) = rule.object("ServerSideEncryptionByDefault")? {
                if default.string("SSEAlgorithm")? == "aws:kms" {
                    let key = default.required("KMSMasterKeyID")?;
                    kms_key_logical_id = Some(arn_target(key, &default.path("KMSMasterKeyID"))?);
                }
            }
        }
    }
    let public_access_blocked = match p.object("PublicAccessBlockConfiguration")? {
        Some(block) => {
            let mut all = true;
            for switch in [
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            ] {
                all &= block.bool_or(switch, false)?;
            }
            all
        }
        None => false,
    };
    let versioned = match p.object("VersioningConfiguration")? {
        Some(v) => v.string("Status")? == "Enabled",
        None => false,
    };
    let mut lifecycle = Vec::new();
    if let Some(config) = p.object("LifecycleConfiguration")? {
        for rule in config.list("Rules")? {
            let at = config.path("Rules");
            let rule = Props {
                map: as_object(rule, &at)?,
                at,
            };
            if rule.string("Status")? != "Enabled" {
                continue;
            }
            let expiration_days = match rule.map.get("ExpirationInDays") {
                Some(v) => Some(expect_u64(v, &rule.path("ExpirationInDays"))?),
                None => None,
            };
            let abort_incomplete_days = match rule.object("AbortIncompleteMultipartUpload")? {
                Some(a) => Some(expect_u64(
                    a.required("DaysAfterInitiation")?,
                    &a.path("DaysAfterInitiation"),
                )?),
                None => None,
            };
            lifecycle.push(LifecycleRule {
                id: rule.optional_string("Id")?.unwrap_or_default(),
                prefix: rule.optional_string("Prefix")?.unwrap_or_default(),
                expiration_days,
                abort_incomplete_days,
            });
        }
    }
    Ok(BucketSpec {
        logical_id: logical_id.to_owned(),
        name: p.string("BucketName")?,
        kms_key_logical_id,
        bucket_key,
        public_access_blocked,
        versioned,
        lifecycle,
    })
}

/// `RedrivePolicy` as a mapping, or as the JSON string CloudFormation also accepts.
fn redrive(policy: &Json, at: &str) -> Result<Redrive, TemplateError> {
    let parsed;
    let map = match policy {
        Json::Object(map) => map,
        Json::String(text) => {
            parsed =
                serde_json::from_str::<Json>(text).map_err(|_| TemplateError::InvalidValue {
                    at: at.to_owned(),
                    value: text.clone(),
                    expected: "RedrivePolicy JSON",
                })?;
            as_object(&parsed, at)?
        }
        other => return Err(shape_or_unresolvable(other, at, "a RedrivePolicy mapping")),
    };
    let p = Props {
        map,
        at: at.to_owned(),
    };
    let target = p.required("deadLetterTargetArn")?;
    let dlq_logical_id = arn_target(target, &p.path("deadLetterTargetArn"))?;
    let count = expect_u64(p.required("maxReceiveCount")?, &p.path("maxReceiveCount"))?;
    let max_receive_count = u32::try_from(count).map_err(|_| TemplateError::InvalidValue {
        at: p.path("maxReceiveCount"),
        value: count.to_string(),
        expected: "maxReceiveCount",
    })?;
    Ok(Redrive {
        dlq_logical_id,
        max_receive_count,
    })
}

/// The logical id behind `!GetAtt X.Arn` (a literal ARN cannot be mirrored locally).
fn arn_target(value: &Json, at: &str) -> Result<String, TemplateError> {
    if let Some(map) = value.as_object() {
        if let Some(("Fn::GetAtt", arg)) = single_intrinsic(map) {
            let (id, attr) = get_att_parts(arg, at)?;
            if attr == "Arn" {
                return Ok(id.to_owned());
            }
        }
    }
    Err(TemplateError::Shape {
        at: at.to_owned(),
        expected: "!GetAtt <Logical>.Arn",
    })
}

fn binary(resource: &Map<String, Json>, at: &str) -> Result<String, TemplateError> {
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .ok_or_else(|| TemplateError::MissingProperty {
            at: format!("{at}/Metadata"),
            property: "BuildProperties.Binary",
        })?;
    expect_string(binary, &format!("{at}/Metadata/BuildProperties/Binary"))
}

fn environment_of(p: &Props<'_>) -> Result<BTreeMap<String, EnvValue>, TemplateError> {
    let Some(env) = p.object("Environment")? else {
        return Ok(BTreeMap::new());
    };
    let Some(vars) = env.object("Variables")? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (name, value) in vars.map {
        let at = format!("{}/Environment/Variables/{name}", p.at);
        let value = if let Some(s) = plain_string(value) {
            EnvValue::Literal(s)
        } else {
            match value.as_object().and_then(single_intrinsic) {
                Some(("Ref", Json::String(id))) => EnvValue::Ref(id.clone()),
                Some(("Fn::GetAtt", arg)) => {
                    let (id, attr) = get_att_parts(arg, &at)?;
                    EnvValue::GetAtt {
                        logical_id: id.to_owned(),
                        attribute: attr.to_owned(),
                    }
                }
                _ => return Err(shape_or_unresolvable(value, &at, "a scalar, Ref or GetAtt")),
            }
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn function_events(
    function: &str,
    binary: &str,
    p: &Props<'_>,
    model: &mut Model,
) -> Result<(), TemplateError> {
    let Some(events) = p.map.get("Events") else {
        return Ok(());
    };
    let events_at = p.path("Events");
    for (name, event) in as_object(events, &events_at)? {
        let at = format!("{events_at}/{name}");
        let event = Props {
            map: as_object(event, &at)?,
            at: at.clone(),
        };
        let kind = event.string("Type")?;
        let empty = Map::new();
        let props = event.object("Properties")?.unwrap_or(Props {
            map: &empty,
            at: at.clone(),
        });
        if !props.bool_or("Enabled", true)? {
            continue;
        }
        match kind.as_str() {
            "SQS" => {
                let batch_size = props.u64_or("BatchSize", u64::from(DEFAULT_SQS_BATCH_SIZE))?;
                model.event_sources.push(EventSourceSpec {
                    function_logical_id: function.to_owned(),
                    binary: binary.to_owned(),
                    queue_logical_id: arn_target(props.required("Queue")?, &props.path("Queue"))?,
                    batch_size: u32::try_from(batch_size).map_err(|_| {
                        TemplateError::InvalidValue {
                            at: props.path("BatchSize"),
                            value: batch_size.to_string(),
                            expected: "BatchSize",
                        }
                    })?,
                    batching_window: Duration::from_secs(
                        props.u64_or("MaximumBatchingWindowInSeconds", 0)?,
                    ),
                    report_batch_item_failures: props
                        .list("FunctionResponseTypes")?
                        .iter()
                        .any(|t| t.as_str() == Some("ReportBatchItemFailures")),
                });
            }
            "Schedule" | "ScheduleV2" => model.schedules.push(ScheduleSpec {
                function_logical_id: function.to_owned(),
                binary: binary.to_owned(),
                expression: if kind == "ScheduleV2" {
                    props.string("ScheduleExpression")?
                } else {
                    props.string("Schedule")?
                },
            }),
            "HttpApi" | "Api" => model.http_routes.push(HttpRouteSpec {
                function_logical_id: function.to_owned(),
                binary: binary.to_owned(),
                method: props
                    .optional_string("Method")?
                    .map_or_else(|| "ANY".to_owned(), |m| m.to_ascii_uppercase()),
                path: props
                    .optional_string("Path")?
                    .unwrap_or_else(|| "/{proxy+}".to_owned()),
            }),
            _ => {}
        }
    }
    Ok(())
}

/// Every redrive target and event-source queue must be a queue the model defines.
fn validate_references(model: &Model) -> Result<(), TemplateError> {
    for q in &model.queues {
        if let Some(r) = &q.redrive {
            if model.queue(&r.dlq_logical_id).is_none() {
                return Err(TemplateError::DanglingReference {
                    at: format!("/Resources/{}/Properties/RedrivePolicy", q.logical_id),
                    target: r.dlq_logical_id.clone(),
                    expected: "queue",
                });
            }
        }
    }
    for b in &model.buckets {
        if let Some(key) = &b.kms_key_logical_id {
            if !model.keys.iter().any(|k| &k.logical_id == key) {
                return Err(TemplateError::DanglingReference {
                    at: format!("/Resources/{}/Properties/BucketEncryption", b.logical_id),
                    target: key.clone(),
                    expected: "KMS key",
                });
            }
        }
    }
    for e in &model.event_sources {
        if model.queue(&e.queue_logical_id).is_none() {
            return Err(TemplateError::DanglingReference {
                at: format!("/Resources/{}/Properties/Events", e.function_logical_id),
                target: e.queue_logical_id.clone(),
                expected: "queue",
            });
        }
    }
    Ok(())
}

fn expect_string(value: &Json, at: &str) -> Result<String, TemplateError> {
    plain_string(value).ok_or_else(|| shape_or_unresolvable(value, at, "a string"))
}

fn expect_bool(value: &Json, at: &str) -> Result<bool, TemplateError> {
    match value {
        Json::Bool(b) => Ok(*b),
        Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Json::String(s) => Err(TemplateError::InvalidValue {
            at: at.to_owned(),
            value: s.clone(),
            expected: "boolean",
        }),
        other => Err(shape_or_unresolvable(other, at, "a boolean")),
    }
}

fn expect_u64(value: &Json, at: &str) -> Result<u64, TemplateError> {
    match value {
        Json::Number(n) => n.as_u64().ok_or_else(|| TemplateError::InvalidValue {
            at: at.to_owned(),
            value: n.to_string(),
            expected: "non-negative integer",
        }),
        Json::String(s) => s.trim().parse().map_err(|_| TemplateError::InvalidValue {
            at: at.to_owned(),
            value: s.clone(),
            expected: "non-negative integer",
        }),
        other => Err(shape_or_unresolvable(other, at, "an integer")),
    }
}

/// A value of the wrong shape, or an intrinsic only CloudFormation can evaluate.
fn shape_or_unresolvable(value: &Json, at: &str, expected: &'static str) -> TemplateError {
    match value.as_object().and_then(single_intrinsic) {
        Some((intrinsic, _)) => TemplateError::Unresolvable {
            at: at.to_owned(),
            intrinsic: intrinsic.to_owned(),
        },
        None => TemplateError::Shape {
            at: at.to_owned(),
            expected,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace_template_path;

    fn local_model() -> Model {
        match Model::load(workspace_template_path(), &Parameters::local()) {
            Ok(model) => model,
            Err(err) => panic!("template.yaml does not load: {err}"),
        }
    }

    fn queue<'a>(model: &'a Model, id: &str) -> &'a QueueSpec {
        model
            .queue(id)
            .unwrap_or_else(|| panic!("no queue {id} in the model"))
    }

    #[test]
    fn local_names_equal_the_names_in_the_architecture_doc() {
        let model = local_model();
        let doc_path = workspace_template_path().with_file_name("docs/architecture.md");
        let doc = std::fs::read_to_string(&doc_path).expect("docs/architecture.md is readable");
        let mut rows = 0;
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (Some(id), Some(name)) = (cells.get(1), cells.get(3)) else {
                continue;
            };
            let (Some(id), Some(name)) = (
                id.strip_prefix('`').and_then(|s| s.strip_suffix('`')),
                name.strip_prefix('`').and_then(|s| s.strip_suffix('`')),
            ) else {
                continue;
            };
            let modelled = model
                .table(id)
                .map(|t| t.name.as_str())
                .or_else(|| model.queue(id).map(|q| q.name.as_str()))
                .or_else(|| model.secret(id).map(|s| s.name.as_str()));
            assert_eq!(modelled, Some(name), "{id} in docs/architecture.md");
            rows += 1;
        }
        assert_eq!(
            rows, 12,
            "the resource table of docs/architecture.md has 12 rows"
        );
        assert_eq!(
            rows,
            model.tables.len() + model.queues.len() + model.secrets.len()
        );
    }

    #[test]
    fn the_data_bucket_is_kms_encrypted_private_unversioned_with_a_lifecycle_per_prefix() {
        let model = local_model();
        let bucket = model.bucket("DataBucket").expect("DataBucket");
        let retention: u64 = model.parameters["RetentionDays"].parse().expect("a number");
        let rule = |id: &str, prefix: &str, days: Option<u64>, abort: Option<u64>| LifecycleRule {
            id: id.into(),
            prefix: prefix.into(),
            expiration_days: days,
            abort_incomplete_days: abort,
        };
        assert_eq!(
            bucket,
            &BucketSpec {
                logical_id: "DataBucket".into(),
                name: "wa-crm-bridge-data-123456789012-us-east-1".into(),
                kms_key_logical_id: Some("DataKey".into()),
                bucket_key: true,
                public_access_blocked: true,
                versioned: false,
                lifecycle: vec![
                    rule("media-retention", "media/", Some(retention), None),
                    rule("updates", "updates/", Some(15), None),
                    rule("exports", "exports/", Some(1), None),
                    rule("abort-incomplete-uploads", "", None, Some(1)),
                ],
            }
        );
        assert!(
            model
                .keys
                .iter()
                .any(|k| k.logical_id == "DataKey" && k.rotation),
            "DataKey rotates"
        );
    }

    #[test]
    fn a_bucket_encrypted_with_something_other_than_a_kms_key_is_an_error() {
        let yaml = "
Resources:
  Missing:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: q
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: b
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !GetAtt Missing.Arn
";
        let err = Template::parse(yaml)
            .and_then(|t| t.model(&Parameters::defaults()))
            .expect_err("dangling key");
        assert!(
            matches!(err, TemplateError::DanglingReference { ref target, .. } if target == "Missing"),
            "{err:?}"
        );
    }

    #[test]
    fn the_state_table_has_the_documented_keys_index_and_ttl() {
        let model = local_model();
        let table = model.table("StateTable").expect("StateTable");
        assert_eq!(
            table,
            &TableSpec {
                logical_id: "StateTable".into(),
                name: "wa-crm-bridge".into(),
                key_schema: KeySchema {
                    hash: "pk".into(),
                    range: Some("sk".into()),
                },
                attribute_definitions: vec![
                    AttributeDefinition {
                        name: "pk".into(),
                        attribute_type: AttributeType::String,
                    },
                    AttributeDefinition {
                        name: "sk".into(),
                        attribute_type: AttributeType::String,
                    },
                    AttributeDefinition {
                        name: "due_bucket".into(),
                        attribute_type: AttributeType::String,
                    },
                    AttributeDefinition {
                        name: "due_at".into(),
                        attribute_type: AttributeType::Number,
                    },
                    AttributeDefinition {
                        name: "contact_id".into(),
                        attribute_type: AttributeType::String,
                    },
                ],
                gsis: vec![
                    GsiSpec {
                        name: "due-index".into(),
                        keys: KeySchema {
                            hash: "due_bucket".into(),
                            range: Some("due_at".into()),
                        },
                        projection: Projection::All,
                        throughput: None,
                    },
                    GsiSpec {
                        name: "contact-index".into(),
                        keys: KeySchema {
                            hash: "contact_id".into(),
                            range: None,
                        },
                        projection: Projection::KeysOnly,
                        throughput: None,
                    },
                ],
                ttl_attribute: Some("ttl".into()),
                billing_mode: BillingMode::PayPerRequest,
            }
        );
    }

    #[test]
    fn every_work_queue_redrives_to_its_own_dead_letter_queue() {
        let model = local_model();
        // Commands are deferred by the sender (each deferral is a receive), so they get more.
        for (id, dlq, fifo, receives) in [
            ("InboundQueue", "InboundDLQ", false, 5),
            ("CrmEventsQueue", "CrmEventsDLQ", true, 5),
            ("CrmCommandsQueue", "CrmCommandsDLQ", true, 100),
        ] {
            let q = queue(&model, id);
            assert_eq!(
                q.redrive,
                Some(Redrive {
                    dlq_logical_id: dlq.into(),
                    max_receive_count: receives,
                }),
                "{id}"
            );
            let d = queue(&model, dlq);
            assert_eq!(
                (q.fifo, d.fifo),
                (fifo, fifo),
                "{id} and {dlq} agree on FIFO"
            );
            assert!(!q.content_based_dedup && !d.content_based_dedup);
            assert_eq!(d.redrive, None);
            assert_eq!(d.retention, Duration::from_secs(14 * 24 * 3600), "{dlq}");
            assert_eq!(q.sqs_managed_sse, Some(true));
        }
    }

    #[test]
    fn the_fifo_queues_and_their_dead_letter_queues_run_in_high_throughput_mode() {
        let model = local_model();
        for id in [
            "CrmEventsQueue",
            "CrmEventsDLQ",
            "CrmCommandsQueue",
            "CrmCommandsDLQ",
        ] {
            let q = queue(&model, id);
            assert_eq!(
                (
                    q.deduplication_scope.as_deref(),
                    q.fifo_throughput_limit.as_deref()
                ),
                (Some("messageGroup"), Some("perMessageGroupId")),
                "{id}"
            );
        }
    }

    #[test]
    fn consumed_queues_hide_messages_for_six_function_timeouts() {
        let model = local_model();
        for e in &model.event_sources {
            let q = queue(&model, &e.queue_logical_id);
            let function = model
                .function(&e.function_logical_id)
                .expect("the consumer is modelled");
            assert!(
                q.visibility_timeout >= function.timeout * 6 + e.batching_window,
                "{} visibility timeout",
                q.logical_id
            );
        }
    }

    #[test]
    fn sqs_event_sources_report_partial_batch_failures() {
        let model = local_model();
        assert_eq!(
            model.event_sources,
            vec![
                EventSourceSpec {
                    function_logical_id: "MediaFunction".into(),
                    binary: "media".into(),
                    queue_logical_id: "MediaQueue".into(),
                    batch_size: 10,
                    batching_window: Duration::from_secs(1),
                    report_batch_item_failures: true,
                },
                EventSourceSpec {
                    function_logical_id: "ProcessorFunction".into(),
                    binary: "processor".into(),
                    queue_logical_id: "InboundQueue".into(),
                    batch_size: 10,
                    batching_window: Duration::from_secs(1),
                    report_batch_item_failures: true,
                },
                EventSourceSpec {
                    function_logical_id: "SenderFunction".into(),
                    binary: "sender".into(),
                    queue_logical_id: "CrmCommandsQueue".into(),
                    batch_size: 10,
                    batching_window: Duration::ZERO,
                    report_batch_item_failures: true,
                },
            ]
        );
    }

    #[test]
    fn window_alerts_run_on_the_schedule_parameter_and_the_webhook_has_two_routes() {
        let model = local_model();
        assert_eq!(
            model.schedules,
            vec![ScheduleSpec {
                function_logical_id: "WindowAlertsFunction".into(),
                binary: "window-alerts".into(),
                expression: "rate(1 minute)".into(),
            }]
        );
        let routes: Vec<(&str, &str, &str)> = model
            .http_routes
            .iter()
            .map(|r| (r.binary.as_str(), r.method.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("webhook", "POST", "/webhook"),
                ("webhook", "GET", "/webhook")
            ]
        );
    }

    #[test]
    fn every_variable_the_template_sets_is_documented() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md"),
        )
        .expect("docs/architecture.md");
        let model = local_model();
        for function in &model.functions {
            for name in function.environment.keys() {
                assert!(
                    docs.contains(&format!("`{name}`")),
                    "{name} ({}) is not in docs/architecture.md's environment table",
                    function.binary
                );
            }
        }
    }

    #[test]
    fn every_function_gets_its_documented_environment() {
        let model = local_model();
        let keys = |binary: &str| -> Vec<&str> {
            model
                .function_by_binary(binary)
                .unwrap_or_else(|| panic!("no function for binary {binary}"))
                .environment
                .keys()
                .map(String::as_str)
                .collect()
        };
        assert_eq!(
            keys("webhook"),
            [
                "DATA_BUCKET",
                "INBOUND_QUEUE_URL",
                "PREVIOUS_SECRET_GRACE_SECONDS",
                "RUST_LOG",
                "SECRETS_REFRESH_SECONDS",
                "SECRET_ID"
            ]
        );
        assert_eq!(
            keys("processor"),
            [
                "ALERT_LEAD_MINUTES",
                "AUDIT_RETENTION_DAYS",
                "CONSENT_RETENTION_DAYS",
                "CONTACT_RETENTION_DAYS",
                "CONVERSATION_IDLE_MINUTES",
                "CRM_EVENTS_QUEUE_URL",
                "DATA_BUCKET",
                "EXTERNAL_STATUS_PARK_SECONDS",
                "MEDIA_QUEUE_URL",
                "RATING_WINDOW_MINUTES",
                "RETENTION_DAYS",
                "RUST_LOG",
                "TABLE_NAME"
            ]
        );
        assert_eq!(
            keys("sender"),
            [
                "AUDIT_RETENTION_DAYS",
                "COMMANDS_QUEUE_URL",
                "COMMAND_MAX_AGE_SECONDS",
                "CONSENT_RETENTION_DAYS",
                "CONTACT_RETENTION_DAYS",
                "CRM_EVENTS_QUEUE_URL",
                "DATA_BUCKET",
                "EXPORT_URL_MINUTES",
                "GRAPH_API_BASE_URL",
                "GRAPH_API_VERSION",
                "MAX_IN_GROUP_WAIT_SECONDS",
                "PHONE_NUMBER_IDS",
                "PRIVACY_SECRET_ID",
                "RETENTION_DAYS",
                "RUST_LOG",
                "SECRETS_REFRESH_SECONDS",
                "SECRET_ID",
                "SEND_RATE_PER_SECOND",
                "TABLE_NAME"
            ]
        );
        assert_eq!(
            keys("window-alerts"),
            [
                "ALERT_LEAD_MINUTES",
                "AUDIT_RETENTION_DAYS",
                "COMMANDS_QUEUE_URL",
                "CONSENT_RETENTION_DAYS",
                "CONTACT_RETENTION_DAYS",
                "CONVERSATION_IDLE_MINUTES",
                "CRM_EVENTS_QUEUE_URL",
                "RETENTION_DAYS",
                "RUST_LOG",
                "TABLE_NAME"
            ]
        );
        let sender = model.function("SenderFunction").expect("SenderFunction");
        let env = |k: &str| sender.environment.get(k).cloned();
        // Each function reads only its own secret.
        assert_eq!(
            env("SECRET_ID"),
            Some(EnvValue::Ref("MetaAccessSecret".into()))
        );
        let webhook = model.function("WebhookFunction").expect("WebhookFunction");
        assert_eq!(
            webhook.environment.get("SECRET_ID"),
            Some(&EnvValue::Ref("MetaSecret".into()))
        );
        assert_eq!(
            env("GRAPH_API_VERSION"),
            Some(EnvValue::Literal("v25.0".into()))
        );
        assert_eq!(
            env("GRAPH_API_BASE_URL"),
            Some(EnvValue::Literal("https://graph.facebook.com".into()))
        );
        assert_eq!(env("RETENTION_DAYS"), Some(EnvValue::Literal("90".into())));
        assert_eq!(env("RUST_LOG"), Some(EnvValue::Literal("info".into())));
    }

    #[test]
    fn deployed_names_carry_the_default_prefix() {
        let model = Model::load(workspace_template_path(), &Parameters::defaults())
            .expect("template.yaml loads with its defaults");
        assert_eq!(
            model.table("StateTable").map(|t| t.name.as_str()),
            Some("wa-crm-bridge-wa-crm-bridge")
        );
        assert_eq!(
            model.queue("CrmEventsQueue").map(|q| q.name.as_str()),
            Some("wa-crm-bridge-crm-events.fifo")
        );
        assert_eq!(
            model.secret("MetaSecret").map(|s| s.name.as_str()),
            Some("wa-crm-bridge-wa-crm-bridge/meta")
        );
        assert_eq!(
            model.secret("MetaAccessSecret").map(|s| s.name.as_str()),
            Some("wa-crm-bridge-wa-crm-bridge/meta-access")
        );
        assert_eq!(
            model.parameters.get("ResourcePrefix").map(String::as_str),
            Some("wa-crm-bridge-")
        );
    }

    #[test]
    fn parameter_overrides_reach_names_and_environment() {
        let params = Parameters::local()
            .with("ResourcePrefix", "t1-")
            .with("MaxReceiveCount", "3")
            .with("LogLevel", "warn");
        let model = Model::load(workspace_template_path(), &params).expect("loads");
        assert_eq!(queue(&model, "InboundQueue").name, "t1-inbound");
        assert_eq!(
            queue(&model, "InboundQueue")
                .redrive
                .as_ref()
                .map(|r| r.max_receive_count),
            Some(3)
        );
        let webhook = model.function("WebhookFunction").expect("WebhookFunction");
        assert_eq!(
            webhook.environment.get("RUST_LOG"),
            Some(&EnvValue::Literal("warn".into()))
        );
    }

    #[test]
    fn rejects_a_parameter_value_outside_allowed_values() {
        let params = Parameters::local().with("LogLevel", "loud");
        let err = Model::load(workspace_template_path(), &params).expect_err("must be rejected");
        assert!(matches!(
            err,
            TemplateError::DisallowedParameterValue { ref name, .. } if name == "LogLevel"
        ));
    }

    #[test]
    fn rejects_an_override_for_an_undeclared_parameter() {
        let params = Parameters::local().with("ResourcePrefx", "x-");
        let err = Model::load(workspace_template_path(), &params).expect_err("must be rejected");
        assert!(matches!(err, TemplateError::UnknownParameter(ref p) if p == "ResourcePrefx"));
    }

    const LONG_FORM: &str = r#"
Parameters:
  Stage: { Type: String, Default: dev }
  Retry: { Type: Number, Default: 4 }
Conditions:
  IsProd: { "Fn::Equals": [{ Ref: Stage }, prod] }
Resources:
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: { "Fn::Sub": ["${Stage}-${Kind}-dlq", { Kind: orders }] }
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: { "Fn::Join": ["-", [{ Ref: Stage }, orders]] }
      VisibilityTimeout: { "Fn::If": [IsProd, 300, 60] }
      DelaySeconds: { "Fn::If": [IsProd, 5, { Ref: "AWS::NoValue" }] }
      RedrivePolicy:
        deadLetterTargetArn: { "Fn::GetAtt": [Dlq, Arn] }
        maxReceiveCount: { Ref: Retry }
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
    Properties:
      QueueName: audit
"#;

    #[test]
    fn long_form_intrinsics_and_conditions_are_understood() {
        let template = Template::parse(LONG_FORM).expect("parses");
        let dev = template.model(&Parameters::defaults()).expect("dev model");
        assert_eq!(
            dev.queues
                .iter()
                .map(|q| q.name.as_str())
                .collect::<Vec<_>>(),
            ["dev-orders-dlq", "dev-orders"]
        );
        let work = queue(&dev, "Work");
        assert_eq!(work.visibility_timeout, Duration::from_secs(60));
        assert_eq!(
            work.redrive,
            Some(Redrive {
                dlq_logical_id: "Dlq".into(),
                max_receive_count: 4,
            })
        );
        let prod = template
            .model(&Parameters::defaults().with("Stage", "prod"))
            .expect("prod model");
        assert_eq!(
            queue(&prod, "Work").visibility_timeout,
            Duration::from_secs(300)
        );
        assert!(
            prod.queue("ProdOnly").is_some(),
            "conditional resource exists in prod"
        );
        assert!(dev.queue("ProdOnly").is_none(), "and not in dev");
    }

    #[test]
    fn a_redrive_to_an_undefined_queue_is_an_error() {
        let yaml = "
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: work
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Topic.Arn
        maxReceiveCount: 3
  Topic:
    Type: AWS::SNS::Topic
";
        let err = Template::parse(yaml)
            .and_then(|t| t.model(&Parameters::defaults()))
            .expect_err("dangling redrive");
        assert!(
            matches!(err, TemplateError::DanglingReference { ref target, .. } if target == "Topic")
        );
    }

    #[test]
    fn a_queue_without_a_name_is_reported_with_its_location() {
        let yaml = "
Resources:
  Nameless:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
";
        let err = Template::parse(yaml)
            .and_then(|t| t.model(&Parameters::defaults()))
            .expect_err("nameless queue");
        match err {
            TemplateError::MissingProperty { at, property } => {
                assert_eq!(at, "/Resources/Nameless/Properties");
                assert_eq!(property, "QueueName");
            }
            other => panic!("unexpected error: {other}"),
        }
    }

    #[test]
    fn a_name_that_only_cloudformation_can_compute_is_unresolvable() {
        let yaml = "
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Select [0, [a, b]]
";
        let err = Template::parse(yaml)
            .and_then(|t| t.model(&Parameters::defaults()))
            .expect_err("unresolvable");
        assert!(
            matches!(err, TemplateError::Unresolvable { ref intrinsic, .. } if intrinsic == "Fn::Select")
        );
    }
}
