//! Token usage: what each principal spent per UTC day, for `GET /v1/usage` and the daily quota.

use std::future::Future;

use chat_threads_domain::{Owner, Timestamp};
use serde::Serialize;

use crate::error::AppError;
pub use crate::tokens::Usage;

/// Storage of token usage per owner and day.
pub trait UsageStore: Clone + Send + Sync + 'static {
    /// Adds token usage to the owner's totals for a day (`YYYY-MM-DD`, UTC): the day's and the
    /// model's, together; and, with a charge, debits its account and writes the ledger entry
    /// in the same transaction (a reply's charge also removes the reply's hold).
    fn add_usage(
        &self,
        owner: &Owner,
        day: &str,
        model: &str,
        usage: Usage,
        charge: Option<&crate::billing::Charge>,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// The owner's usage per day and model from `first_day` to `last_day` (inclusive), oldest
    /// day first.
    fn usage_by_model(
        &self,
        owner: &Owner,
        first_day: &str,
        last_day: &str,
    ) -> impl Future<Output = Result<Vec<ModelUsage>, AppError>> + Send;

    /// The owner's (prompt + completion) tokens on a day.
    fn usage_on(
        &self,
        owner: &Owner,
        day: &str,
    ) -> impl Future<Output = Result<Usage, AppError>> + Send;
}

/// Usage of one model on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelUsage {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The model.
    pub model: String,
    /// Its tokens.
    pub usage: Usage,
}

/// The UTC day of a moment, as usage is keyed (`YYYY-MM-DD`).
pub fn day_of(ts: Timestamp) -> String {
    ts.format("%Y-%m-%d").to_string()
}

/// The model a message stored with token counts but without a model is counted under.
pub const EXTERNAL_MODEL: &str = "external";
