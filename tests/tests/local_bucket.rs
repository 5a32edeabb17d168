//! The bucket on the local AWS: provisioned from template.yaml (KMS key, SSE-KMS, public access
//! block, lifecycle), the S3 adapter (`shared::blob::s3::S3Blobs`) against it, and the local IAM
//! enforcing S3 and KMS as AWS does (a role may write only under the prefixes it is granted,
//! and only with the bucket key's KMS permission).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use local_aws::iam::{local_endpoints, register, RoleSpec, SessionCredentials};
use local_aws::{local_s3, one_value_for_each_secret, Clients, Model, Parameters, Provisioned};
use serde_json::{json, Value};
use shared::blob::s3::S3Blobs;
use shared::blob::{keys, BlobError, Blobs};

/// The template's resources under a fresh prefix, provisioned by the administrator.
async fn provisioned() -> (String, Provisioned) {
    let prefix = format!("b{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let model = Model::load(
        local_aws::workspace_template_path(),
        &Parameters::local().with("ResourcePrefix", prefix.clone()),
    )
    .expect("the template loads");
    let clients = Clients::new(&local_aws::local_sdk_config().await);
    let provisioned =
        local_aws::provision(&model, &clients, &one_value_for_each_secret(&model, "{}"))
            .await
            .expect("provisioning succeeds");
    (prefix, provisioned)
}

/// A role session with `statements`, registered with every local moto; its SDK configuration.
async fn session(prefix: &str, statements: Value) -> aws_config::SdkConfig {
    let role = RoleSpec {
        function_logical_id: "Fn".into(),
        binary: "fn".into(),
        role_logical_id: "FnRole".into(),
        policies: vec![json!({ "Statement": statements })],
        managed_policy_arns: vec![],
    };
    let credentials = SessionCredentials::generate();
    register(
        &local_endpoints(),
        &format!("{prefix}FnRole"),
        &role,
        &credentials,
    )
    .await
    .expect("the session registers");
    let provider = aws_sdk_s3::config::Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        None,
        "test",
    );
    local_aws::local_sdk_config()
        .await
        .to_builder()
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(provider))
        .build()
}

#[tokio::test]
async fn the_bucket_is_provisioned_from_the_template_encrypted_private_and_with_its_lifecycle() {
    let (prefix, provisioned) = provisioned().await;
    let bucket = provisioned.bucket_name("DataBucket").expect("DataBucket");
    assert_eq!(
        bucket,
        format!("{prefix}wa-crm-bridge-data-123456789012-us-east-1")
    );
    let key_arn = provisioned.key_arn("DataKey").expect("DataKey");
    let s3 = local_s3(&local_aws::local_sdk_config().await);

    let encryption = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .expect("GetBucketEncryption");
    let rule = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .expect("one encryption rule");
    let default = rule
        .apply_server_side_encryption_by_default()
        .expect("a default");
    assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(default.kms_master_key_id(), Some(key_arn));
    assert_eq!(rule.bucket_key_enabled(), Some(true));

    let block = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .expect("GetPublicAccessBlock");
    let block = block.public_access_block_configuration().expect("a block");
    assert_eq!(
        (
            block.block_public_acls(),
            block.block_public_policy(),
            block.ignore_public_acls(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );

    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("GetBucketLifecycleConfiguration");
    let expiry = |prefix: &str| {
        lifecycle
            .rules()
            .iter()
            .find(|r| r.filter().and_then(|f| f.prefix()) == Some(prefix))
            .and_then(|r| r.expiration())
            .and_then(|e| e.days())
    };
    assert_eq!(expiry(keys::MEDIA_PREFIX), Some(90), "RetentionDays");
    assert_eq!(expiry(keys::UPDATES_PREFIX), Some(15));
    assert_eq!(expiry(keys::EXPORTS_PREFIX), Some(1));

    // Versioning stays off (the model test checks the template says so); moto answers
    // GetBucketVersioning of a never-versioned bucket with a body the SDK cannot parse.
}

#[tokio::test]
async fn provisioning_twice_converges_on_the_same_bucket_and_key() {
    let (prefix, first) = provisioned().await;
    let model = Model::load(
        local_aws::workspace_template_path(),
        &Parameters::local().with("ResourcePrefix", prefix),
    )
    .expect("the template loads");
    let clients = Clients::new(&local_aws::local_sdk_config().await);
    let second = local_aws::provision(&model, &clients, &one_value_for_each_secret(&model, "{}"))
        .await
        .expect("provisioning again succeeds");
    assert_eq!(
        first.bucket_name("DataBucket"),
        second.bucket_name("DataBucket")
    );
    assert_eq!(first.key_arn("DataKey"), second.key_arn("DataKey"));
}

#[tokio::test]
async fn the_adapter_puts_gets_lists_past_a_page_deletes_in_chunks_and_presigns() {
    let (_, provisioned) = provisioned().await;
    let bucket = provisioned.bucket_name("DataBucket").expect("DataBucket");
    let blobs = S3Blobs::new(&local_aws::local_sdk_config().await, bucket);
    assert_eq!(blobs.bucket(), bucket);

    // 1,001 objects: one more than a ListObjectsV2 page and a DeleteObjects request hold.
    let prefix = keys::media_prefix("15550001111", "ct_many");
    let many: Vec<String> = (0..1001).map(|i| format!("{prefix}{i:05}")).collect();
    futures::stream::iter(
        many.iter()
            .map(|k| blobs.put(k, b"x".to_vec(), "image/jpeg")),
    )
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await
    .expect("puts");
    let other = keys::media("15550001111", "ct_other", "wamid.1");
    blobs
        .put(&other, b"\x89PNG...".to_vec(), "image/png")
        .await
        .expect("put");

    let listed = blobs.list(&prefix).await.expect("list");
    assert_eq!(
        listed, many,
        "every key under the prefix, in key order, nothing else"
    );

    let got = blobs.get(&other).await.expect("get").expect("the object");
    assert_eq!(got.bytes, b"\x89PNG...".to_vec());
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        blobs.get(&format!("{prefix}absent")).await.expect("get"),
        None
    );

    let url = blobs
        .presign_get(&other, Duration::from_secs(60))
        .await
        .expect("presign");
    let served = reqwest::get(&url).await.expect("GET the presigned URL");
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.expect("body").as_ref(), b"\x89PNG...");
    let tampered = url.replace(&keys::media("15550001111", "ct_other", "wamid.1"), &many[0]);
    assert_eq!(
        reqwest::get(&tampered).await.expect("GET").status(),
        403,
        "a URL signed for one key does not serve another"
    );

    assert_eq!(blobs.delete(&listed).await.expect("delete"), 1001);
    assert!(blobs.list(&prefix).await.expect("list").is_empty());
    assert!(
        blobs.get(&other).await.expect("get").is_some(),
        "others stay"
    );
}

