//! Adapter: AWS Secrets Manager, stages `AWSCURRENT` and `AWSPREVIOUS`, each with the
//! `CreatedDate` `GetSecretValue` returns for that version (`ListSecretVersionIds` is not used:
//! moto reports every version there as created now).

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::{parse_secret, SecretSource, SecretVersions, SecretsError, Version};

/// Reads one secret whose JSON document is `T`.
pub struct SecretsManagerSource<T> {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    /// Whether `AWSPREVIOUS` is read too (a second call per refresh).
    previous: bool,
    document: PhantomData<fn() -> T>,
}

impl<T> SecretsManagerSource<T> {
    /// Reads `AWSCURRENT` only, one call per refresh (the sender's access tokens: nothing reads
    /// their previous version).
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            previous: false,
            document: PhantomData,
        }
    }

    /// Reads `AWSPREVIOUS` too: for a document whose previous version stays valid for a while
    /// after a rotation (the webhook's app secret).
    pub fn with_previous(self) -> Self {
        Self {
            previous: true,
            ..self
        }
    }
}

impl<T: DeserializeOwned> SecretsManagerSource<T> {
    async fn stage(&self, stage: &str) -> Result<Option<Version<T>>, SecretsError> {
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
        Ok(Some(Version {
            value: parse_secret(&self.secret_id, text)?,
            created_ms: output.created_date().and_then(|d| d.to_millis().ok()),
        }))
    }
}

impl<T: DeserializeOwned + Send + Sync> SecretSource for SecretsManagerSource<T> {
    type Value = T;

    async fn fetch(&self) -> Result<SecretVersions<T>, SecretsError> {
        let current = self
            .stage("AWSCURRENT")
            .await?
            .ok_or_else(|| SecretsError::Empty {
                secret_id: self.secret_id.clone(),
            })?;
        if !self.previous {
            return Ok(SecretVersions {
                current,
                previous: None,
            });
        }
        // A previous version that no longer parses is not worth failing the current one for.
        let previous = self.stage("AWSPREVIOUS").await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "ignoring unreadable AWSPREVIOUS secret version");
            None
        });
        Ok(SecretVersions { current, previous })
    }
}
