//! Where the commands act: the local stack (names from the embedded `template.yaml`, endpoints
//! of `make run`, the local administrator's credentials) or a deployed stack (its outputs).

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use secrecy::SecretString;

use crate::cli::TargetArgs;
use crate::error::{aws, CliError};

/// The template the local stack is provisioned from, built in: the binary works from `target/`
/// without a checkout next to it.
const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The queues an operator addresses by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Inbound,
    CrmEvents,
    CrmCommands,
}

impl Queue {
    pub const ALL: [Self; 3] = [Self::Inbound, Self::CrmEvents, Self::CrmCommands];

    fn logical_id(self) -> &'static str {
        match self {
            Self::Inbound => "InboundQueue",
            Self::CrmEvents => "CrmEventsQueue",
            Self::CrmCommands => "CrmCommandsQueue",
        }
    }

    fn output(self) -> &'static str {
        match self {
            Self::Inbound => "InboundQueueUrl",
            Self::CrmEvents => "CrmEventsQueueUrl",
            Self::CrmCommands => "CrmCommandsQueueUrl",
        }
    }
}

/// How a queue is known before it is asked for: by name (local) or by URL (outputs).
#[derive(Debug, Clone)]
enum QueueRef {
    Name(String),
    Url(String),
}

/// A resolved target with its clients, built once.
pub struct Target {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// For messages: `the local stack at http://…` or `stack NAME`.
    pub label: String,
    sqs_endpoint: String,
    queues: BTreeMap<&'static str, QueueRef>,
    pub table: String,
    pub webhook_url: String,
    /// The webhook's secret (name or ARN), holding the app secret.
    pub meta_secret_id: String,
    pub phone_number_ids: Vec<String>,
    /// The resource prefix (local) or the stack name, to match DLQ names given without it.
    pub prefix: String,
}

impl Target {
    pub async fn resolve(args: &TargetArgs) -> Result<Self, CliError> {
        match &args.stack {
            Some(stack) => Self::deployed(args, stack).await,
            None => Self::local(args).await,
        }
    }

