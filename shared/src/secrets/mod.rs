//! Meta credentials from Secrets Manager, cached across invocations.
//!
//! Each function reads only its own secret: the webhook [`AppCredentials`]
//! (`{"app_secret","verify_token"}`), the sender [`AccessTokens`] (`{"access_token"}`, optionally
//! `{"access_tokens": {"<phone_number_id>": "<token>"}}`). The cache is trusted for a refresh
//! interval, so a rotation takes effect without a redeploy while the hot path does not call
//! Secrets Manager per request. Each version keeps its `CreatedDate`, so what a version is
//! trusted for is decided when it is used, with the caller's clock ([`app`]).

pub mod access;
pub mod app;
mod aws;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

pub use access::AccessTokens;
pub use app::{AppCredentials, AppSecretUnset};
pub use aws::SecretsManagerSource;

/// Values an operator may leave in a secret before setting the real one (compared trimmed and
/// case-insensitively; empty and whitespace-only values count too). `set-me` is what earlier
/// templates wrote; the rest are what people type or paste from examples. None of them is ever
/// used as a key or token.
pub const PLACEHOLDERS: &[&str] = &[
    "set-me",
    "setme",
    "change-me",
    "changeme",
    "replace-me",
    "placeholder",
    "todo",
    "xxx",
    "null",
    "none",
    "...",
    "…",
];

/// Whether `value` is no credential at all: empty, whitespace, one of [`PLACEHOLDERS`], or an
/// example in angle brackets (`<app secret>`).
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || PLACEHOLDERS.iter().any(|p| v.eq_ignore_ascii_case(p))
        || (v.starts_with('<') && v.ends_with('>'))
}

/// One version of a secret with the time Secrets Manager created it (its `CreatedDate`).
#[derive(Clone, Debug)]
pub struct Version<T> {
    pub value: T,
    /// Milliseconds since the epoch; `None` when the source did not say (never trusted as recent).
    pub created_ms: Option<i64>,
}

/// The `AWSCURRENT` version and, if one exists, the `AWSPREVIOUS` one. Whether the previous
/// version may still be used is the document type's rule (see [`app`]), not the cache's.
#[derive(Clone, Debug)]
pub struct SecretVersions<T> {
    pub current: Version<T>,
    pub previous: Option<Version<T>>,
}

/// Why the credentials could not be read (or are not set).
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("could not read secret {secret_id} from Secrets Manager")]
    Fetch {
        secret_id: String,
        #[source]
        source: Box<aws_sdk_secretsmanager::Error>,
    },
    #[error("secret {secret_id} holds no string value")]
    Empty { secret_id: String },
    /// The serde error is not kept: its message can quote the secret's text.
    #[error("secret {secret_id} is not the expected JSON document ({reason})")]
    Shape {
        secret_id: String,
        reason: &'static str,
    },
    /// The secret is readable but the credential asked for is unset or a placeholder.
    #[error("the {what} in the secret is unset or a placeholder; the operator must set it")]
    Unset { what: &'static str },
}

/// Port: where one secret's versions come from.
pub trait SecretSource: Send + Sync {
    /// The JSON document the secret holds.
    type Value: Send + Sync;

    fn fetch(
        &self,
    ) -> impl Future<Output = Result<SecretVersions<Self::Value>, SecretsError>> + Send;
}

/// Parses a secret's JSON document into `T`.
pub fn parse_secret<T: DeserializeOwned>(secret_id: &str, text: &str) -> Result<T, SecretsError> {
    serde_json::from_str(text).map_err(|err| SecretsError::Shape {
        secret_id: secret_id.to_owned(),
        reason: match err.classify() {
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            _ => "not valid JSON",
        },
    })
}

/// A fixed set of versions (tests).
pub struct StaticSecrets<T>(pub SecretVersions<T>);

impl<T: Clone + Send + Sync> SecretSource for StaticSecrets<T> {
    type Value = T;

    async fn fetch(&self) -> Result<SecretVersions<T>, SecretsError> {
        Ok(self.0.clone())
    }
}

type Cached<T> = Option<(Instant, Arc<SecretVersions<T>>)>;

/// Caches what a [`SecretSource`] returns for `refresh_after`. A failed refresh keeps serving
/// the last good value (and logs), so a Secrets Manager hiccup does not fail webhooks.
pub struct CachedSecrets<S: SecretSource> {
    source: S,
    refresh_after: Duration,
    cached: RwLock<Cached<S::Value>>,
}

impl<S: SecretSource> CachedSecrets<S> {
    pub fn new(source: S, refresh_after: Duration) -> Self {
        Self {
            source,
            refresh_after,
            cached: RwLock::new(None),
        }
    }

    /// The source, for tests that count its reads.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The cached versions, fetched first if missing or older than the refresh interval.
    pub async fn get(&self) -> Result<Arc<SecretVersions<S::Value>>, SecretsError> {
        if let Some((at, value)) = self.cached.read().await.as_ref() {
            if at.elapsed() < self.refresh_after {
                return Ok(Arc::clone(value));
            }
        }
        self.refresh_if_stale(false).await
    }

