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

/// Where variables come from: the process environment (in Lambda) or a map (the local runner
/// gives each function the environment `template.yaml` declares for it, in one process).
#[derive(Debug, Clone, Default)]
pub struct Env {
    map: Option<BTreeMap<String, String>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self { map: None }
    }

    /// A fixed set of variables.
    pub fn from_map(map: BTreeMap<String, String>) -> Self {
        Self { map: Some(map) }
    }

    fn get(&self, name: &str) -> Option<String> {
        let value = match &self.map {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be present and non-empty.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// A variable parsed as `T`, or `default` when unset or empty.
    pub fn parsed_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                value: v,
                reason: e.to_string(),
            }),
            None => Ok(default),
        }
    }

    /// A duration given in whole seconds.
    pub fn seconds_or(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        self.parsed_or(name, default.as_secs())
            .map(Duration::from_secs)
    }
}

/// Reads a process variable that must be present and non-empty.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    Env::process().required(name)
}

/// Reads and parses a process variable, falling back to `default` when it is unset or empty.
pub fn parsed_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Env::process().parsed_or(name, default)
}

/// Reads a process duration given in whole seconds.
pub fn seconds_or(name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    Env::process().seconds_or(name, default)
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
        let env = Env::from_map(BTreeMap::from([
            ("A".to_owned(), "5".to_owned()),
            ("B".to_owned(), " ".to_owned()),
        ]));
        assert_eq!(env.parsed_or("A", 0u8).unwrap(), 5);
        assert!(matches!(env.required("B"), Err(ConfigError::Missing("B"))));
        assert!(matches!(env.parsed_or::<u8>("C", 1), Ok(1)));
        let bad = Env::from_map(BTreeMap::from([("A".to_owned(), "x".to_owned())]));
        assert!(bad
            .parsed_or::<u8>("A", 0)
            .unwrap_err()
            .to_string()
            .contains("invalid value"));
    }

    #[test]
    fn an_unset_variable_takes_its_default() {
        assert_eq!(parsed_or("WA_CRM_TEST_SURELY_UNSET", 7u32).unwrap(), 7);
    }
}
