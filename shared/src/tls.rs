//! One TLS stack for every outbound connection of a function: rustls with ring.
//!
//! ring instead of aws-lc-rs (the SDK's and reqwest's default) keeps each arm64 bootstrap about
//! a megabyte smaller (docs/performance.md); TLS 1.2/1.3 with the same cipher suites either way.

use std::sync::Arc;

use aws_sdk_sqs::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use rustls::crypto::CryptoProvider;

/// The SDK's HTTPS client: its default client (hyper, rustls, proxy settings from the
/// environment, the SDK's timeouts and sleep) with ring as the crypto provider.
pub fn sdk_http_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// A reqwest builder whose TLS uses ring. reqwest (feature `rustls-no-provider`) takes the
/// process's default rustls provider when it builds a client, so this installs ring as that
/// default first, unless one is installed already.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    install_ring();
    reqwest::Client::builder()
}

/// Installs ring as the process's default rustls provider; a no-op when one is set.
fn install_ring() {
    if CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The provider [`http_client_builder`]'s clients use.
pub fn provider() -> Option<Arc<CryptoProvider>> {
    CryptoProvider::get_default().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kx_names(provider: &CryptoProvider) -> Vec<String> {
        provider
            .kx_groups
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect()
    }

    #[test]
    fn a_reqwest_client_builds_with_ring_as_the_process_provider() {
        let built = http_client_builder().build();
        assert!(built.is_ok(), "{built:?}");
        let installed = provider().expect("a default provider after building a client");
        assert_eq!(
            kx_names(&installed),
            kx_names(&rustls::crypto::ring::default_provider())
        );
    }
}
