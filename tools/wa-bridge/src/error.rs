//! What can go wrong, each with the exit code a script can branch on (listed in `--help`).

use std::path::PathBuf;

use aws_sdk_sqs::error::SdkError;

/// Exit codes: 1 a command ended other than accepted (or a replay was refused, a move failed),
/// 2 bad arguments, 3 something named does not exist, 4 a wait timed out, 5 AWS or the network.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach {service} at {endpoint}: is the stack running (`make run`)?")]
    Unreachable {
        service: &'static str,
        endpoint: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{operation} failed")]
    Aws {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("queue {name} does not exist on {target}")]
    QueueMissing { name: String, target: String },
    #[error("stack {0} does not exist in this region (or these credentials cannot see it)")]
    StackMissing(String),
    #[error("stack {stack} has no output {output}: deploy this version of template.yaml")]
    OutputMissing { stack: String, output: &'static str },
    #[error("no contact {who} on business number {business}")]
    ContactMissing { who: String, business: String },
    #[error("{0} is not a dead-letter queue of this stack (see `wa-bridge dlq list`)")]
    DlqMissing(String),
    #[error("no outcome for command {command_id} within {seconds} s; it is still queued or waiting (`wa-bridge events tail` shows its outcome later)")]
    Timeout { command_id: String, seconds: u64 },
    #[error("cannot read {}", .path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state table could not be read")]
    Store(#[from] shared::store::StoreError),
    #[error("cannot post to the webhook at {url}")]
    Webhook {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the message could not be enqueued")]
    Queue(#[from] shared::queue::QueueError),
    #[error("local template")]
    Template(#[from] local_aws::TemplateError),
    /// The command ran and reported its own failure (already printed).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::QueueMissing { .. }
            | Self::StackMissing(_)
            | Self::OutputMissing { .. }
            | Self::ContactMissing { .. }
            | Self::DlqMissing(_)
            | Self::File { .. } => 3,
            Self::Timeout { .. } => 4,
            Self::Unreachable { .. }
            | Self::Aws { .. }
            | Self::Store(_)
            | Self::Webhook { .. }
            | Self::Queue(_)
            | Self::Template(_) => 5,
        }
    }
}

/// An SDK error as a [`CliError`]: a request that never reached the service is `Unreachable`
/// (the usual cause locally: `make run` is not going).
pub fn aws<E, R>(
    operation: &'static str,
    service: &'static str,
    endpoint: &str,
    err: SdkError<E, R>,
) -> CliError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => CliError::Unreachable {
            service,
            endpoint: endpoint.to_owned(),
            source: Box::new(err),
        },
        other => CliError::Aws {
            operation,
            source: Box::new(other),
        },
    }
}
