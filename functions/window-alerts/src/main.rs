//! The window-alerts Lambda: builds its state once, then runs each scheduled tick.

// The tick awaits the alerts and the scheduled-command put-backs through the AWS SDK's deeply
// nested futures; computing the layout of `main`'s future needs more than the default 128 levels.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = window_alerts::Config::from_env(&shared::config::Env::process())?;
    let aws = shared::aws::sdk_config().await;
    let state = window_alerts::LiveState::live(config, &aws);
    run(service_fn(|event| window_alerts::handler(&state, event))).await
}
