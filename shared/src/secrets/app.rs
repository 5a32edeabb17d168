//! The webhook's secret and the rule for which app secrets may sign a webhook.
//!
//! A placeholder is never a key: while the current app secret is unset nothing verifies (the
//! webhook answers 503 and Meta retries). The `AWSPREVIOUS` app secret verifies only during a
//! grace period after the current version was created (Meta may still sign with it for a
//! moment after a rotation), and never when it is itself a placeholder: after the first
//! `put-secret-value` the template's placeholder version becomes `AWSPREVIOUS`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{is_placeholder, SecretVersions};

/// `{"app_secret","verify_token"}`. `SecretString` cannot be printed or logged by accident.
#[derive(Clone, Deserialize)]
pub struct AppCredentials {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppCredentials([REDACTED])")
    }
}

/// The current app secret is empty or a placeholder: no signature can be trusted until the
/// operator sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the current app secret is unset or a placeholder")]
pub struct AppSecretUnset;

impl SecretVersions<AppCredentials> {
    /// The app secrets a webhook received at `now_ms` may be signed with, current first; the
    /// previous one only while `now_ms` is within `grace` of the current version's creation.
    pub fn signing_keys(
        &self,
        now_ms: i64,
        grace: Duration,
    ) -> Result<Vec<&SecretString>, AppSecretUnset> {
        let current = &self.current.value.app_secret;
        if is_placeholder(current.expose_secret()) {
            return Err(AppSecretUnset);
        }
        let mut keys = vec![current];
        if let Some(previous) = &self.previous {
            let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
            let within_grace = self
                .current
                .created_ms
                .is_some_and(|created| now_ms < created.saturating_add(grace_ms));
            let key = &previous.value.app_secret;
            if within_grace && !is_placeholder(key.expose_secret()) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// The verify token Meta's handshake must present; `None` while it is a placeholder.
    pub fn verify_token(&self) -> Option<&SecretString> {
        let token = &self.current.value.verify_token;
        (!is_placeholder(token.expose_secret())).then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{parse_secret, Version};

    const HOUR: Duration = Duration::from_secs(3600);
    const CREATED: i64 = 1_700_000_000_000;

    fn creds(app: &str) -> AppCredentials {
        AppCredentials {
            app_secret: app.to_owned().into(),
            verify_token: "verify".to_owned().into(),
        }
    }

    fn rotated(previous: &str, current: &str) -> SecretVersions<AppCredentials> {
        SecretVersions {
            current: Version {
                value: creds(current),
                created_ms: Some(CREATED),
            },
            previous: Some(Version {
                value: creds(previous),
                created_ms: Some(CREATED - 86_400_000),
            }),
        }
    }

    fn exposed(keys: &[&SecretString]) -> Vec<String> {
        keys.iter().map(|k| k.expose_secret().to_owned()).collect()
    }

    #[test]
    fn the_previous_secret_verifies_until_the_last_millisecond_of_the_grace_period() {
        let v = rotated("old", "new");
        let last = CREATED + 3_600_000 - 1;
        assert_eq!(
            exposed(&v.signing_keys(last, HOUR).unwrap()),
            ["new", "old"]
        );
        assert_eq!(
            exposed(&v.signing_keys(CREATED, HOUR).unwrap()),
            ["new", "old"]
        );
    }

    #[test]
    fn the_previous_secret_stops_verifying_the_moment_the_grace_period_ends() {
        let v = rotated("old", "new");
        assert_eq!(
            exposed(&v.signing_keys(CREATED + 3_600_000, HOUR).unwrap()),
            ["new"]
        );
        assert_eq!(
            exposed(&v.signing_keys(CREATED + 86_400_000, HOUR).unwrap()),
            ["new"]
        );
    }

    #[test]
    fn a_zero_grace_period_never_trusts_the_previous_secret() {
        let v = rotated("old", "new");
        assert_eq!(
            exposed(&v.signing_keys(CREATED, Duration::ZERO).unwrap()),
            ["new"]
        );
    }

    #[test]
    fn a_current_version_without_a_creation_date_never_trusts_the_previous_secret() {
        let mut v = rotated("old", "new");
        v.current.created_ms = None;
        assert_eq!(exposed(&v.signing_keys(CREATED, HOUR).unwrap()), ["new"]);
    }

    #[test]
    fn a_placeholder_previous_secret_never_verifies_even_within_the_grace_period() {
        for placeholder in ["set-me", "", "  ", "changeme", "<app secret>"] {
            let v = rotated(placeholder, "new");
            assert_eq!(
                exposed(&v.signing_keys(CREATED, HOUR).unwrap()),
                ["new"],
                "{placeholder:?}"
            );
        }
    }

    #[test]
    fn a_placeholder_current_secret_means_nothing_verifies() {
        for placeholder in ["set-me", "", " \t", "SET-ME", "todo"] {
            let v = rotated("a-real-old-secret", placeholder);
            assert!(
                matches!(v.signing_keys(CREATED, HOUR), Err(AppSecretUnset)),
                "{placeholder:?}"
            );
        }
    }

    #[test]
    fn a_placeholder_verify_token_answers_no_handshake() {
        let mut v = rotated("old", "new");
        assert!(v.verify_token().is_some());
        v.current.value.verify_token = "set-me".to_owned().into();
        assert!(v.verify_token().is_none());
    }

    #[test]
    fn reads_the_documented_shape_and_never_prints_values() {
        let ok: AppCredentials =
            parse_secret("s", r#"{"app_secret":"hunter2","verify_token":"v"}"#).unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
        assert!(parse_secret::<AppCredentials>("s", r#"{"app_secret":"x"}"#).is_err());
    }
}