    async fn local(args: &TargetArgs) -> Result<Self, CliError> {
        let model = local_aws::Template::parse(TEMPLATE)?
            .model(&local_aws::Parameters::local().with("ResourcePrefix", args.prefix.clone()))?;
        let region = args
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned());
        // The local AWS enforces IAM: sign as its administrator, never with the shell's
        // credentials for a real account.
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "wa-bridge",
            ))
            .load()
            .await;
        let dynamodb_endpoint = match &args.dynamodb_endpoint_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => next_port(&args.endpoint_url)?,
        };
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&base)
                .endpoint_url(&args.endpoint_url)
                .build(),
        );
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&base)
                .endpoint_url(&args.endpoint_url)
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&base)
                .endpoint_url(&dynamodb_endpoint)
                .build(),
        );
        let queues = Queue::ALL
            .iter()
            .filter_map(|q| {
                let spec = model.queue(q.logical_id())?;
                Some((q.logical_id(), QueueRef::Name(spec.name.clone())))
            })
            .collect();
        let table = model
            .table("StateTable")
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let meta_secret_id = model
            .secret("MetaSecret")
            .map(|s| s.name.clone())
            .unwrap_or_default();
        Ok(Self {
            sqs,
            dynamodb,
            secrets,
            label: format!("the local stack at {}", args.endpoint_url),
            sqs_endpoint: args.endpoint_url.clone(),
            queues,
            table,
            webhook_url: args.webhook_url.clone(),
            meta_secret_id,
            phone_number_ids: split_ids(
                model
                    .parameters
                    .get("PhoneNumberIds")
                    .map_or("", String::as_str),
            ),
            prefix: args.prefix.clone(),
        })
    }

    async fn deployed(args: &TargetArgs, stack: &str) -> Result<Self, CliError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        let config = loader.load().await;
        let endpoint = config
            .endpoint_url()
            .map_or_else(|| "AWS".to_owned(), str::to_owned);
        let cfn = aws_sdk_cloudformation::Client::new(&config);
        let out = match cfn.describe_stacks().stack_name(stack).send().await {
            Ok(out) => out,
            Err(err) => {
                // CloudFormation answers a missing stack with a ValidationError.
                let missing = err
                    .as_service_error()
                    .and_then(|e| aws_sdk_cloudformation::error::ProvideErrorMetadata::message(e))
                    .is_some_and(|m| m.contains("does not exist"));
                if missing {
                    return Err(CliError::StackMissing(stack.to_owned()));
                }
                return Err(aws("DescribeStacks", "CloudFormation", &endpoint, err));
            }
        };
        let outputs: BTreeMap<String, String> = out
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect()
            })
            .ok_or_else(|| CliError::StackMissing(stack.to_owned()))?;
        let output = |name: &'static str| -> Result<String, CliError> {
            outputs
                .get(name)
                .cloned()
                .ok_or_else(|| CliError::OutputMissing {
                    stack: stack.to_owned(),
                    output: name,
                })
        };
        let mut queues = BTreeMap::new();
        for q in Queue::ALL {
            queues.insert(q.logical_id(), QueueRef::Url(output(q.output())?));
        }
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            label: format!("stack {stack}"),
            sqs_endpoint: endpoint,
            queues,
            table: output("StateTableName")?,
            webhook_url: output("WebhookUrl")?,
            meta_secret_id: output("MetaSecretArn")?,
            phone_number_ids: split_ids(&output("PhoneNumberIds")?),
            prefix: String::new(),
        })
    }

    /// The queue's URL; a queue the target does not have is [`CliError::QueueMissing`].
    pub async fn queue_url(&self, queue: Queue) -> Result<String, CliError> {
        match self.queues.get(queue.logical_id()) {
            Some(QueueRef::Url(url)) => Ok(url.clone()),
            Some(QueueRef::Name(name)) => self.queue_url_by_name(name).await,
            None => Err(CliError::QueueMissing {
                name: queue.logical_id().to_owned(),
                target: self.label.clone(),
            }),
        }
    }

    pub async fn queue_url_by_name(&self, name: &str) -> Result<String, CliError> {
        match self.sqs.get_queue_url().queue_name(name).send().await {
            Ok(out) => out
                .queue_url()
                .map(str::to_owned)
                .ok_or_else(|| CliError::QueueMissing {
                    name: name.to_owned(),
                    target: self.label.clone(),
                }),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_queue_does_not_exist()) =>
            {
                Err(CliError::QueueMissing {
                    name: name.to_owned(),
                    target: self.label.clone(),
                })
            }
            Err(err) => Err(self.sqs_error("GetQueueUrl", err)),
        }
    }

    /// One attribute of a queue, if it has it.
    pub async fn queue_attribute(
        &self,
        url: &str,
        name: QueueAttributeName,
    ) -> Result<Option<String>, CliError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(|e| self.sqs_error("GetQueueAttributes", e))?;
        Ok(out.attributes().and_then(|a| a.get(&name)).cloned())
    }

    pub fn sqs_error<E, R>(
        &self,
        operation: &'static str,
        err: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> CliError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        aws(operation, "SQS", &self.sqs_endpoint, err)
    }

    pub fn dynamodb_error<E, R>(
        &self,
        operation: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> CliError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        aws(operation, "DynamoDB", "the state table's endpoint", err)
    }

    /// The business number a command or lookup uses: `--from`, else the stack's first.
    pub fn business(&self, from: Option<&str>) -> Result<String, CliError> {
        from.map(str::to_owned)
            .or_else(|| self.phone_number_ids.first().cloned())
            .ok_or_else(|| {
                CliError::Usage("no business phone number id: pass --from <phone_number_id>".into())
            })
    }

    /// The webhook's app secret: `WA_BRIDGE_APP_SECRET`, else the stack's secret.
    pub async fn app_secret(&self) -> Result<SecretString, CliError> {
        if let Some(s) = std::env::var("WA_BRIDGE_APP_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
        {
            return Ok(s.into());
        }
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(&self.meta_secret_id)
            .send()
            .await
            .map_err(|e| aws("GetSecretValue", "Secrets Manager", &self.sqs_endpoint, e))?;
        let value: serde_json::Value = out
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        value["app_secret"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .ok_or_else(|| {
                CliError::Failed(format!(
                    "the secret {} holds no app_secret (see README, Secrets)",
                    self.meta_secret_id
                ))
            })
    }
}

/// `http://127.0.0.1:4566` → `http://127.0.0.1:4567` (`make run`'s DynamoDB moto).
fn next_port(endpoint: &str) -> Result<String, CliError> {
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|_| CliError::Usage(format!("--endpoint-url {endpoint} is not a URL")))?;
    let port = url
        .port_or_known_default()
        .and_then(|p| p.checked_add(1))
        .ok_or_else(|| CliError::Usage(format!("--endpoint-url {endpoint} has no port")))?;
    url.set_port(Some(port))
        .map_err(|()| CliError::Usage(format!("--endpoint-url {endpoint} takes no port")))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn split_ids(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_listens_on_the_next_port() {
        assert_eq!(
            next_port("http://127.0.0.1:4566").ok().as_deref(),
            Some("http://127.0.0.1:4567")
        );
        assert!(matches!(next_port("not a url"), Err(CliError::Usage(_))));
    }

    #[test]
    fn the_built_in_template_names_the_local_resources() {
        let model = local_aws::Template::parse(TEMPLATE)
            .and_then(|t| t.model(&local_aws::Parameters::local()))
            .map_err(|e| shared::telemetry::error_chain(&e));
        let model = model.as_ref().map_err(String::as_str);
        assert_eq!(
            model.map(|m| m.queue("CrmEventsQueue").map(|q| q.name.as_str())),
            Ok(Some("crm-events.fifo"))
        );
        assert_eq!(
            model.map(|m| m.parameters.get("PhoneNumberIds").map(String::as_str)),
            Ok(Some("106540352242922"))
        );
    }
}
