use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = webhook::Config::from_env(&shared::config::Env::process())?;
    let aws = shared::aws::sdk_config().await;
    let state = webhook::LiveState::live(&config, &aws);
    run(service_fn(|req| webhook::handler(&state, req))).await
}
