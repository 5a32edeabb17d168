//! Media, durably, through the local stack (S3 on moto): a customer's image becomes
//! `message.media_stored` with the object in the bucket and Meta's sha256; a download fault is
//! retried by the media function while `message.received` reaches the CRM at its usual time.

use std::time::{Duration, Instant};

use e2e_tests::{meta_posts, of_type, start_stack, CrmEvents};
use local_runner::RunningStack;
use serde_json::{json, Value};
use shared::media::MetaDigest;

/// How long to wait for events; only a failing test waits this long.
const PATIENCE: Duration = Duration::from_secs(180);

/// What `message.received` takes without media in this stack, with a wide margin: the event must
/// not wait for a download that is failing and backing off.
const USUAL: Duration = Duration::from_secs(20);

/// Registers bytes with the simulator: (media id, the webhook's base64 sha256).
async fn meta_holds(stack: &RunningStack, bytes: &[u8], mime_type: &str) -> (String, String) {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/_sim/media", stack.sim_url))
        .header("content-type", mime_type)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("JSON");
    (
        answer["id"].as_str().expect("media id").to_owned(),
        answer["sha256"].as_str().expect("sha256").to_owned(),
    )
}

/// A customer sends an image with that media id (Meta's webhook, signed by the simulator).
async fn customer_sends_image(stack: &RunningStack, wamid: &str, media_id: &str, sha256: &str) {
    let timestamp = (shared::now_ms() / 1000).to_string();
    meta_posts(
        stack,
        "messages",
        json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
            "messages": [{
                "from": "5511987654321", "id": wamid, "timestamp": timestamp, "type": "image",
                "image": {"id": media_id, "mime_type": "image/jpeg", "sha256": sha256, "caption": "foto"}
            }]
        }),
    )
    .await;
}

async fn object(stack: &RunningStack, bucket: &str, key: &str) -> Vec<u8> {
    let _ = stack;
    let s3 = local_aws::local_s3(&local_aws::local_sdk_config().await);
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("the object is in the bucket")
        .body
        .collect()
        .await
        .expect("its bytes")
        .into_bytes()
        .to_vec()
}

#[tokio::test]
async fn a_customers_image_is_copied_into_the_bucket_with_metas_sha256() {
    let stack = start_stack(&[]).await;
    let bytes = b"\xff\xd8\xff\xe0 a customer's photo of the product".to_vec();
    let (media_id, sha256) = meta_holds(&stack, &bytes, "image/jpeg").await;
    customer_sends_image(&stack, "wamid.MEDIAE2E1==", &media_id, &sha256).await;

    let events = CrmEvents::of(&stack)
        .await
        .until("message.media_stored", 1, PATIENCE)
        .await;
    let stored = of_type(&events, "message.media_stored");
    assert_eq!(stored.len(), 1, "{events:#?}");
    let data = &stored[0]["data"];
    let (bucket, key) = (
        data["bucket"].as_str().expect("bucket"),
        data["key"].as_str().expect("key"),
    );
    let held = object(&stack, bucket, key).await;
    assert_eq!(held, bytes);
    assert_eq!(Some(MetaDigest::of(&held)), MetaDigest::parse(&sha256));
    assert_eq!(data["sha256"], MetaDigest::of(&bytes).hex());
    assert_eq!(data["size"], bytes.len());
    assert_eq!(data["mime_type"], "image/jpeg");
    // The message came first, in the contact's group.
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let received = types.iter().position(|t| *t == "message.received");
    let media = types.iter().position(|t| *t == "message.media_stored");
    assert!(received < media, "{types:?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_failing_download_is_retried_and_does_not_delay_the_message() {
    let stack = start_stack(&[]).await;
    let bytes = b"%PDF-1.7 a customer's invoice".to_vec();
    let (media_id, sha256) = meta_holds(&stack, &bytes, "image/jpeg").await;
    let fault = reqwest::Client::new()
        .post(format!("{}/_sim/media-faults", stack.sim_url))
        .json(&json!({"on": "download", "status": 503, "times": 1}))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(fault.status().as_u16(), 201);

    let sent_at = Instant::now();
    customer_sends_image(&stack, "wamid.MEDIAE2E2==", &media_id, &sha256).await;
    let crm = CrmEvents::of(&stack).await;
    let first = crm.until("message.received", 1, PATIENCE).await;
    let received_after = sent_at.elapsed();
    assert_eq!(of_type(&first, "message.received").len(), 1, "{first:#?}");
    assert!(
        received_after < USUAL,
        "message.received took {received_after:?}"
    );
    assert!(
        of_type(&first, "message.media_stored").is_empty(),
        "the copy is retried after a backoff: {first:#?}"
    );

    let later = crm.until("message.media_stored", 1, PATIENCE).await;
    let stored = of_type(&later, "message.media_stored");
    assert_eq!(stored.len(), 1, "{later:#?}");
    let data = &stored[0]["data"];
    let held = object(
        &stack,
        data["bucket"].as_str().expect("bucket"),
        data["key"].as_str().expect("key"),
    )
    .await;
    assert_eq!(held, bytes);
    // The fault was used: the download was tried, failed, and was tried again.
    let left: Value = reqwest::Client::new()
        .get(format!("{}/_sim/media-faults", stack.sim_url))
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(left, json!([]));
    stack.shutdown().await;
}
