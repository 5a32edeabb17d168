use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = processor::Config::from_env(&shared::config::Env::process())?;
    let aws = shared::aws::sdk_config().await;
    let state = processor::LiveState::live(config, &aws);
    run(service_fn(|event| processor::handler(&state, event))).await
}
