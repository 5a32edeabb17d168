//! Meta credentials from Secrets Manager, cached across invocations.
//!
//! The secret is one JSON document `{"app_secret","verify_token","access_token"}`. The cache is
//! trusted for a refresh interval, so a rotation takes effect without a redeploy while the hot
//! path does not call Secrets Manager per request. During a rotation the `AWSPREVIOUS` version's
//! app secret still verifies webhooks Meta signed before the switch.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::RwLock;

/// One version of the Meta credentials. `SecretString` cannot be printed or logged by accident.
#[derive(Clone, Deserialize)]
pub struct MetaSecrets {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub access_token: SecretString,
}

impl std::fmt::Debug for MetaSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetaSecrets([REDACTED])")
    }
}

/// The current version and, while a rotation is under way, the previous one.
#[derive(Clone, Debug)]
pub struct SecretVersions {
    pub current: MetaSecrets,
    pub previous: Option<MetaSecrets>,
}

impl SecretVersions {
    /// App secrets to try when verifying a webhook signature, current first.
    pub fn app_secrets(&self) -> impl Iterator<Item = &SecretString> {
        std::iter::once(&self.current.app_secret)
            .chain(self.previous.as_ref().map(|p| &p.app_secret))
    }
}

/// Why the credentials could not be read.
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
    #[error("secret {secret_id} is not the expected JSON document")]
    Shape {
        secret_id: String,
        /// Position only: serde's message would quote the secret's values.
        #[source]
        source: crate::redact::JsonError,
    },
}

/// Port: where the credentials come from.
pub trait SecretSource: Send + Sync {
    fn fetch(&self) -> impl Future<Output = Result<SecretVersions, SecretsError>> + Send;
}

/// Adapter: AWS Secrets Manager, stages `AWSCURRENT` and `AWSPREVIOUS`.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }

    async fn stage(&self, stage: &str) -> Result<Option<MetaSecrets>, SecretsError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await;
        let output = match result {
            Ok(out) => out,
            Err(err) => {
                let err = aws_sdk_secretsmanager::Error::from(err);
                if stage != "AWSCURRENT"
                    && matches!(
                        err,
                        aws_sdk_secretsmanager::Error::ResourceNotFoundException(_)
                    )
                {
                    return Ok(None);
                }
                return Err(SecretsError::Fetch {
                    secret_id: self.secret_id.clone(),
                    source: Box::new(err),
                });
            }
        };
        let text = output.secret_string().ok_or_else(|| SecretsError::Empty {
            secret_id: self.secret_id.clone(),
        })?;
        parse_secret(&self.secret_id, text).map(Some)
    }
}

/// Parses the secret's JSON document.
pub fn parse_secret(secret_id: &str, text: &str) -> Result<MetaSecrets, SecretsError> {
    serde_json::from_str(text).map_err(|source| SecretsError::Shape {
        secret_id: secret_id.to_owned(),
        source: source.into(),
    })
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<SecretVersions, SecretsError> {
        let current = self
            .stage("AWSCURRENT")
            .await?
            .ok_or_else(|| SecretsError::Empty {
                secret_id: self.secret_id.clone(),
            })?;
        // A previous version that no longer parses is not worth failing the current one for.
        let previous = self.stage("AWSPREVIOUS").await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "ignoring unreadable AWSPREVIOUS secret version");
            None
        });
        Ok(SecretVersions { current, previous })
    }
}

/// A fixed set of credentials (tests, and the local runner when no emulator is wanted).
pub struct StaticSecrets(pub SecretVersions);

impl SecretSource for StaticSecrets {
    async fn fetch(&self) -> Result<SecretVersions, SecretsError> {
        Ok(self.0.clone())
    }
}

/// Caches what a [`SecretSource`] returns for `refresh_after`. A failed refresh keeps serving
/// the last good value (and logs), so a Secrets Manager hiccup does not fail webhooks.
pub struct CachedSecrets<S> {
    source: S,
    refresh_after: Duration,
    cached: RwLock<Option<(Instant, Arc<SecretVersions>)>>,
}

impl<S: SecretSource> CachedSecrets<S> {
    pub fn new(source: S, refresh_after: Duration) -> Self {
        Self {
            source,
            refresh_after,
            cached: RwLock::new(None),
        }
    }

    /// The cached credentials, fetched first if missing or older than the refresh interval.
    pub async fn get(&self) -> Result<Arc<SecretVersions>, SecretsError> {
        if let Some((at, value)) = self.cached.read().await.as_ref() {
            if at.elapsed() < self.refresh_after {
                return Ok(Arc::clone(value));
            }
        }
        self.refresh_if_stale(false).await
    }

    /// Re-reads the source now (after Meta rejected the token, say); one caller fetches while
    /// concurrent callers wait for its result.
    pub async fn refresh(&self) -> Result<Arc<SecretVersions>, SecretsError> {
        self.refresh_if_stale(true).await
    }

    async fn refresh_if_stale(&self, force: bool) -> Result<Arc<SecretVersions>, SecretsError> {
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
    use secrecy::ExposeSecret;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    struct Counting {
        calls: AtomicUsize,
        values: Mutex<Vec<Result<&'static str, ()>>>,
    }

    impl SecretSource for Counting {
        async fn fetch(&self) -> Result<SecretVersions, SecretsError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.values.lock().unwrap().remove(0);
            match next {
                Ok(app) => Ok(SecretVersions {
                    current: MetaSecrets {
                        app_secret: app.to_owned().into(),
                        verify_token: "v".to_owned().into(),
                        access_token: "a".to_owned().into(),
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
            assert_eq!(
                cache
                    .get()
                    .await
                    .unwrap()
                    .current
                    .app_secret
                    .expose_secret(),
                "one"
            );
        }
        assert_eq!(cache.source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn picks_up_a_rotation_after_the_interval() {
        let cache = CachedSecrets::new(source(vec![Ok("one"), Ok("two")]), Duration::ZERO);
        assert_eq!(
            cache
                .get()
                .await
                .unwrap()
                .current
                .app_secret
                .expose_secret(),
            "one"
        );
        assert_eq!(
            cache
                .get()
                .await
                .unwrap()
                .current
                .app_secret
                .expose_secret(),
            "two"
        );
    }

    #[tokio::test]
    async fn keeps_the_last_good_value_when_a_refresh_fails() {
        let cache = CachedSecrets::new(source(vec![Ok("one"), Err(())]), Duration::ZERO);
        cache.get().await.unwrap();
        assert_eq!(
            cache
                .get()
                .await
                .unwrap()
                .current
                .app_secret
                .expose_secret(),
            "one"
        );
    }

    #[tokio::test]
    async fn fails_when_nothing_was_ever_read() {
        let cache = CachedSecrets::new(source(vec![Err(())]), Duration::from_secs(60));
        assert!(cache.get().await.is_err());
    }

    #[test]
    fn rejects_a_secret_missing_a_field_and_never_prints_values() {
        let err = parse_secret("s", r#"{"app_secret":"x"}"#).unwrap_err();
        assert!(matches!(err, SecretsError::Shape { .. }));
        let ok = parse_secret(
            "s",
            r#"{"app_secret":"hunter2","verify_token":"v","access_token":"a"}"#,
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
    }
}
