//! File bytes in an S3-compatible object store (AWS S3, MinIO, Cloudflare R2, Ceph …) through
//! the `object_store` crate: each part of a file is one object, `<prefix>/files/<id>/<part>`.
//! Metadata and quotas stay in the database; only the bytes move.

use std::sync::Arc;

use chat_threads_application::AppError;
use chat_threads_domain::FileId;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

/// Where the objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL for S3-compatible servers (MinIO, R2 …); `None` for AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Key prefix (a folder in the bucket), without slashes at the ends; may be empty.
    pub prefix: String,
    /// Plain HTTP to the endpoint (a local server); HTTPS otherwise.
    pub allow_http: bool,
}

/// File parts as objects.
#[derive(Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn unavailable(e: object_store::Error) -> AppError {
    AppError::unavailable_from("object store", e)
}

impl ObjectBlobs {
    /// A client for an S3-compatible store (no request is made yet).
    pub fn s3(s: &S3Settings) -> Result<Self, String> {
        crate::tls::install();
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            .with_allow_http(s.allow_http);
        if let Some(endpoint) = &s.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| e.to_string())?;
        Ok(Self {
            store: Arc::new(store),
            prefix: s.prefix.trim_matches('/').to_owned(),
        })
    }

    fn path(&self, id: FileId, part: u32) -> Path {
        let key = format!("files/{id}/{part:05}");
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Stores a part.
    pub async fn write_part(&self, id: FileId, part: u32, bytes: Vec<u8>) -> Result<(), AppError> {
        self.store
            .put(&self.path(id, part), PutPayload::from(bytes))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Reads a part; `None` if it is not there.
    pub async fn read_part(&self, id: FileId, part: u32) -> Result<Option<Vec<u8>>, AppError> {
        match self.store.get(&self.path(id, part)).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(unavailable)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Deletes the first `parts` parts of a file (those that exist).
    pub async fn delete(&self, id: FileId, parts: u32) -> Result<(), AppError> {
        for part in 0..parts {
            match self.store.delete(&self.path(id, part)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }
}
