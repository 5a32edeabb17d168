use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = media::Config::from_env(&shared::config::Env::process())?;
    let aws = shared::aws::sdk_config().await;
    let state = media::LiveState::live(config, &aws)?;
    run(service_fn(|event| media::handler(&state, event))).await
}
