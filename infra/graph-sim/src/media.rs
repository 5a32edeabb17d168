//! Media as Meta keeps it: what a customer sends is stored under a media id; `GET
//! /{version}/{media-id}` answers a download URL that needs the bearer token and lives 5 minutes
//! (on the simulator's clock, so the local stack's time travel expires it), and the URL serves
//! the bytes. Faults make the next metadata or download calls fail with a 5xx.
//!
//! Meta writes a media's sha256 two ways: base64 of the digest in webhooks (`image.sha256`), hex
//! in the `GET /{media-id}` answer; [`RegisteredMedia`] gives both.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::errors::MetaError;

/// How long a download URL works after `GET /{media-id}` answered it (Meta: 5 minutes).
pub const URL_LIFETIME_MS: i64 = 5 * 60 * 1_000;

/// The path download URLs are served on (Meta's lookaside host uses the same).
pub const DOWNLOAD_PATH: &str = "/whatsapp_business/attachments/";

/// What `POST /_sim/media` answers: the id a webhook carries and Meta's two digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredMedia {
    pub id: String,
    pub mime_type: String,
    /// base64 of the SHA-256 digest, as webhooks carry it.
    pub sha256: String,
    /// hex of the SHA-256 digest, as `GET /{media-id}` answers it.
    pub sha256_hex: String,
    pub file_size: usize,
}

/// Which call a media fault fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaCall {
    /// `GET /{version}/{media-id}`.
    Metadata,
    /// The download URL.
    Download,
}

/// "The next `times` calls of kind `on` fail with HTTP `status`" (a 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaFault {
    pub on: MediaCall,
    #[serde(default = "server_error")]
    pub status: u16,
    #[serde(default = "one")]
    pub times: u32,
}

fn server_error() -> u16 {
    500
}

fn one() -> u32 {
    1
}

/// Why a media fault or registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaRequestError {
    #[error("status must be a server error, 500 to 599")]
    NotServerError,
    #[error("times must be at least 1")]
    ZeroTimes,
    #[error("the media has no bytes")]
    Empty,
    #[error("a Content-Type header naming the media's mime type is required")]
    NoMimeType,
}

/// Why a download was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadRefusal {
    /// No or wrong bearer token: Meta's 190 error, 401.
    Token(MetaError),
    /// Unknown or expired URL: 404.
    NotFound,
    /// An injected fault: this status, no body.
    Fault(u16),
}

/// One download as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

struct Stored {
    mime_type: String,
    bytes: Vec<u8>,
    sha256_hex: String,
}

struct IssuedUrl {
    media_id: String,
    expires_ms: i64,
}

/// The simulator's media: bounded (oldest dropped first), like its logs.
pub(crate) struct MediaStore {
    items: HashMap<String, Stored>,
    order: VecDeque<String>,
    urls: HashMap<String, IssuedUrl>,
    faults: Vec<MediaFault>,
    capacity: usize,
}

