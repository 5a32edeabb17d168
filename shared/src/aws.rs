//! The AWS SDK configuration, loaded once at cold start and shared by every client.
//!
//! `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) point it at the local emulator.

/// Loads region, credentials and endpoint overrides from the environment; every client and
/// credential provider of this config connects through [`crate::tls::sdk_http_client`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client())
        .load()
        .await
}
