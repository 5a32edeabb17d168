use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = sender::Config::from_env(&shared::config::Env::process())?;
    let aws = shared::aws::sdk_config().await;
    let state = &sender::LiveState::live(&config, &aws)?;
    run(service_fn(|ev: LambdaEvent<SqsEvent>| {
        let deadline = shared::budget::Deadline::of(&ev.context);
        async move { sender::handler(state, ev.payload, &deadline).await }
    }))
    .await
}