impl MediaStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: HashMap::new(),
            order: VecDeque::new(),
            urls: HashMap::new(),
            faults: Vec::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn register(
        &mut self,
        bytes: Vec<u8>,
        mime_type: &str,
    ) -> Result<RegisteredMedia, MediaRequestError> {
        let mime_type = mime_type.trim();
        if mime_type.is_empty() {
            return Err(MediaRequestError::NoMimeType);
        }
        if bytes.is_empty() {
            return Err(MediaRequestError::Empty);
        }
        let digest = Sha256::digest(&bytes);
        let id = media_id();
        let registered = RegisteredMedia {
            id: id.clone(),
            mime_type: mime_type.to_owned(),
            sha256: base64::engine::general_purpose::STANDARD.encode(digest),
            sha256_hex: hex::encode(digest),
            file_size: bytes.len(),
        };
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.items.remove(&old);
            }
        }
        self.items.insert(
            id.clone(),
            Stored {
                mime_type: registered.mime_type.clone(),
                bytes,
                sha256_hex: registered.sha256_hex.clone(),
            },
        );
        self.order.push_back(id);
        Ok(registered)
    }

    pub(crate) fn add_fault(&mut self, fault: MediaFault) -> Result<(), MediaRequestError> {
        if !(500..=599).contains(&fault.status) {
            return Err(MediaRequestError::NotServerError);
        }
        if fault.times == 0 {
            return Err(MediaRequestError::ZeroTimes);
        }
        self.faults.push(fault);
        Ok(())
    }

    pub(crate) fn faults(&self) -> Vec<MediaFault> {
        self.faults.clone()
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.order.clear();
        self.urls.clear();
        self.faults.clear();
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Uses up one fault on `call`, if any: the status to answer.
    fn take_fault(&mut self, call: MediaCall) -> Option<u16> {
        let pos = self.faults.iter().position(|f| f.on == call)?;
        let fault = self.faults.get_mut(pos)?;
        fault.times = fault.times.saturating_sub(1);
        let status = fault.status;
        if fault.times == 0 {
            self.faults.remove(pos);
        }
        Some(status)
    }

    /// `GET /{version}/{media-id}` once the token and version passed: Meta's JSON answer, with a
    /// fresh URL under `base_url` valid [`URL_LIFETIME_MS`] from `now_ms`.
    pub(crate) fn metadata(
        &mut self,
        media_id: &str,
        base_url: &str,
        now_ms: i64,
    ) -> Result<String, MetaError> {
        if let Some(status) = self.take_fault(MediaCall::Metadata) {
            return Err(server_fault(status));
        }
        let Some(stored) = self.items.get(media_id) else {
            return Err(MetaError::unknown_object_get(media_id));
        };
        let hash = Alphanumeric.sample_string(&mut rand::rng(), 40);
        let expires_ms = now_ms.saturating_add(URL_LIFETIME_MS);
        let url = format!(
            "{base_url}{DOWNLOAD_PATH}?mid={media_id}&ext={}&hash={hash}",
            expires_ms / 1_000
        );
        let answer = MetadataAnswer {
            url: &url,
            mime_type: &stored.mime_type,
            sha256: &stored.sha256_hex,
            file_size: stored.bytes.len(),
            id: media_id,
            messaging_product: "whatsapp",
        };
        let body = serde_json::to_string(&answer).unwrap_or_default();
        self.urls.retain(|_, issued| issued.expires_ms > now_ms);
        self.urls.insert(
            hash,
            IssuedUrl {
                media_id: media_id.to_owned(),
                expires_ms,
            },
        );
        Ok(body)
    }

    /// The URL's bytes once the token passed; `hash` is the URL's `hash` query parameter.
    pub(crate) fn download(
        &mut self,
        hash: &str,
        now_ms: i64,
    ) -> Result<Download, DownloadRefusal> {
        if let Some(status) = self.take_fault(MediaCall::Download) {
            return Err(DownloadRefusal::Fault(status));
        }
        let issued = self
            .urls
            .get(hash)
            .filter(|issued| issued.expires_ms > now_ms)
            .ok_or(DownloadRefusal::NotFound)?;
        let stored = self
            .items
            .get(&issued.media_id)
            .ok_or(DownloadRefusal::NotFound)?;
        Ok(Download {
            mime_type: stored.mime_type.clone(),
            bytes: stored.bytes.clone(),
        })
    }
}

/// Graph's answer to `GET /{media-id}`, fields in Meta's order.
#[derive(Serialize)]
struct MetadataAnswer<'a> {
    url: &'a str,
    mime_type: &'a str,
    sha256: &'a str,
    file_size: usize,
    id: &'a str,
    messaging_product: &'static str,
}

/// A Graph server error with the injected HTTP status (code 2 for 503, 1 otherwise).
fn server_fault(status: u16) -> MetaError {
    let code = if status == 503 { 2 } else { 1 };
    MetaError {
        http_status: status,
        ..MetaError::fault(code)
    }
}

