use lambda_http::{run, service_fn, Error};
use shared::config;
use shared::queue::SqsSink;
use shared::secrets::{CachedSecrets, SecretsManagerSource};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let aws = shared::aws::sdk_config().await;
    let secret_id = config::required("SECRET_ID")?;
    let refresh = config::seconds_or("SECRETS_REFRESH_SECONDS", Duration::from_secs(300))?;
    let state = webhook::State {
        secrets: CachedSecrets::new(
            SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(&aws), secret_id),
            refresh,
        ),
        inbound: SqsSink::new(
            aws_sdk_sqs::Client::new(&aws),
            config::required("INBOUND_QUEUE_URL")?,
        ),
    };
    run(service_fn(|req| webhook::handler(&state, req))).await
}
