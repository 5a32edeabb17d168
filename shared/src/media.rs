//! Inbound media copied into the bridge's bucket: the job the processor queues on `MediaQueue`
//! for each customer media message, and Meta's sha256 in either of its encodings.
//!
//! Meta writes a media's SHA-256 as base64 in webhooks (`image.sha256`) and as hex in the
//! `GET /{media-id}` answer; [`MetaDigest::parse`] reads both so they compare as digests.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The message types whose object carries a media id (Meta's webhook reference).
pub const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

/// One media copy to make: everything the media function needs from the update, so it never
/// re-reads the webhook. The contact comes from the stored message (see `functions/media`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaJob {
    pub wamid: String,
    /// The business number (`phone_number_id`): the bucket key's first part and the token's.
    pub business: String,
    pub media_id: String,
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub message_type: String,
    /// As the webhook gave it; the downloaded bytes' type wins when Meta answers another.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// As the webhook gave it (base64); checked against the bytes.
    #[serde(default)]
    pub sha256: Option<String>,
}

impl MediaJob {
    /// The dedup key of the copy's commit (`media:<wamid>`): one `message.media_stored` per message.
    pub fn update_key(&self) -> String {
        format!("media:{}", self.wamid)
    }
}

/// A SHA-256 digest as Meta wrote it, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaDigest([u8; 32]);

impl MetaDigest {
    /// 64 hex digits (the media answer) or base64 of 32 bytes (webhooks); anything else is none.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).ok()?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .ok()?
        };
        Some(Self(bytes.try_into().ok()?))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, as `message.media_stored` carries it.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metas_base64_and_hex_as_the_same_digest() {
        let of_abc = MetaDigest::of(b"abc");
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(MetaDigest::parse(hex), Some(of_abc));
        assert_eq!(MetaDigest::parse(&hex.to_uppercase()), Some(of_abc));
        assert_eq!(
            MetaDigest::parse("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="),
            Some(of_abc)
        );
        assert_eq!(of_abc.hex(), hex);
    }

    #[test]
    fn refuses_what_is_not_a_sha256() {
        for bad in ["", "abc", "zz", &"a".repeat(63), "AAAA", "not base64!"] {
            assert_eq!(MetaDigest::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_jobs_update_key_names_its_message() {
        let job = MediaJob {
            wamid: "wamid.X".into(),
            business: "1".into(),
            media_id: "2".into(),
            message_type: "image".into(),
            mime_type: None,
            sha256: None,
        };
        assert_eq!(job.update_key(), "media:wamid.X");
    }
}
