//! What files need from storage.

use std::future::Future;

use chat_threads_domain::{FileId, Owner, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFile {
    /// Its id.
    pub id: FileId,
    /// Who uploaded it (the only one who reaches it).
    pub owner: Owner,
    /// The uploader's organization.
    pub org_id: Option<String>,
    /// The file name given at upload (folders dropped).
    pub name: String,
    /// The media type sniffed from its bytes.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// How many parts its bytes are stored in.
    pub parts: u32,
    /// Upload time.
    pub created_at: Timestamp,
}

impl crate::paging::Weigh for StoredFile {
    fn weigh(&self) -> usize {
        400 + self.name.len()
    }
}

/// Position in a file list (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCursor {
    /// Upload time.
    pub created_at: Timestamp,
    /// File id.
    pub id: FileId,
}

/// File metadata and the per-owner byte counter.
pub trait FileStore: Clone + Send + Sync + 'static {
    /// Records a file whose parts are written, adding its size to the owner's bytes in the
    /// same transaction — unless that would exceed `quota` (`StorageQuotaExceeded`, nothing
    /// recorded). Concurrent uploads of one owner cannot pass the quota together.
    fn insert_file(
        &self,
        file: StoredFile,
        quota: u64,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// The owner's file.
    fn get_file(
        &self,
        owner: &Owner,
        id: FileId,
    ) -> impl Future<Output = Result<Option<StoredFile>, AppError>> + Send;

    /// The owner's files, newest first, after a cursor.
    fn list_files(
        &self,
        owner: &Owner,
        after: Option<FileCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredFile>, AppError>> + Send;

    /// Deletes the owner's file record (and gives its bytes back to the quota); returns it.
    fn delete_file(
        &self,
        owner: &Owner,
        id: FileId,
    ) -> impl Future<Output = Result<Option<StoredFile>, AppError>> + Send;

    /// Deletes up to `limit` records of files uploaded before `before` that no message
    /// references (giving their bytes back to their owners' quotas); returns them, so their
    /// bytes can be deleted.
    fn collect_garbage(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredFile>, AppError>> + Send;

    /// Bytes the owner's files take.
    fn used_bytes(&self, owner: &Owner) -> impl Future<Output = Result<u64, AppError>> + Send;
}

/// The bytes of files, as numbered parts.
pub trait BlobStore: Clone + Send + Sync + 'static {
    /// Stores part `part` of a file.
    fn write_part(
        &self,
        id: FileId,
        part: u32,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Reads part `part` of a file; `None` if it is not there.
    fn read_part(
        &self,
        id: FileId,
        part: u32,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, AppError>> + Send;

    /// Deletes a file's parts (those that exist among the first `parts`).
    fn delete(&self, id: FileId, parts: u32) -> impl Future<Output = Result<(), AppError>> + Send;
}
