//! The bridge's bucket: media copied from Meta, updates too large for one SQS message (claim
//! checks) and personal-data exports. One port, [`Blobs`], with an S3 adapter ([`s3::S3Blobs`]) and an
//! in-memory one for tests; every object key comes from [`keys`], so writers, erasure and export
//! agree on where a person's objects live.

pub mod claim;
pub mod keys;
pub mod memory;
pub mod s3;

use std::future::Future;
use std::time::Duration;

/// One stored object as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// What went wrong talking to the bucket. Messages never carry object contents; keys are
/// passed through [`crate::redact`] by callers that log them.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("S3 {operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error("could not presign a URL: {0}")]
    Presign(String),
}

/// The bucket, as the functions use it.
pub trait Blobs: Send + Sync {
    /// The bucket's name (events tell the CRM where an object is).
    fn bucket(&self) -> &str;

    /// Stores `bytes` at `key`, replacing any object there.
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;

    /// The object at `key`, or `None` when there is none.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Blob>, BlobError>> + Send;

    /// Every key under `prefix`, in key order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, BlobError>> + Send;

    /// Deletes the objects at `keys` (absent ones are not an error); returns how many were asked.
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<usize, BlobError>> + Send;

    /// A URL that serves `key` with a GET for `valid_for`, without credentials.
    fn presign_get(
        &self,
        key: &str,
        valid_for: Duration,
    ) -> impl Future<Output = Result<String, BlobError>> + Send;
}
