//! Typed configuration read once at cold start; a missing or bad variable names itself.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// A configuration problem found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Reads a variable that must be present and non-empty.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// Reads and parses a variable, falling back to `default` when it is unset or empty.
pub fn parsed_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                value: v,
                reason: e.to_string(),
            })
        }
        _ => Ok(default),
    }
}

/// Reads a duration given in whole seconds.
pub fn seconds_or(name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    parsed_or(name, default.as_secs()).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named_in_the_error() {
        let err = required("WA_CRM_TEST_SURELY_UNSET").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable WA_CRM_TEST_SURELY_UNSET is not set"
        );
    }

    #[test]
    fn a_map_environment_reads_only_its_own_variables() {
        let env = Env::from_map(BTreeMap::from([("A".to_owned(), "5".to_owned()), ("B".to_owned(), " ".to_owned())]));
        assert_eq!(env.parsed_or("A", 0u8).unwrap(), 5);
        assert!(matches!(env.required("B"), Err(ConfigError::Missing("B"))));
        assert!(matches!(env.parsed_or::<u8>("C", 1), Ok(1)));
        let bad = Env::from_map(BTreeMap::from([("A".to_owned(), "x".to_owned())]));
        assert!(bad.parsed_or::<u8>("A", 0).unwrap_err().to_string().contains("invalid value"));
    }

    #[test]
    fn an_unset_variable_takes_its_default() {
        assert_eq!(parsed_or("WA_CRM_TEST_SURELY_UNSET", 7u32).unwrap(), 7);
    }
}
