//! The simulator's settings: which token and secret play Meta's, where webhooks go, and the
//! limits it enforces. Built in code by tests and the local runner, or from `GRAPH_SIM_*` env vars.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

/// Everything the simulator needs; start from [`SimConfig::new`] and override fields.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The bearer token send requests must carry (Meta's system user token).
    pub access_token: SecretString,
    /// The app secret webhooks are signed with (`X-Hub-Signature-256`).
    pub app_secret: SecretString,
    /// Where webhooks are POSTed, e.g. `http://127.0.0.1:3000/webhook`.
    pub webhook_url: String,
    /// Whether accepted messages get `sent`/`delivered`/`read` status webhooks.
    pub send_statuses: bool,
    /// Pause before each status webhook.
    pub status_delay: Duration,
    /// The only phone number id the send endpoint accepts.
    pub business_phone_number_id: String,
    /// `metadata.display_phone_number` in webhooks.
    pub display_phone_number: String,
    /// `entry[].id` in webhooks.
    pub waba_id: String,
    /// Messages per sliding second per phone number before 130429 (Meta's default: 80).
    pub throughput_per_second: u32,
    /// Pair-rate bucket capacity per recipient before 131056 (Meta: bursts of about 45).
    pub pair_rate_burst: u32,
    /// Time to earn back one pair-rate token (Meta: about one message per 6 s).
    pub pair_rate_refill: Duration,
    /// How long an inbound message keeps the customer-service window open.
    pub service_window: Duration,
    /// How many send requests and webhook deliveries `/_sim/*` keeps (oldest dropped first).
    pub log_capacity: usize,
    /// At most this many status-delivery tasks at once; beyond it statuses are skipped (logged).
    pub max_status_tasks: usize,
    /// Timeout of one webhook POST.
    pub webhook_timeout: Duration,
}

impl SimConfig {
    /// Meta's defaults and the sample ids from Meta's docs around the given credentials.
    pub fn new(
        access_token: SecretString,
        app_secret: SecretString,
        webhook_url: impl Into<String>,
    ) -> Self {
        Self {
            access_token,
            app_secret,
            webhook_url: webhook_url.into(),
            send_statuses: true,
            status_delay: Duration::from_millis(200),
            business_phone_number_id: "106540352242922".to_owned(),
            display_phone_number: "15550783881".to_owned(),
            waba_id: "102290129340398".to_owned(),
            throughput_per_second: 80,
            pair_rate_burst: 45,
            pair_rate_refill: Duration::from_secs(6),
            service_window: Duration::from_secs(24 * 60 * 60),
            log_capacity: 10_000,
            max_status_tasks: 1_024,
            webhook_timeout: Duration::from_secs(10),
        }
    }

    /// Reads `GRAPH_SIM_*` variables (see [`ENV_VARS`]); the token and secret are required.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`SimConfig::from_env`] over any lookup, so it can be tested without touching the process.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let mut cfg = Self::new(
            SecretString::from(required("GRAPH_SIM_ACCESS_TOKEN")?),
            SecretString::from(required("GRAPH_SIM_APP_SECRET")?),
            get("GRAPH_SIM_WEBHOOK_URL")
                .unwrap_or_else(|| "http://127.0.0.1:3000/webhook".to_owned()),
        );
        if let Some(v) = get("GRAPH_SIM_STATUSES") {
            cfg.send_statuses = parse_bool("GRAPH_SIM_STATUSES", &v)?;
        }
        if let Some(v) = get("GRAPH_SIM_STATUS_DELAY_MS") {
            cfg.status_delay = Duration::from_millis(parse_num("GRAPH_SIM_STATUS_DELAY_MS", &v)?);
        }
        if let Some(v) = get("GRAPH_SIM_PHONE_NUMBER_ID") {
            cfg.business_phone_number_id = v;
        }
        if let Some(v) = get("GRAPH_SIM_DISPLAY_PHONE_NUMBER") {
            cfg.display_phone_number = v;
        }
        if let Some(v) = get("GRAPH_SIM_WABA_ID") {
            cfg.waba_id = v;
        }
        if let Some(v) = get("GRAPH_SIM_THROUGHPUT") {
            cfg.throughput_per_second = parse_num("GRAPH_SIM_THROUGHPUT", &v)?;
        }
        if let Some(v) = get("GRAPH_SIM_PAIR_BURST") {
            cfg.pair_rate_burst = parse_num("GRAPH_SIM_PAIR_BURST", &v)?;
        }
        if let Some(v) = get("GRAPH_SIM_PAIR_REFILL_MS") {
            cfg.pair_rate_refill =
                Duration::from_millis(parse_num("GRAPH_SIM_PAIR_REFILL_MS", &v)?);
        }
        Ok(cfg)
    }
}

