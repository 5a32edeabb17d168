//! The AWS SDK configuration, loaded once at cold start and shared by every client.
//!
//! `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) point it at the local emulator.

/// Loads region, credentials and endpoint overrides from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