    /// Re-reads the source now (after Meta rejected the token, say); one caller fetches while
    /// concurrent callers wait for its result.
    pub async fn refresh(&self) -> Result<Arc<SecretVersions<S::Value>>, SecretsError> {
        self.refresh_if_stale(true).await
    }

    async fn refresh_if_stale(
        &self,
        force: bool,
    ) -> Result<Arc<SecretVersions<S::Value>>, SecretsError> {
        let started = Instant::now();
        let mut slot = self.cached.write().await;
        if let Some((at, value)) = slot.as_ref() {
            // Someone refreshed while we waited for the lock.
            let fresh_enough = if force {
                *at >= started
            } else {
                at.elapsed() < self.refresh_after
            };
            if fresh_enough {
                return Ok(Arc::clone(value));
            }
        }
        match self.source.fetch().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *slot = Some((Instant::now(), Arc::clone(&fresh)));
                Ok(fresh)
            }
            Err(err) => match slot.as_ref() {
                Some((_, stale)) if !force => {
                    tracing::warn!(error = %err, "secret refresh failed; serving the cached value");
                    Ok(Arc::clone(stale))
                }
                _ => Err(err),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    struct Counting {
        calls: AtomicUsize,
        values: Mutex<Vec<Result<&'static str, ()>>>,
    }

    impl SecretSource for Counting {
        type Value = &'static str;

        async fn fetch(&self) -> Result<SecretVersions<&'static str>, SecretsError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.values.lock().unwrap().remove(0);
            match next {
                Ok(value) => Ok(SecretVersions {
                    current: Version {
                        value,
                        created_ms: Some(0),
                    },
                    previous: None,
                }),
                Err(()) => Err(SecretsError::Empty {
                    secret_id: "x".into(),
                }),
            }
        }
    }

    fn source(values: Vec<Result<&'static str, ()>>) -> Counting {
        Counting {
            calls: AtomicUsize::new(0),
            values: Mutex::new(values),
        }
    }

    #[tokio::test]
    async fn serves_from_cache_until_the_refresh_interval_passes() {
        let cache = CachedSecrets::new(source(vec![Ok("one"), Ok("two")]), Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(cache.get().await.unwrap().current.value, "one");
        }
        assert_eq!(cache.source().calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn picks_up_a_rotation_after_the_interval() {
        let cache = CachedSecrets::new(source(vec![Ok("one"), Ok("two")]), Duration::ZERO);
        assert_eq!(cache.get().await.unwrap().current.value, "one");
        assert_eq!(cache.get().await.unwrap().current.value, "two");
    }

    #[tokio::test]
    async fn a_forced_refresh_reads_the_source_even_within_the_interval() {
        let cache = CachedSecrets::new(source(vec![Ok("one"), Ok("two")]), Duration::from_secs(60));
        assert_eq!(cache.get().await.unwrap().current.value, "one");
        assert_eq!(cache.refresh().await.unwrap().current.value, "two");
        assert_eq!(cache.get().await.unwrap().current.value, "two");
    }

    #[tokio::test]
    async fn keeps_the_last_good_value_when_a_refresh_fails() {
        let cache = CachedSecrets::new(source(vec![Ok("one"), Err(())]), Duration::ZERO);
        cache.get().await.unwrap();
        assert_eq!(cache.get().await.unwrap().current.value, "one");
    }

    #[tokio::test]
    async fn fails_when_nothing_was_ever_read() {
        let cache = CachedSecrets::new(source(vec![Err(())]), Duration::from_secs(60));
        assert!(cache.get().await.is_err());
    }

    #[test]
    fn placeholders_are_empty_blank_listed_or_bracketed_examples() {
        for p in [
            "",
            "  ",
            "\t\n",
            "set-me",
            "SET-ME",
            " set-me ",
            "changeme",
            "<app secret>",
            "…",
        ] {
            assert!(is_placeholder(p), "{p:?} is a placeholder");
        }
        for key in [
            "local-app-secret",
            "0123456789abcdef0123456789abcdef",
            "set-me-not",
        ] {
            assert!(!is_placeholder(key), "{key:?} is a key");
        }
    }

    #[test]
    fn a_malformed_document_is_an_error_that_does_not_quote_the_secret() {
        let err = parse_secret::<AppCredentials>("s", r#"{"app_secret":hunter2}"#).unwrap_err();
        assert!(matches!(err, SecretsError::Shape { .. }));
        assert!(!format!("{err:?} {err}").contains("hunter2"));
        let err = parse_secret::<AppCredentials>("s", r#"{"app_secret":["hunter2"]}"#).unwrap_err();
        assert!(!format!("{err:?} {err}").contains("hunter2"));
    }
}