/// A numeric id shaped like Meta's media ids (16 digits).
fn media_id() -> String {
    let n: u64 = rand::random_range(1_000_000_000_000_000..10_000_000_000_000_000);
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    fn hash_of(body: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let url = v["url"].as_str().expect("url").to_owned();
        url.split("hash=").nth(1).expect("hash").to_owned()
    }

    #[test]
    fn registers_bytes_with_metas_two_digest_encodings() {
        let mut store = MediaStore::new(10);
        let media = store
            .register(b"abc".to_vec(), "image/jpeg")
            .expect("registered");
        assert_eq!(
            media.sha256_hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(media.sha256, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(media.file_size, 3);
        assert_eq!(media.id.len(), 16);
        assert!(media.id.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn refuses_empty_media_or_a_missing_mime_type() {
        let mut store = MediaStore::new(10);
        assert_eq!(
            store.register(vec![], "image/png"),
            Err(MediaRequestError::Empty)
        );
        assert_eq!(
            store.register(b"x".to_vec(), " "),
            Err(MediaRequestError::NoMimeType)
        );
    }

    #[test]
    fn a_url_serves_the_bytes_until_five_minutes_pass() {
        let mut store = MediaStore::new(10);
        let media = store
            .register(b"photo".to_vec(), "image/png")
            .expect("registered");
        let body = store
            .metadata(&media.id, "http://sim", NOW)
            .expect("metadata");
        let hash = hash_of(&body);
        let got = store
            .download(&hash, NOW + URL_LIFETIME_MS - 1)
            .expect("served");
        assert_eq!(got.bytes, b"photo");
        assert_eq!(got.mime_type, "image/png");
        assert_eq!(
            store.download(&hash, NOW + URL_LIFETIME_MS),
            Err(DownloadRefusal::NotFound)
        );
        assert_eq!(store.download("nope", NOW), Err(DownloadRefusal::NotFound));
    }

    #[test]
    fn the_oldest_media_goes_when_the_store_is_full() {
        let mut store = MediaStore::new(1);
        let first = store
            .register(b"1".to_vec(), "image/png")
            .expect("registered");
        store
            .register(b"2".to_vec(), "image/png")
            .expect("registered");
        let err = store
            .metadata(&first.id, "http://sim", NOW)
            .expect_err("gone");
        assert_eq!((err.code, err.subcode), (100, Some(33)));
    }

    #[test]
    fn faults_fail_the_next_calls_of_their_kind_only() {
        let mut store = MediaStore::new(10);
        let media = store
            .register(b"x".to_vec(), "audio/ogg")
            .expect("registered");
        store
            .add_fault(MediaFault {
                on: MediaCall::Download,
                status: 503,
                times: 2,
            })
            .expect("added");
        let body = store
            .metadata(&media.id, "http://sim", NOW)
            .expect("metadata unaffected");
        let hash = hash_of(&body);
        assert_eq!(store.download(&hash, NOW), Err(DownloadRefusal::Fault(503)));
        assert_eq!(store.download(&hash, NOW), Err(DownloadRefusal::Fault(503)));
        assert!(store.download(&hash, NOW).is_ok());

        store
            .add_fault(MediaFault {
                on: MediaCall::Metadata,
                status: 500,
                times: 1,
            })
            .expect("added");
        let err = store
            .metadata(&media.id, "http://sim", NOW)
            .expect_err("fault");
        assert_eq!((err.http_status, err.code), (500, 1));
        assert!(store.metadata(&media.id, "http://sim", NOW).is_ok());
    }

    #[test]
    fn refuses_faults_that_are_not_server_errors_or_never_fire() {
        let mut store = MediaStore::new(10);
        let fault = |status, times| MediaFault {
            on: MediaCall::Metadata,
            status,
            times,
        };
        assert_eq!(
            store.add_fault(fault(404, 1)),
            Err(MediaRequestError::NotServerError)
        );
        assert_eq!(
            store.add_fault(fault(500, 0)),
            Err(MediaRequestError::ZeroTimes)
        );
        assert!(store.faults().is_empty());
    }
}
