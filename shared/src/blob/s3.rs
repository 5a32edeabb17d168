//! The bucket on S3: the adapter the functions build at cold start from `DATA_BUCKET`.

use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::{Blob, BlobError, Blobs};
use crate::config::{ConfigError, Env};

/// DeleteObjects takes at most 1,000 keys a request.
const DELETE_BATCH: usize = 1000;

/// Where the bucket is: `DATA_BUCKET`, the one parser of it for every function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub data_bucket: String,
}

impl BucketConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            data_bucket: env.required("DATA_BUCKET")?,
        })
    }
}

/// The bridge's bucket through the S3 API.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    /// A client for `bucket` from the function's SDK config. With an endpoint override (the
    /// local moto: `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`) requests are path-style
    /// (`http://host/bucket/key`): a local endpoint has no per-bucket host names.
    pub fn new(aws: &aws_config::SdkConfig, bucket: &str) -> Self {
        let local = aws.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
        let config = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(local)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_owned(),
        }
    }
}

/// An S3 failure as a [`BlobError`]: the service's code and message (they name the bucket or
/// key at most, never an object's bytes), or the kind of transport failure.
fn aws_error<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata,
{
    move |err| {
        let message = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                format!(
                    "{}: {}",
                    e.code().unwrap_or("unknown error"),
                    e.message().unwrap_or("no message")
                )
            }
            SdkError::TimeoutError(_) => "timed out".to_owned(),
            SdkError::DispatchFailure(_) => "could not reach S3".to_owned(),
            SdkError::ResponseError(_) => "unreadable response".to_owned(),
            SdkError::ConstructionFailure(_) => "could not build the request".to_owned(),
            _ => "unknown failure".to_owned(),
        };
        BlobError::Aws { operation, message }
    }
}

impl Blobs for S3Blobs {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(aws_error("PutObject"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None)
            }
            Err(err) => return Err(aws_error("GetObject")(err)),
        };
        let content_type = out.content_type().map(str::to_owned);
        let bytes = out.body.collect().await.map_err(|_| BlobError::Aws {
            operation: "GetObject",
            message: "the object's body ended early".to_owned(),
        })?;
        Ok(Some(Blob {
            bytes: bytes.into_bytes().to_vec(),
            content_type,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(aws_error("ListObjectsV2"))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn delete(&self, keys: &[String]) -> Result<usize, BlobError> {
        for chunk in keys.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| BlobError::Aws {
                    operation: "DeleteObjects",
                    message: "could not build the request".to_owned(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|_| BlobError::Aws {
                    operation: "DeleteObjects",
                    message: "could not build the request".to_owned(),
                })?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(aws_error("DeleteObjects"))?;
            // Quiet mode lists only the keys that failed; one is enough to fail the call.
            if let Some(failed) = out.errors().first() {
                return Err(BlobError::Aws {
                    operation: "DeleteObjects",
                    message: format!(
                        "{} of {} objects not deleted, first: {}",
                        out.errors().len(),
                        chunk.len(),
                        failed.code().unwrap_or("unknown error")
                    ),
                });
            }
        }
        Ok(keys.len())
    }

    async fn presign_get(&self, key: &str, valid_for: Duration) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(valid_for)
            .map_err(|_| BlobError::Presign("the validity must be 1 s to 7 days".to_owned()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|_| BlobError::Presign("S3 could not sign the request".to_owned()))?;
        Ok(request.uri().to_owned())
    }
}