#[tokio::test]
async fn an_expired_presigned_url_is_refused() {
    let (_, provisioned) = provisioned().await;
    let bucket = provisioned.bucket_name("DataBucket").expect("DataBucket");
    let blobs = S3Blobs::new(&local_aws::local_sdk_config().await, bucket);
    let key = keys::export("15550001111", "ct_a", "ex1");
    blobs
        .put(&key, b"{}".to_vec(), "application/json")
        .await
        .expect("put");
    let url = blobs
        .presign_get(&key, Duration::from_secs(1))
        .await
        .expect("presign");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let answer = reqwest::get(&url).await.expect("GET");
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap_or_default().contains("expired"));
}

#[tokio::test]
async fn a_role_writes_only_under_its_granted_prefix_and_only_with_the_bucket_keys_permission() {
    let (prefix, provisioned) = provisioned().await;
    let bucket = provisioned.bucket_name("DataBucket").expect("DataBucket");
    let key_arn = provisioned.key_arn("DataKey").expect("DataKey");
    let update = keys::update(b"{\"entry\":[]}");
    let media = keys::media("15550001111", "ct_a", "wamid.1");

    let writer = session(
        &prefix,
        json!([
            {"Effect": "Allow", "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{bucket}/updates/*")},
            {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key_arn},
        ]),
    )
    .await;
    let blobs = S3Blobs::new(&writer, bucket);
    blobs
        .put(&update, b"{}".to_vec(), "application/json")
        .await
        .expect("the role may write under updates/");
    let denied = blobs
        .put(&media, b"{}".to_vec(), "image/jpeg")
        .await
        .expect_err("and not under media/");
    assert!(
        matches!(&denied, BlobError::Aws { operation: "PutObject", message } if message.starts_with("AccessDenied")),
        "{denied}"
    );
    let read = blobs
        .get(&update)
        .await
        .expect_err("nor read what it wrote");
    assert!(read.to_string().contains("AccessDenied"), "{read}");

    let without_kms = session(
        &prefix,
        json!([{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": format!("arn:aws:s3:::{bucket}/updates/*")}]),
    )
    .await;
    let err = S3Blobs::new(&without_kms, bucket)
        .put(&update, b"{}".to_vec(), "application/json")
        .await
        .expect_err("SSE-KMS needs kms:GenerateDataKey on the bucket's key");
    assert!(err.to_string().contains("kms:GenerateDataKey"), "{err}");
    let err = S3Blobs::new(&without_kms, bucket)
        .get(&update)
        .await
        .expect_err("and reading needs kms:Decrypt");
    assert!(err.to_string().contains("kms:Decrypt"), "{err}");

    let reader = session(
        &prefix,
        json!([
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{bucket}/updates/*")},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
        ]),
    )
    .await;
    let got = S3Blobs::new(&reader, bucket)
        .get(&update)
        .await
        .expect("a reader with both grants reads")
        .expect("the object");
    assert_eq!(got.bytes, b"{}".to_vec());
    let lister = S3Blobs::new(&reader, bucket).list("updates/").await;
    assert!(lister.is_err(), "listing needs s3:ListBucket on the bucket");

    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| local_aws::DEFAULT_ENDPOINT.to_owned());
    let anonymous = reqwest::get(format!("{endpoint}/{bucket}/{update}"))
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), 403, "nothing is public");
}

#[tokio::test]
async fn a_sdk_error_from_s3_keeps_its_code_and_no_object_bytes() {
    let blobs = S3Blobs::new(&local_aws::local_sdk_config().await, "no-such-bucket-here");
    let err = blobs
        .put(
            "updates/x.json",
            b"secret body 5511987654321".to_vec(),
            "application/json",
        )
        .await
        .expect_err("no bucket");
    let text = err.to_string();
    assert!(text.contains("NoSuchBucket"), "{text}");
    assert!(!text.contains("5511987654321"), "{text}");
}
