//! The `[files]` section: uploads, their limits and where their bytes are stored.

use serde::Deserialize;

use super::ConfigError;

/// Uploaded files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// `allowed_types` and `quota_bytes_per_owner`: what uploads are checked against.
    #[serde(flatten)]
    pub uploads: chat_threads_application::files::FileSettings,
    /// Tokens of an attached text file or PDF given to the model.
    pub inline_tokens: usize,
    /// Seconds an unreferenced file is kept before garbage collection.
    pub gc_grace_secs: u64,
    /// Where file bytes go.
    pub storage: FileStorageConfig,
}

/// Where file bytes go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStorageConfig {
    /// `database` or `s3`.
    pub backend: FileBackend,
    /// The object store, for `s3`.
    pub s3: S3Config,
}

/// File storage backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileBackend {
    /// `file_parts` in the database.
    Database,
    /// An S3-compatible object store.
    S3,
}

/// An S3-compatible object store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket.
    pub bucket: String,
    /// Endpoint URL of an S3-compatible server; empty for AWS.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Name of the variable holding the access key id.
    pub access_key_id_env: String,
    /// Name of the variable holding the secret access key.
    pub secret_access_key_env: String,
    /// Key prefix.
    pub prefix: String,
    /// Plain HTTP to the endpoint.
    pub allow_http: bool,
}

impl S3Config {
    /// The adapter's settings, reading the keys from the named variables.
    pub fn resolve(&self) -> Result<crate::objects::S3Settings, ConfigError> {
        let var = |name: &str, what: &str| {
            std::env::var(name).map_err(|_| {
                ConfigError::new(format!(
                    "files.storage.s3.{what} names {name}, which is not set"
                ))
            })
        };
        if self.bucket.trim().is_empty() {
            return Err(ConfigError::new(
                "files.storage.backend is s3 and files.storage.s3.bucket is empty",
            ));
        }
        Ok(crate::objects::S3Settings {
            bucket: self.bucket.clone(),
            endpoint: Some(self.endpoint.trim().to_owned()).filter(|e| !e.is_empty()),
            region: self.region.clone(),
            access_key_id: var(&self.access_key_id_env, "access_key_id_env")?,
            secret_access_key: var(&self.secret_access_key_env, "secret_access_key_env")?,
            prefix: self.prefix.clone(),
            allow_http: self.allow_http,
        })
    }
}
