//! Meta's media download, in two calls with the business number's bearer token: `GET
//! /{version}/{media-id}` answers a URL (it lives 5 minutes) and the media's hex sha256; the URL
//! answers the bytes. Errors are classed here: what a later attempt may fix is retryable, what
//! it cannot (Meta does not know the media id any more, the file is over our limit) permanent.
//! Meta blocks `GET /{media-id}` for an hour after five failed calls per number within an hour,
//! so a permanent refusal is never retried.

use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use secrecy::ExposeSecret;
use serde::Deserialize;
use shared::secrets::{AccessTokens, CachedSecrets, SecretSource, SecretsError};

/// What Meta gave for a media id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The metadata's `mime_type`.
    pub mime_type: Option<String>,
    /// The metadata's `sha256` (hex).
    pub sha256: Option<String>,
}

/// Why a media could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no usable access token for the business number")]
    Token(#[from] SecretsError),
    #[error("Graph refused the media id (code {code})")]
    Refused { code: i64 },
    #[error("the {call} answered HTTP {status}")]
    Status { call: &'static str, status: u16 },
    #[error("no answer from the {call}")]
    Transport {
        call: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("the media answer has no usable url")]
    NoUrl,
    #[error("the media URL is not on Meta's hosts")]
    ForeignUrl,
    #[error("the media is over MEDIA_MAX_BYTES ({limit} bytes)")]
    TooLarge { limit: usize },
}

/// Meta's codes that a later call may get past (server, throttling, token being rotated).
const RETRYABLE_CODES: [i64; 10] = [1, 2, 4, 190, 80007, 130429, 131000, 131016, 131057, 133004];

impl FetchError {
    /// Whether no later attempt can succeed: the copy ends in `message.media_failed`.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Refused { code } => !RETRYABLE_CODES.contains(code),
            Self::TooLarge { .. } | Self::ForeignUrl => true,
            Self::Token(_) | Self::Status { .. } | Self::Transport { .. } | Self::NoUrl => false,
        }
    }

    /// Meta's error code, when Meta answered one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Refused { code } => Some(*code),
            _ => None,
        }
    }
}

/// Port: the media behind a media id, for the business number that received it.
pub trait MediaSource: Send + Sync {
    fn fetch(
        &self,
        business: &str,
        media_id: &str,
    ) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}

/// Adapter: reqwest with the cached access tokens (the sender's secret).
pub struct GraphMedia<S: SecretSource> {
    http: reqwest::Client,
    base_url: String,
    version: String,
    max_bytes: usize,
    secrets: CachedSecrets<S>,
}

impl<S: SecretSource<Value = AccessTokens>> GraphMedia<S> {
    pub fn new(
        base_url: &str,
        version: &str,
        timeout: Duration,
        max_bytes: usize,
        secrets: CachedSecrets<S>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: shared::tls::http_client_builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(3))
                // The bearer token must never follow a redirect to another host.
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
            max_bytes,
            secrets,
        })
    }

    /// The bearer token goes only to Meta's media hosts over TLS, or to the Graph base URL's own
    /// origin (the local simulator).
    fn may_receive_token(&self, url: &Url) -> bool {
        let meta_host = url.host_str().is_some_and(|host| {
            ["fbsbx.com", "fbcdn.net", "facebook.com", "whatsapp.net"]
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        });
        let same_origin =
            Url::parse(&self.base_url).is_ok_and(|base| base.origin() == url.origin());
        (url.scheme() == "https" && meta_host) || same_origin
    }
}

/// The part of Graph's answer to `GET /{media-id}` the copy uses.
#[derive(Deserialize)]
struct MediaAnswer {
    url: Option<String>,
    mime_type: Option<String>,
    sha256: Option<String>,
}

/// Graph's error body, as far as the class needs it.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorCode,
}

#[derive(Deserialize)]
struct ErrorCode {
    code: i64,
}

impl<S: SecretSource<Value = AccessTokens>> MediaSource for GraphMedia<S> {
    async fn fetch(&self, business: &str, media_id: &str) -> Result<Fetched, FetchError> {
        let secrets = self.secrets.get().await?;
        let token = secrets
            .current
            .value
            .for_number(business)
            .ok_or(SecretsError::Unset {
                what: "access token for this phone number id",
            })?;
        const METADATA: &str = "media metadata call";
        let url = format!("{}/{}/{}", self.base_url, self.version, media_id);
        let response = self
            .http
            .get(&url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|source| FetchError::Transport {
                call: METADATA,
                source,
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| FetchError::Transport {
                call: METADATA,
                source,
            })?;
        if let Ok(ErrorAnswer { error }) = serde_json::from_str::<ErrorAnswer>(&text) {
            if error.code == 190 {
                // Rotated under us: the next attempt reads the secret again.
                let _ = self.secrets.refresh().await;
            }
            return Err(FetchError::Refused { code: error.code });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                call: METADATA,
                status: status.as_u16(),
            });
        }
        let answer: MediaAnswer = serde_json::from_str(&text).map_err(|_| FetchError::NoUrl)?;
        let download = answer
            .url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .ok_or(FetchError::NoUrl)?;
        if !self.may_receive_token(&download) {
            return Err(FetchError::ForeignUrl);
        }
        let bytes = self.download(download, token.expose_secret()).await?;
        Ok(Fetched {
            bytes,
            mime_type: answer.mime_type,
            sha256: answer.sha256,
        })
    }
}

impl<S: SecretSource<Value = AccessTokens>> GraphMedia<S> {
    /// The URL's bytes, refusing more than `max_bytes` without holding them.
    async fn download(&self, url: Url, token: &str) -> Result<Vec<u8>, FetchError> {
        const DOWNLOAD: &str = "media download";
        let transport = |source| FetchError::Transport {
            call: DOWNLOAD,
            source,
        };
        let mut response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            // 404 or 401 once the 5 minutes are over: a new URL on the next attempt.
            return Err(FetchError::Status {
                call: DOWNLOAD,
                status: status.as_u16(),
            });
        }
        let limit = self.max_bytes;
        if response
            .content_length()
            .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
        {
            return Err(FetchError::TooLarge { limit });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len().saturating_add(chunk.len()) > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_media_id_or_an_oversize_file_is_permanent() {
        assert!(FetchError::Refused { code: 100 }.is_permanent());
        assert!(FetchError::Refused { code: 131052 }.is_permanent());
        assert!(FetchError::TooLarge { limit: 1 }.is_permanent());
        assert!(FetchError::ForeignUrl.is_permanent());
        for code in RETRYABLE_CODES {
            assert!(!FetchError::Refused { code }.is_permanent(), "{code}");
        }
        let status = FetchError::Status {
            call: "x",
            status: 503,
        };
        assert!(!status.is_permanent());
        assert!(!FetchError::NoUrl.is_permanent());
    }
}
