//! Local AWS derived from `template.yaml`.
//!
//! [`Template`] reads the SAM template and builds a typed [`Model`] (tables, queues, secrets, KMS
//! keys, buckets and how functions are wired to them) with the given [`Parameters`]; [`provision`] creates the
//! same resources on the local emulator (moto). Names therefore come from one place: with
//! [`Parameters::local`] they are exactly the local names in `docs/architecture.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use local_aws::{local_sdk_config, provision, workspace_template_path};
//! use local_aws::{Clients, Model, Parameters};
//!
//! let model = Model::load(workspace_template_path(), &Parameters::local())?;
//! let clients = Clients::new(&local_sdk_config().await);
//! let secrets = [
//!     ("MetaSecret".to_owned(), r#"{"app_secret":"s","verify_token":"v"}"#.to_owned()),
//!     ("MetaAccessSecret".to_owned(), r#"{"access_token":"t"}"#.to_owned()),
//!     ("PrivacySecret".to_owned(), r#"{"hash_key":"k"}"#.to_owned()),
//! ];
//! let provisioned = provision(&model, &clients, &secrets.into_iter().collect()).await?;
//! let crm_events = provisioned.queue_url("CrmEventsQueue")?;
//! # let _ = crm_events;
//! # Ok(())
//! # }
//! ```

mod error;
pub mod iam;
mod model;
mod provision;
mod template;

pub use error::{LookupError, ProvisionError, ResourceKind, TemplateError};
pub use model::{
    AttributeDefinition, AttributeType, BillingMode, BucketSpec, EnvValue, EventSourceSpec,
    FunctionSpec, GsiSpec, HttpRouteSpec, KeySchema, KeySpec, LifecycleRule, Model, Projection,
    QueueSpec, Redrive, ScheduleSpec, SecretSpec, TableSpec, Throughput,
};
pub use provision::{
    local_s3, local_sdk_config, one_value_for_each_secret, provision, Clients, Provisioned,
    DEFAULT_ENDPOINT,
};
pub use template::{workspace_template_path, Parameters, Template};
