//! Errors at the two boundaries: reading the template, and talking to the emulator.

use std::path::PathBuf;

/// The template could not be read or does not describe what the local model needs.
/// `at` is a JSON-pointer-like path into the template (`/Resources/InboundQueue/Properties`).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template is not valid YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("at {at}: expected {expected}")]
    Shape { at: String, expected: &'static str },
    #[error("at {at}: missing property {property}")]
    MissingProperty { at: String, property: &'static str },
    #[error("at {at}: {name} is neither a parameter nor a resource")]
    UnknownReference { at: String, name: String },
    #[error("at {at}: {intrinsic} cannot be resolved locally")]
    Unresolvable { at: String, intrinsic: String },
    #[error("at {at}: bad Fn::Sub: {reason}")]
    BadSub { at: String, reason: &'static str },
    #[error("at {at}: nesting too deep (a Condition cycle?)")]
    TooDeep { at: String },
    #[error("parameter {0} is not declared in the template")]
    UnknownParameter(String),
    #[error("parameter {name}: {value:?} is not one of its AllowedValues")]
    DisallowedParameterValue { name: String, value: String },
    #[error("condition {0} is not declared in the template")]
    UnknownCondition(String),
    #[error("at {at}: {value:?} is not a valid {expected}")]
    InvalidValue {
        at: String,
        value: String,
        expected: &'static str,
    },
    #[error("at {at}: {target} is not a {expected} in the template")]
    DanglingReference {
        at: String,
        target: String,
        expected: &'static str,
    },
}

/// What kind of resource a logical id was expected to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Table,
    Queue,
    Secret,
    Key,
    Bucket,
    Function,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Table => "table",
            Self::Queue => "queue",
            Self::Secret => "secret",
            Self::Key => "KMS key",
            Self::Bucket => "bucket",
            Self::Function => "function",
        })
    }
}

/// A lookup in [`crate::Provisioned`] for something that was not provisioned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no {kind} with logical id {logical_id} was provisioned")]
    NotProvisioned {
        kind: ResourceKind,
        logical_id: String,
    },
    #[error("{logical_id} is not a provisioned table, queue, secret, KMS key or bucket")]
    UnknownResource { logical_id: String },
    #[error("attribute {attribute} of {logical_id} has no local value")]
    UnsupportedAttribute {
        logical_id: String,
        attribute: String,
    },
}

/// Creating a resource on the emulator failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// An SDK call failed; the source is the SDK error itself.
    #[error("{operation} {resource} failed")]
    Aws {
        operation: &'static str,
        resource: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A request could not be built from the model (a required field was missing).
    #[error("building the {operation} request for {resource}")]
    Build {
        operation: &'static str,
        resource: String,
        #[source]
        source: aws_sdk_dynamodb::error::BuildError,
    },
    /// A resource with this name already exists but differs in a way that cannot be updated.
    #[error("{resource} already exists with a different {what}; delete it or use another prefix")]
    Conflict {
        resource: String,
        what: &'static str,
    },
    /// The emulator answered without a field the SDK models as optional.
    #[error("{operation} {resource}: the response has no {field}")]
    MissingInResponse {
        operation: &'static str,
        resource: String,
        field: &'static str,
    },
    /// The template declares a secret the caller gave no value for.
    #[error("no local value for secret {logical_id}")]
    NoSecretValue { logical_id: String },
    /// The table did not become ACTIVE in time.
    #[error("table {table} is not ACTIVE after waiting")]
    TableNotActive { table: String },
    /// The model refers to a resource it does not define (a bug in model validation).
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

impl ProvisionError {
    pub(crate) fn aws<E>(operation: &'static str, resource: &str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let resource = resource.to_owned();
        move |source| Self::Aws {
            operation,
            resource,
            source: Box::new(source),
        }
    }

    pub(crate) fn build(
        operation: &'static str,
        resource: &str,
    ) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> Self {
        let resource = resource.to_owned();
        move |source| Self::Build {
            operation,
            resource,
            source,
        }
    }
}