/// The variables [`SimConfig::from_env`] and the binary read, with their defaults.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("GRAPH_SIM_ADDR", "127.0.0.1:3001 (binary only)"),
    ("GRAPH_SIM_ACCESS_TOKEN", "required"),
    ("GRAPH_SIM_APP_SECRET", "required"),
    ("GRAPH_SIM_WEBHOOK_URL", "http://127.0.0.1:3000/webhook"),
    ("GRAPH_SIM_STATUSES", "true"),
    ("GRAPH_SIM_STATUS_DELAY_MS", "200"),
    ("GRAPH_SIM_PHONE_NUMBER_ID", "106540352242922"),
    ("GRAPH_SIM_DISPLAY_PHONE_NUMBER", "15550783881"),
    ("GRAPH_SIM_WABA_ID", "102290129340398"),
    ("GRAPH_SIM_THROUGHPUT", "80"),
    ("GRAPH_SIM_PAIR_BURST", "45"),
    ("GRAPH_SIM_PAIR_REFILL_MS", "6000"),
];

/// The listen address for the binary (`GRAPH_SIM_ADDR`, default `127.0.0.1:3001`).
pub fn listen_addr_from_env() -> Result<SocketAddr, ConfigError> {
    match std::env::var("GRAPH_SIM_ADDR") {
        Ok(v) => v.parse().map_err(|_| ConfigError::Invalid {
            name: "GRAPH_SIM_ADDR",
            value: v,
        }),
        Err(_) => Ok(SocketAddr::from(([127, 0, 0, 1], 3001))),
    }
}

/// A variable is missing or unreadable; names it so the fix is obvious.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}")]
    Invalid { name: &'static str, value: String },
}

fn parse_num<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        value: value.to_owned(),
    })
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn names_the_missing_token() {
        let err = SimConfig::from_lookup(lookup(&[("GRAPH_SIM_APP_SECRET", "s")])).err();
        assert_eq!(err, Some(ConfigError::Missing("GRAPH_SIM_ACCESS_TOKEN")));
    }

    #[test]
    fn reads_overrides_and_keeps_defaults() {
        let cfg = SimConfig::from_lookup(lookup(&[
            ("GRAPH_SIM_ACCESS_TOKEN", "t"),
            ("GRAPH_SIM_APP_SECRET", "s"),
            ("GRAPH_SIM_STATUSES", "off"),
            ("GRAPH_SIM_THROUGHPUT", "5"),
        ]));
        let Ok(cfg) = cfg else {
            panic!("valid config: {cfg:?}")
        };
        assert!(!cfg.send_statuses);
        assert_eq!(cfg.throughput_per_second, 5);
        assert_eq!(cfg.pair_rate_burst, 45);
        assert_eq!(cfg.status_delay, Duration::from_millis(200));
    }

    #[test]
    fn rejects_a_non_numeric_limit() {
        let err = SimConfig::from_lookup(lookup(&[
            ("GRAPH_SIM_ACCESS_TOKEN", "t"),
            ("GRAPH_SIM_APP_SECRET", "s"),
            ("GRAPH_SIM_THROUGHPUT", "many"),
        ]))
        .err();
        assert!(matches!(
            err,
            Some(ConfigError::Invalid {
                name: "GRAPH_SIM_THROUGHPUT",
                ..
            })
        ));
    }
}
