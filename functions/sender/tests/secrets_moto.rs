//! The sender's secret against the local moto: it reads `AWSCURRENT` only (one call per refresh),
//! while the webhook's source, whose previous app secret stays valid after a rotation, reads both.

use shared::secrets::{AccessTokens, SecretSource, SecretsManagerSource};

async fn rotated_secret(client: &aws_sdk_secretsmanager::Client) -> String {
    let name = format!(
        "s{}-access",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"access_token":"old-token-value"}"#)
        .send()
        .await
        .expect("CreateSecret");
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(r#"{"access_token":"new-token-value"}"#)
        .send()
        .await
        .expect("PutSecretValue");
    name
}

#[tokio::test]
async fn the_senders_source_reads_the_current_version_alone_after_a_rotation() {
    let client = aws_sdk_secretsmanager::Client::new(&local_aws::local_sdk_config().await);
    let name = rotated_secret(&client).await;

    let current_only = SecretsManagerSource::<AccessTokens>::new(client.clone(), &name)
        .fetch()
        .await
        .expect("fetch");
    let both = SecretsManagerSource::<AccessTokens>::new(client, &name)
        .with_previous()
        .fetch()
        .await
        .expect("fetch");

    assert!(current_only.previous.is_none());
    assert!(current_only.current.value.for_number("1").is_some());
    assert!(
        both.previous.is_some(),
        "the rotation left an AWSPREVIOUS version"
    );
}
