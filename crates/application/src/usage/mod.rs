//! Token usage: what each principal spent per UTC day, for `GET /v1/usage` and the daily quota.

use std::future::Future;

use chat_threads_domain::{Owner, Timestamp};
use serde::Serialize;

use crate::error::AppError;

/// Token usage of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens in the reply.
    pub completion_tokens: u32,
}

/// Storage of token usage per owner and day.
pub trait UsageStore: Clone + Send + Sync + 'static {
    /// Adds token usage to the owner's total for a day (`YYYY-MM-DD`, UTC).
    fn add_usage(
        &self,
        owner: &Owner,
        day: &str,
        usage: Usage,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// The owner's (prompt + completion) tokens on a day.
    fn usage_on(
        &self,
        owner: &Owner,
        day: &str,
    ) -> impl Future<Output = Result<Usage, AppError>> + Send;
}

/// The UTC day of a moment, as usage is keyed (`YYYY-MM-DD`).
pub fn day_of(ts: Timestamp) -> String {
    ts.format("%Y-%m-%d").to_string()
}
