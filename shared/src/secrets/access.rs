//! The sender's secret: Graph API access tokens, one for every business number or one per
//! phone number id (business numbers of different WABAs need different system-user tokens).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::is_placeholder;

/// `{"access_token": "…"}` and/or `{"access_tokens": {"<phone_number_id>": "…"}}`; a number in
/// the map uses its own token, every other number `access_token`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokens {
    #[serde(default)]
    pub access_token: Option<SecretString>,
    #[serde(default)]
    pub access_tokens: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessTokens([REDACTED])")
    }
}

impl AccessTokens {
    /// The token to send from `phone_number_id` with; `None` when the one that applies is unset
    /// or a placeholder (a mapped number never falls back to the default token: its WABA's
    /// token is the only one Meta accepts for it).
    pub fn for_number(&self, phone_number_id: &str) -> Option<&SecretString> {
        let token = match self.access_tokens.get(phone_number_id) {
            Some(mapped) => Some(mapped),
            None => self.access_token.as_ref(),
        }?;
        (!is_placeholder(token.expose_secret())).then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::parse_secret;

    fn tokens(json: &str) -> AccessTokens {
        parse_secret("s", json).unwrap()
    }

    fn token_for(t: &AccessTokens, pn: &str) -> Option<String> {
        t.for_number(pn).map(|s| s.expose_secret().to_owned())
    }

    #[test]
    fn one_token_serves_every_number() {
        let t = tokens(r#"{"access_token":"tok"}"#);
        assert_eq!(token_for(&t, "1"), Some("tok".into()));
        assert_eq!(token_for(&t, "2"), Some("tok".into()));
    }

    #[test]
    fn a_mapped_number_uses_its_own_token_and_others_the_default() {
        let t = tokens(r#"{"access_token":"tok","access_tokens":{"1":"waba-a","2":"waba-b"}}"#);
        assert_eq!(token_for(&t, "1"), Some("waba-a".into()));
        assert_eq!(token_for(&t, "2"), Some("waba-b".into()));
        assert_eq!(token_for(&t, "3"), Some("tok".into()));
    }

    #[test]
    fn a_map_without_a_default_has_no_token_for_other_numbers() {
        let t = tokens(r#"{"access_tokens":{"1":"waba-a"}}"#);
        assert_eq!(token_for(&t, "1"), Some("waba-a".into()));
        assert_eq!(token_for(&t, "2"), None);
    }

    #[test]
    fn a_placeholder_token_is_no_token() {
        assert_eq!(token_for(&tokens(r#"{"access_token":""}"#), "1"), None);
        assert_eq!(
            token_for(&tokens(r#"{"access_token":"set-me"}"#), "1"),
            None
        );
        assert_eq!(token_for(&tokens("{}"), "1"), None);
        let t = tokens(r#"{"access_token":"tok","access_tokens":{"1":"set-me"}}"#);
        assert_eq!(token_for(&t, "1"), None, "no fallback for a mapped number");
    }

    #[test]
    fn an_unknown_field_is_a_shape_error_that_does_not_quote_values() {
        let err = parse_secret::<AccessTokens>("s", r#"{"acces_token":"hunter2"}"#).unwrap_err();
        assert!(!format!("{err:?} {err}").contains("hunter2"));
    }
}
