//! Local IAM for the tests: what moto denied a stack's roles, and edited copies of the template.

use std::path::PathBuf;

use local_runner::RunningStack;

/// The AccessDenied answers the local AWS (both moto processes) gave the roles of `stack`, as
/// `principal ARN: action on resource` lines.
pub async fn denials(stack: &RunningStack) -> Vec<String> {
    let prefix = stack
        .role_name("webhook")
        .and_then(|name| name.strip_suffix("WebhookFunctionRole"))
        .unwrap_or_default()
        .to_owned();
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for endpoint in local_aws::iam::local_endpoints() {
        let answer: serde_json::Value = client
            // The prefix is [A-Za-z0-9_-] (the template's AllowedPattern): no escaping needed.
            .get(format!("{endpoint}/_local/iam/denials?role=/{prefix}"))
            .send()
            .await
            .expect("the local AWS answers /_local/iam/denials")
            .json()
            .await
            .expect("denials are JSON");
        for d in answer["denials"].as_array().into_iter().flatten() {
            out.push(format!(
                "AccessDenied: {} is not authorized to perform {} on {}",
                d["principal"].as_str().unwrap_or("?"),
                d["action"].as_str().unwrap_or("?"),
                d["resource"].as_str().unwrap_or("?"),
            ));
        }
    }
    out
}

/// A copy of the workspace's `template.yaml` with the first `find` inside `resource` (a
/// top-level resource's logical id) replaced by `replace`; panics unless it is there.
pub fn edited_template(resource: &str, find: &str, replace: &str) -> PathBuf {
    let original = std::fs::read_to_string(local_aws::workspace_template_path())
        .expect("template.yaml is readable");
    let header = format!("\n  {resource}:\n");
    let start = original
        .find(&header)
        .unwrap_or_else(|| panic!("template.yaml has no resource {resource}"));
    let body_start = start + header.len();
    // The resource ends where the next two-space-indented key starts.
    let end = original[body_start..]
        .match_indices("\n  ")
        .find(|(i, _)| {
            original[body_start + i + 3..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
        })
        .map_or(original.len(), |(i, _)| body_start + i);
    let at = original[body_start..end]
        .find(find)
        .unwrap_or_else(|| panic!("{resource} in template.yaml has no {find:?}"))
        + body_start;
    let edited = format!(
        "{}{replace}{}",
        &original[..at],
        &original[at + find.len()..]
    );
    let dir = std::env::temp_dir().join(format!("edited-template-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("template.yaml");
    std::fs::write(&path, edited).expect("write the edited template");
    path
}
