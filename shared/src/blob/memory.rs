//! The bucket in memory, for unit tests and the functions' in-process tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Blob, BlobError, Blobs};

/// A bucket held in a map. Presigned URLs are `memory://<bucket>/<key>?expires=<secs>`: enough
/// for a test to check what was signed; nothing serves them.
#[derive(Debug, Default)]
pub struct MemoryBlobs {
    bucket: String,
    objects: Mutex<BTreeMap<String, Blob>>,
}

impl MemoryBlobs {
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            objects: Mutex::default(),
        }
    }

    /// Every key held, in order (tests scan the bucket with it).
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Blob>> {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Blobs for MemoryBlobs {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.lock().insert(
            key.to_owned(),
            Blob {
                bytes,
                content_type: Some(content_type.to_owned()),
            },
        );
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        Ok(self
            .lock()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn delete(&self, keys: &[String]) -> Result<usize, BlobError> {
        let mut objects = self.lock();
        for k in keys {
            objects.remove(k);
        }
        Ok(keys.len())
    }

    async fn presign_get(&self, key: &str, valid_for: Duration) -> Result<String, BlobError> {
        Ok(format!(
            "memory://{}/{key}?expires={}",
            self.bucket,
            valid_for.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_only_its_prefix_and_deletes_what_it_is_asked() {
        let b = MemoryBlobs::new("bucket");
        for k in [
            "media/1/ct_a/x",
            "media/1/ct_a/y",
            "media/1/ct_b/z",
            "updates/u.json",
        ] {
            b.put(k, b"1".to_vec(), "image/jpeg").await.unwrap();
        }
        let a = b.list("media/1/ct_a/").await.unwrap();
        assert_eq!(
            a,
            vec!["media/1/ct_a/x".to_owned(), "media/1/ct_a/y".to_owned()]
        );
        assert_eq!(b.delete(&a).await.unwrap(), 2);
        assert_eq!(
            b.keys(),
            vec!["media/1/ct_b/z".to_owned(), "updates/u.json".to_owned()]
        );
        assert!(b.get("media/1/ct_a/x").await.unwrap().is_none());
        assert_eq!(
            b.get("media/1/ct_b/z").await.unwrap().unwrap().bytes,
            b"1".to_vec()
        );
    }
}
