//! The Graph API send endpoint: port, reqwest adapter, and Meta's error classes (reference §6).
//!
//! What matters about an answer is whether the message may have left: a Meta error body means it
//! did not; a connection that never opened, or a 429/502/503 without Meta's body, means it did
//! not; a timeout, a 504 or another unreadable answer means it may have ("maybe sent"), and the
//! caller must not send it again.
//! (The adapter lives here rather than in `shared` because the sender is its only caller.)

use std::future::Future;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::secrets::{AccessTokens, CachedSecrets, SecretSource, SecretsError};

/// An error Meta answered, as the CRM receives it in `command.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaApiError {
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcode: Option<i64>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
}

impl MetaApiError {
    /// Reads Graph's `{"error":{message,type,code,error_subcode,error_data{details},fbtrace_id}}`.
    pub fn from_body(body: &Value) -> Option<Self> {
        let e = body.get("error")?;
        let code = e.get("code").and_then(Value::as_i64)?;
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        // "(#131026) Message undeliverable" -> "Message undeliverable".
        let title = match message.strip_prefix('(') {
            Some(rest) if rest.starts_with('#') => {
                rest.split_once(") ").map_or(message, |(_, t)| t).to_owned()
            }
            _ => message.to_owned(),
        };
        Some(Self {
            code,
            subcode: e.get("error_subcode").and_then(Value::as_i64),
            title,
            details: e
                .pointer("/error_data/details")
                .and_then(Value::as_str)
                .map(str::to_owned),
            fbtrace_id: e
                .get("fbtrace_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    pub fn class(&self) -> ErrorClass {
        ErrorClass::of(self.code)
    }
}

/// Meta's error codes that a class names one by one (Meta's error-code reference:
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/>).
pub mod codes {
    /// Spam rate limit hit: the number's messages look unwanted; sending on makes it worse.
    pub const SPAM_RATE_LIMIT: i64 = 131048;
    /// The portfolio's messaging limit was hit through a misclassified template.
    pub const PORTFOLIO_LIMIT_TEMPLATE_MISCLASSIFIED: i64 = 131064;
    /// A business-scoped user id is not allowed for this message (e.g. authentication templates).
    pub const USER_ID_NOT_ALLOWED: i64 = 131062;
    /// Marketing templates are disabled on Cloud API: the Marketing Messages API sends them.
    pub const MARKETING_TEMPLATES_DISABLED: i64 = 131063;
    /// The user is part of a Meta experiment: the message is not delivered.
    pub const USER_IN_EXPERIMENT: i64 = 130472;
    /// The number's display name is not approved yet.
    pub const DISPLAY_NAME_NOT_APPROVED: i64 = 131037;
    /// The recipient's identity key hash does not match (`recipient_identity_key_hash`).
    pub const IDENTITY_KEY_HASH_MISMATCH: i64 = 137000;
}

/// What to do about a Meta error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throughput, rate limits, server trouble, maintenance: back off with jitter and retry.
    Retryable,
    /// 131056: this recipient only, later (4^n s).
    PairRate,
    /// 131049: not before 24 h (retrying earlier extends the block).
    MarketingCap,
    /// 131047: free-form outside the window; a template would be needed.
    WindowClosed,
    /// 190 and friends: refresh the secret once, then keep the command queued and alarm.
    Credentials,
    /// The account is restricted, or the number hit a spam or portfolio limit: keep commands
    /// queued and alarm.
    Account,
    /// Everything else: tell the CRM.
    Permanent,
}

impl ErrorClass {
    pub fn of(code: i64) -> Self {
        match code {
            130429 | 4 | 80007 | 131000 | 131016 | 1 | 2 | 133004 | 131057 => Self::Retryable,
            131056 => Self::PairRate,
            131049 => Self::MarketingCap,
            131047 => Self::WindowClosed,
            0 | 190 | 3 | 10 | 200..=299 => Self::Credentials,
            368 | 131031 | 130497 | 131042 | 131045 | 133010 => Self::Account,
            codes::SPAM_RATE_LIMIT | codes::PORTFOLIO_LIMIT_TEMPLATE_MISCLASSIFIED => Self::Account,
            // Named so a reader finds them; like every unknown code, the command fails with it.
            codes::USER_ID_NOT_ALLOWED
            | codes::MARKETING_TEMPLATES_DISABLED
            | codes::USER_IN_EXPERIMENT
            | codes::DISPLAY_NAME_NOT_APPROVED
            | codes::IDENTITY_KEY_HASH_MISMATCH => Self::Permanent,
            _ => Self::Permanent,
        }
    }
}

/// The answer to one send.
#[derive(Debug)]
pub enum SendResult {
    /// Meta took it. `wamid` is absent for mark-read (`{"success":true}`).
    Accepted {
        wamid: Option<String>,
        wa_id: Option<String>,
    },
    /// Meta refused it: nothing was sent.
    Refused(MetaApiError),
    /// The request never reached Meta (connection refused, DNS): nothing was sent.
    NotSent(reqwest::Error),
    /// A throttle or gateway answered without Meta's error body (429, 502, 503): the request
    /// was not processed, so it may be sent again.
    NotProcessed { status: u16 },
    /// It may have been sent: timeout after the request went out, or an answer we cannot read.
    Unknown(String),
}

/// Port: one POST to `/{version}/{phone_number_id}/messages`.
pub trait GraphApi: Send + Sync {
    fn send(
        &self,
        phone_number_id: &str,
        body: &Value,
    ) -> impl Future<Output = Result<SendResult, SecretsError>> + Send;

