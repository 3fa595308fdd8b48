//! Idempotency keys: a creating request retried with the same `Idempotency-Key` gets the first
//! response again instead of creating twice.

use std::future::Future;

use chat_threads_domain::{Owner, Timestamp};

use crate::error::AppError;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: Option<String>,
    /// Body (UTF-8; the API's responses are JSON).
    pub body: String,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use: run the request, then [`IdempotencyStore::complete`] or `abandon`.
    Fresh,
    /// Seen before with the same request: answer this.
    Replay(StoredResponse),
    /// Seen before with a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// Storage of keys, per owner.
pub trait IdempotencyStore: Clone + Send + Sync + 'static {
    /// Claims the key for this request (or reports what it was used for). Expired keys are
    /// treated as unused, and so are keys still in progress that were claimed before
    /// `abandoned_before` (their request died with its process: the retry runs).
    fn begin(
        &self,
        owner: &Owner,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
        abandoned_before: Timestamp,
    ) -> impl Future<Output = Result<Begin, AppError>> + Send;

    /// Stores the response of a claimed key.
    fn complete(
        &self,
        owner: &Owner,
        key: &str,
        response: StoredResponse,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Releases a claimed key (the request failed on the server's side; a retry may run).
    fn abandon(
        &self,
        owner: &Owner,
        key: &str,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Deletes expired keys; returns how many.
    fn purge_idempotency(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;
}
