//! End-to-end, as an attacker would try it after the README's deploy steps: the operator runs
//! `put-secret-value` on the webhook's secret (`wa-crm-bridge/meta`) with new credentials, so
//! the value there before becomes `AWSPREVIOUS`. The functions re-read their secret every
//! second (`SECRETS_REFRESH_SECONDS=1`, passed the way `make run` passes it). The processor is
//! paused so the inbound queue shows whether anything was buffered.

use std::time::Duration;

use e2e_tests::{depth, meta_signature, sqs, start_stack_with, RunningStack};

/// What the README has the operator put into the webhook's secret.
const NEW_APP_SECRET: &str = "a-new-app-secret-from-meta";
/// Longer than one refresh interval: the next request re-reads the secret.
const REFRESH_WAIT: Duration = Duration::from_millis(1600);

/// A stack whose webhook secret starts as `initial` (`""` is what the template writes), with a
/// one-second refresh and `grace_seconds` for the previous app secret.
async fn stack(initial: &str, grace_seconds: u64) -> RunningStack {
    start_stack_with(&["processor"], |opts| {
        opts.app_secret = initial.to_owned().into();
        opts.function_env
            .insert("SECRETS_REFRESH_SECONDS".into(), "1".into());
        opts.function_env.insert(
            "PREVIOUS_SECRET_GRACE_SECONDS".into(),
            grace_seconds.to_string(),
        );
    })
    .await
}

/// `aws secretsmanager put-secret-value` on the webhook's secret, as the README says.
async fn put_app_secret(stack: &RunningStack, app_secret: &str) {
    let client = aws_sdk_secretsmanager::Client::new(&local_aws::local_sdk_config().await);
    let value = serde_json::json!({"app_secret": app_secret, "verify_token": "local-verify-token"});
    client
        .put_secret_value()
        .secret_id(
            stack
                .provisioned
                .secret_id("MetaSecret")
                .expect("MetaSecret"),
        )
        .secret_string(value.to_string())
        .send()
        .await
        .expect("PutSecretValue");
}

/// POSTs a small batch signed with `secret` (unsigned with `None`); returns the status.
async fn post(stack: &RunningStack, secret: Option<&str>) -> u16 {
    let body = shared::testkit::text_batch(2, 20);
    let mut req = reqwest::Client::new()
        .post(stack.webhook_url())
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        req = req.header(
            "X-Hub-Signature-256",
            meta_signature(body.as_bytes(), secret),
        );
    }
    req.body(body)
        .send()
        .await
        .expect("webhook answers")
        .status()
        .as_u16()
}

async fn inbound_depth(stack: &RunningStack) -> usize {
    let url = stack
        .provisioned
        .queue_url("InboundQueue")
        .expect("inbound");
    depth(&sqs().await, url).await
}

#[tokio::test]
async fn a_post_signed_with_set_me_after_the_deploy_steps_is_refused_and_nothing_queued() {
    // Arrange: the secret as an earlier template wrote it, then the README's put-secret-value.
    let stack = stack("set-me", 3600).await;
    put_app_secret(&stack, NEW_APP_SECRET).await;
    tokio::time::sleep(REFRESH_WAIT).await;

    // Act
    let forged = post(&stack, Some("set-me")).await;

    // Assert: within the grace period, yet the placeholder previous version verifies nothing.
    assert_eq!(forged, 401);
    assert_eq!(inbound_depth(&stack).await, 0);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_post_signed_with_any_placeholder_after_the_deploy_steps_is_refused_and_nothing_queued() {
    // Arrange: the secret as the template writes it now (app_secret "").
    let stack = stack("", 3600).await;
    for (i, placeholder) in ["", "  ", "SET-ME", "changeme", "<app secret>"]
        .into_iter()
        .enumerate()
    {
        // The placeholder is current, then the operator's put-secret-value makes it previous.
        put_app_secret(&stack, placeholder).await;
        put_app_secret(&stack, &format!("{NEW_APP_SECRET}-{i}")).await;
        tokio::time::sleep(REFRESH_WAIT).await;

        // Act
        let forged = post(&stack, Some(placeholder)).await;

        // Assert
        assert_eq!(forged, 401, "signed with {placeholder:?}");
        assert_eq!(inbound_depth(&stack).await, 0, "after {placeholder:?}");
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn a_post_signed_with_the_previous_secret_after_the_grace_period_is_refused() {
    // Arrange: a rotation from the local app secret, with a 2 s grace period.
    let stack = stack("local-app-secret", 2).await;
    put_app_secret(&stack, NEW_APP_SECRET).await;
    // CreatedDate has whole seconds: wait out the grace period with a second to spare.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Act
    let old = post(&stack, Some("local-app-secret")).await;

    // Assert
    assert_eq!(old, 401);
    assert_eq!(inbound_depth(&stack).await, 0);
    assert_eq!(
        post(&stack, Some(NEW_APP_SECRET)).await,
        200,
        "rotation seen"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_post_signed_with_the_previous_secret_within_the_grace_period_is_accepted() {
    // Arrange
    let stack = stack("local-app-secret", 3600).await;
    put_app_secret(&stack, NEW_APP_SECRET).await;
    tokio::time::sleep(REFRESH_WAIT).await;

    // Act
    let old = post(&stack, Some("local-app-secret")).await;

    // Assert
    assert_eq!(old, 200);
    assert_eq!(inbound_depth(&stack).await, 2);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_post_signed_with_the_current_secret_is_accepted() {
    // Arrange
    let stack = stack("", 3600).await;
    put_app_secret(&stack, NEW_APP_SECRET).await;
    tokio::time::sleep(REFRESH_WAIT).await;

    // Act
    let current = post(&stack, Some(NEW_APP_SECRET)).await;

    // Assert
    assert_eq!(current, 200);
    assert_eq!(inbound_depth(&stack).await, 2);
    stack.shutdown().await;
}

#[tokio::test]
async fn while_the_current_app_secret_is_a_placeholder_every_post_is_503_and_nothing_queued() {
    // Arrange: the template's value, then a real secret replaced by "set-me" again.
    let stack = stack("", 3600).await;

    // Act / Assert: signed with the placeholder, with a guess, unsigned.
    for secret in [Some(""), Some("local-app-secret"), None] {
        assert_eq!(post(&stack, secret).await, 503, "fresh deploy, {secret:?}");
    }
    put_app_secret(&stack, "local-app-secret").await;
    put_app_secret(&stack, "set-me").await;
    tokio::time::sleep(REFRESH_WAIT).await;
    for secret in [Some("set-me"), Some("local-app-secret"), None] {
        assert_eq!(
            post(&stack, secret).await,
            503,
            "set-me current, {secret:?}"
        );
    }
    assert_eq!(inbound_depth(&stack).await, 0);
    stack.shutdown().await;
}
