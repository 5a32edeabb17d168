//! Adapts each function's real handler to the runner's traits, and picks it by binary name
//! (the template's `Metadata.BuildProperties.Binary`).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::budget::Deadline;
use shared::config::Env;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::apigw::HttpHandler;
use crate::esm::{self, Mapping, SqsHandler};
use crate::stack::StackError;

/// The webhook Lambda's handler behind API Gateway.
pub struct Webhook(pub webhook::LiveState);

impl HttpHandler for Webhook {
    async fn call(&self, req: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
        match webhook::handler(&self.0, req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

/// The processor Lambda's handler behind its SQS event source.
pub struct Processor(pub processor::LiveState);

impl SqsHandler for Processor {
    async fn call(
        &self,
        event: SqsEvent,
        deadline: Deadline,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        Ok(processor::process_event(&self.0, event, &deadline).await)
    }
}

/// The sender Lambda's handler behind its SQS event source.
pub struct Sender(pub sender::LiveState);

impl SqsHandler for Sender {
    async fn call(
        &self,
        event: SqsEvent,
        deadline: Deadline,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        sender::handler(&self.0, event, &deadline).await
    }
}

fn config_error(function: &str) -> impl FnOnce(shared::config::ConfigError) -> StackError + '_ {
    move |source| StackError::Config {
        function: function.to_owned(),
        source,
    }
}

/// Starts the event source mapping for the function built from `binary`.
pub async fn spawn_consumer(
    binary: &str,
    env: Env,
    sdk: &aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
    mapping: Mapping,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Result<(), StackError> {
    match binary {
        "processor" => {
            let config = processor::Config::from_env(&env).map_err(config_error(binary))?;
            let handler = Arc::new(Processor(processor::LiveState::live(config, sdk)));
            tasks.spawn(esm::run(sqs, mapping, handler, shutdown));
        }
        "sender" => {
            let config = sender::Config::from_env(&env).map_err(config_error(binary))?;
            let state = sender::LiveState::live(&config, sdk).map_err(|e| StackError::Start {
                function: binary.to_owned(),
                source: Box::new(e),
            })?;
            tasks.spawn(esm::run(sqs, mapping, Arc::new(Sender(state)), shutdown));
        }
        other => return Err(StackError::UnknownFunction(other.to_owned())),
    }
    Ok(())
}

/// The window-alerts Lambda behind the schedule: each tick is one `run_once` at the tick's time.
pub struct WindowAlerts(pub window_alerts::LiveState);

impl crate::schedule::Scheduled for WindowAlerts {
    async fn tick(&self, now_ms: i64) -> Result<(), lambda_runtime::Error> {
        window_alerts::scheduled_run(&self.0, now_ms).await?;
        Ok(())
    }
}

/// Starts the schedule for the function built from `binary`.
pub async fn spawn_scheduled(
    binary: &str,
    env: Env,
    sdk: &aws_config::SdkConfig,
    every: Duration,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Result<(), StackError> {
    match binary {
        "window-alerts" => {
            let config =
                window_alerts::Config::from_env(&env).map_err(|source| StackError::Config {
                    function: binary.to_owned(),
                    source,
                })?;
            let state = window_alerts::LiveState::live(config, sdk);
            let scheduled = std::sync::Arc::new(WindowAlerts(state));
            tasks.spawn(crate::schedule::run(scheduled, every, shutdown));
        }
        other => return Err(StackError::UnknownFunction(other.to_owned())),
    }
    Ok(())
}
