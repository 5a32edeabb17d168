//! `send_media` by `key`: an object in the bridge's bucket (under `media/`, the schema says so)
//! goes to Meta as a presigned GET link valid `MEDIA_LINK_MINUTES`, made just before the call so
//! the link's life starts when Meta receives it. Meta fetches the link itself; the bucket stays
//! private.

use std::time::Duration;

use serde_json::Value;
use shared::blob::{keys, BlobError, Blobs};
use shared::media::MEDIA_TYPES;

/// `body` with its media object's `key` replaced by a presigned `link`; `None` when it has none.
pub async fn presigned<B: Blobs>(
    blobs: &B,
    body: &Value,
    valid_for: Duration,
) -> Result<Option<Value>, BlobError> {
    let Some(kind) = body
        .get("type")
        .and_then(Value::as_str)
        .filter(|k| MEDIA_TYPES.contains(k))
    else {
        return Ok(None);
    };
    let Some(key) = body
        .pointer(&format!("/{kind}/key"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    // The schema allows only media keys; a second look here keeps exports and claim checks out
    // of reach whatever the schema becomes.
    if !key.starts_with(keys::MEDIA_PREFIX) || key.split('/').any(|part| part == "..") {
        return Err(BlobError::Presign(
            "only objects under media/ can be sent".into(),
        ));
    }
    let link = blobs.presign_get(key, valid_for).await?;
    let mut body = body.clone();
    if let Some(object) = body.get_mut(kind).and_then(Value::as_object_mut) {
        object.remove("key");
        object.insert("link".into(), link.into());
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::blob::memory::MemoryBlobs;

    const KEY: &str =
        "media/106540352242922/ct_0123456789abcdef01234567/0000000000000000000000000000000000000000000000000000000000000000";

    #[tokio::test]
    async fn a_key_becomes_a_link_valid_for_the_setting_and_the_rest_is_kept() {
        let blobs = MemoryBlobs::new("data");
        let body = json!({"messaging_product":"whatsapp","to":"+5511987654321","type":"image",
                          "image":{"key":KEY,"caption":"foto"}});
        let sent = presigned(&blobs, &body, Duration::from_secs(900))
            .await
            .expect("presigned")
            .expect("a key to replace");
        assert_eq!(sent["image"]["caption"], "foto");
        assert!(sent["image"].get("key").is_none());
        let link = sent["image"]["link"].as_str().expect("link");
        assert!(link.contains(KEY) && link.contains("900"), "{link}");
        assert_eq!(sent["to"], body["to"]);
    }

    #[tokio::test]
    async fn bodies_without_a_key_are_left_alone() {
        let blobs = MemoryBlobs::new("data");
        for body in [
            json!({"type":"image","image":{"link":"https://x/y.png"}}),
            json!({"type":"document","document":{"id":"123"}}),
            json!({"type":"text","text":{"body":"key"}}),
            json!({"status":"read","message_id":"wamid.X"}),
        ] {
            let out = presigned(&blobs, &body, Duration::from_secs(60)).await;
            assert!(matches!(out, Ok(None)), "{body}");
        }
    }

    #[tokio::test]
    async fn a_key_outside_media_is_never_signed() {
        let blobs = MemoryBlobs::new("data");
        for key in [
            "exports/1/ct/x.json",
            "updates/abc.json",
            "media/../exports/1/ct/x.json",
        ] {
            let body = json!({"type":"video","video":{"key":key}});
            let out = presigned(&blobs, &body, Duration::from_secs(60)).await;
            assert!(matches!(out, Err(BlobError::Presign(_))), "{key}");
        }
    }
}