    /// Re-reads the access token now (after Meta rejected it, or while it is unset).
    fn refresh_credentials(&self) -> impl Future<Output = Result<(), SecretsError>> + Send;
}

/// Adapter: reqwest, with the access token for the sending number from the cached secret.
pub struct GraphClient<S: SecretSource> {
    http: reqwest::Client,
    base_url: String,
    version: String,
    secrets: CachedSecrets<S>,
}

impl<S: SecretSource<Value = AccessTokens>> GraphClient<S> {
    pub fn new(
        base_url: &str,
        version: &str,
        timeout: Duration,
        secrets: CachedSecrets<S>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: shared::tls::http_client_builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(3))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
            secrets,
        })
    }
}

impl<S: SecretSource<Value = AccessTokens>> GraphApi for GraphClient<S> {
    /// `Err(SecretsError::Unset)` without a request when the secret holds no usable token for
    /// `phone_number_id` (unset or a placeholder): Meta would only refuse it.
    async fn send(&self, phone_number_id: &str, body: &Value) -> Result<SendResult, SecretsError> {
        let secrets = self.secrets.get().await?;
        let token =
            secrets
                .current
                .value
                .for_number(phone_number_id)
                .ok_or(SecretsError::Unset {
                    what: "access token for this phone number id",
                })?;
        let url = format!(
            "{}/{}/{}/messages",
            self.base_url, self.version, phone_number_id
        );
        let response = self
            .http
            .post(&url)
            .bearer_auth(token.expose_secret())
            .json(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_builder() => return Ok(SendResult::NotSent(e)),
            Err(e) => return Ok(SendResult::Unknown(format!("no answer from Graph: {e}"))),
        };
        let status = response.status();
        match response.text().await {
            Ok(text) => Ok(classify_answer(status, &text)),
            Err(e) => Ok(SendResult::Unknown(format!(
                "Graph answered {status} but the body was lost: {e}"
            ))),
        }
    }

    async fn refresh_credentials(&self) -> Result<(), SecretsError> {
        self.secrets.refresh().await.map(|_| ())
    }
}

/// What an answer from Graph means, from its status and body text: Meta's error body is a refusal
/// whatever the status; a success with a readable body is accepted; a throttle or gateway status
/// without Meta's body was not processed; anything else may have been sent. Public so the fuzz
/// target reads answers exactly as the adapter does.
pub fn classify_answer(status: reqwest::StatusCode, text: &str) -> SendResult {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    if let Some(error) = parsed.as_ref().and_then(MetaApiError::from_body) {
        return SendResult::Refused(error);
    }
    match (status.is_success(), parsed) {
        (true, Some(v)) => SendResult::Accepted {
            wamid: v
                .pointer("/messages/0/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            wa_id: v
                .pointer("/contacts/0/wa_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        (false, _) if not_processed(status) => SendResult::NotProcessed {
            status: status.as_u16(),
        },
        _ => SendResult::Unknown(format!("Graph answered {status} without a readable result")),
    }
}

/// Statuses a throttle or gateway gives before the request reaches Meta's application. A 504
/// is not one: the gateway gave up waiting for an answer, and Meta may have sent the message.
fn not_processed(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_metas_error_body() {
        let e = MetaApiError::from_body(&json!({"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"error_data":{"messaging_product":"whatsapp","details":"Unable to deliver message."},"fbtrace_id":"Az"}})).unwrap();
        assert_eq!(e.code, 131026);
        assert_eq!(e.title, "Message undeliverable");
        assert_eq!(e.details.as_deref(), Some("Unable to deliver message."));
        assert_eq!(e.class(), ErrorClass::Permanent);
    }

    #[test]
    fn classifies_by_code_as_the_reference_table_says() {
        for code in [130429, 4, 80007, 131000, 131016, 1, 2, 133004, 131057] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Retryable, "{code}");
        }
        assert_eq!(ErrorClass::of(131056), ErrorClass::PairRate);
        assert_eq!(ErrorClass::of(131049), ErrorClass::MarketingCap);
        assert_eq!(ErrorClass::of(131047), ErrorClass::WindowClosed);
        for code in [0, 190, 3, 10, 200, 299] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Credentials, "{code}");
        }
        for code in [368, 131031, 130497, 131042, 131045, 133010] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Account, "{code}");
        }
        for code in [131026, 131021, 130403, 131050, 100, 131008, 132001, 99999] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Permanent, "{code}");
        }
    }

    #[test]
    fn spam_and_portfolio_limits_stop_the_number_like_an_account_restriction() {
        assert_eq!(
            ErrorClass::of(131048),
            ErrorClass::Account,
            "spam rate limit"
        );
        assert_eq!(
            ErrorClass::of(131064),
            ErrorClass::Account,
            "portfolio limit"
        );
    }

    #[test]
    fn request_and_product_refusals_fail_the_command() {
        for code in [131062, 131063, 130472, 131037, 137000] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Permanent, "{code}");
        }
    }
}
