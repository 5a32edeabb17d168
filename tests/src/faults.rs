//! Fault and latency injection on the local moto (`/_local/faults`, `infra/python/moto_local`).
//!
//! A rule matches requests of one service (and optionally one action) whose table name(s) or
//! queue URL contain a substring, so tests sharing the suite's moto only hit their own
//! resources: give the test's resource prefix (or a full name) and [`clear`] it at the end.
//!
//! Each rule goes to the moto that serves its service (`AWS_ENDPOINT_URL_DYNAMODB` or
//! `AWS_ENDPOINT_URL_SQS` when set, else `AWS_ENDPOINT_URL`): the local AWS runs DynamoDB in a
//! moto of its own. [`clear`] and [`remaining`] ask every one.
//!
//! What a caller sees: the SDK's standard retry mode makes 3 attempts, retrying throttling
//! codes (`ThrottlingException`, `RequestThrottled`, ...) and 5xx with backoff, so an injected
//! throttle with `count` < 3 is absorbed (the call succeeds, later); with `count` >= 3 the
//! caller gets the error. Other 4xx codes are not retried: the first call fails.

use serde_json::{json, Value};

/// The AWS service whose requests a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Sqs,
}

impl Service {
    const ALL: [Service; 2] = [Service::DynamoDb, Service::Sqs];

    fn as_str(self) -> &'static str {
        match self {
            Service::DynamoDb => "dynamodb",
            Service::Sqs => "sqs",
        }
    }

    /// The SDK's service-specific endpoint variable.
    fn endpoint_variable(self) -> &'static str {
        match self {
            Service::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
            Service::Sqs => "AWS_ENDPOINT_URL_SQS",
        }
    }

    /// `/_local/faults` on the moto that serves this service, chosen as the SDK chooses.
    pub fn faults_url(self) -> String {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let endpoint = var(self.endpoint_variable())
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| local_aws::DEFAULT_ENDPOINT.to_owned());
        format!("{}/_local/faults", endpoint.trim_end_matches('/'))
    }
}

/// Every moto serving a service here, once each.
fn all_faults_urls() -> Vec<String> {
    let mut urls: Vec<String> = Service::ALL.iter().map(|s| s.faults_url()).collect();
    urls.sort();
    urls.dedup();
    urls
}

/// An AWS error as the service answers it: HTTP status, error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    /// DynamoDB: the `__type` name (`ThrottlingException`); SQS: the model's error shape
    /// (`RequestThrottled`, `QueueDoesNotExist`).
    pub code: String,
    pub message: String,
    /// SQS only: the query-protocol code the SDK reports when it differs from the shape
    /// (`AWS.SimpleQueueService.NonExistentQueue` for `QueueDoesNotExist`).
    pub query_code: Option<String>,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            query_code: None,
        }
    }

    /// DynamoDB's throttling answer (retried by the SDK).
    pub fn dynamodb_throttling() -> Self {
        Self::new(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        )
    }

    /// DynamoDB's 500 (retried by the SDK as transient).
    pub fn dynamodb_internal() -> Self {
        Self::new(500, "InternalServerError", "Internal server error")
    }

    /// SQS's throttling answer (retried by the SDK).
    pub fn sqs_throttled() -> Self {
        Self::new(
            400,
            "RequestThrottled",
            "The request was denied due to request throttling.",
        )
    }

    /// SQS's answer for a queue that is gone (not retried).
    pub fn sqs_queue_does_not_exist() -> Self {
        Self {
            query_code: Some("AWS.SimpleQueueService.NonExistentQueue".to_owned()),
            ..Self::new(
                400,
                "QueueDoesNotExist",
                "The specified queue does not exist.",
            )
        }
    }
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub service: Service,
    /// `None`: every action of the service.
    pub action: Option<&'a str>,
    /// A substring of a table name or queue URL.
    pub matching: &'a str,
}

impl<'a> Target<'a> {
    pub fn dynamodb(action: Option<&'a str>, matching: &'a str) -> Self {
        Self {
            service: Service::DynamoDb,
            action,
            matching,
        }
    }

    pub fn sqs(action: Option<&'a str>, matching: &'a str) -> Self {
        Self {
            service: Service::Sqs,
            action,
            matching,
        }
    }

    fn rule(&self) -> Value {
        json!({"service": self.service.as_str(), "action": self.action, "match": self.matching})
    }
}

/// The next `count` requests matching `target` are answered with `error`.
pub async fn inject(target: Target<'_>, error: &AwsError, count: u32) {
    let mut rule = target.rule();
    rule["error"] = json!({
        "status": error.status, "code": error.code, "message": error.message,
        "query_code": error.query_code,
    });
    rule["count"] = json!(count);
    add(target.service, rule).await;
}

/// Every request matching `target` waits `ms` milliseconds first, until [`clear`]ed.
pub async fn slow(target: Target<'_>, ms: u64) {
    let mut rule = target.rule();
    rule["latency_ms"] = json!(ms);
    add(target.service, rule).await;
}

/// Removes every rule whose substring starts with `prefix`; returns how many.
pub async fn clear(prefix: &str) -> u64 {
    let mut removed = 0;
    for base in all_faults_urls() {
        let url = reqwest::Url::parse_with_params(&base, [("match", prefix)])
            .expect("AWS_ENDPOINT_URL is a URL");
        let res = client()
            .delete(url)
            .send()
            .await
            .expect("local moto answers /_local/faults");
        assert!(
            res.status().is_success(),
            "clearing faults: {}",
            res.status()
        );
        let out: Value = res.json().await.expect("JSON answer");
        removed += out["removed"].as_u64().unwrap_or(0);
    }
    removed
}

/// Errors still to be answered by the rules whose substring starts with `prefix`.
pub async fn remaining(prefix: &str) -> u64 {
    let mut left = 0;
    for url in all_faults_urls() {
        let out: Value = client()
            .get(url)
            .send()
            .await
            .expect("local moto answers /_local/faults")
            .json()
            .await
            .expect("JSON answer");
        left += out["faults"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["match"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .filter_map(|r| r["remaining"].as_u64())
            .sum::<u64>();
    }
    left
}

/// POSTs a raw rule to the moto serving `service`; returns the status and the answer (for tests
/// of the endpoint itself).
pub async fn post_rule(service: Service, rule: &Value) -> (u16, Value) {
    let res = client()
        .post(service.faults_url())
        .json(rule)
        .send()
        .await
        .expect("local moto answers /_local/faults");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn add(service: Service, rule: Value) {
    let (status, answer) = post_rule(service, &rule).await;
    assert_eq!(
        status, 201,
        "the local moto refused the fault {rule}: {answer}"
    );
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}
