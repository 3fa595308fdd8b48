//! What billing needs from storage, and the values it stores.

use std::future::Future;

use chat_threads_domain::{MessageId, ThreadId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A balance as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// `user:…`, `anon:…`, `service:…` or `org:…`.
    pub account: String,
    /// The organization the balance is kept in: an account id names one balance per
    /// organization (`None`: principals without one).
    pub org_id: Option<String>,
    /// Smallest currency units; below zero only when replies cost more than they held.
    pub amount: i64,
    /// Held by replies still streaming and unstored completions still running.
    pub held: i64,
    /// Last change; `None` for an account never credited.
    pub updated_at: Option<Timestamp>,
}

impl Balance {
    /// An account that was never credited.
    pub fn empty(account: &str, org: Option<&str>) -> Self {
        Self {
            account: account.to_owned(),
            org_id: org.map(str::to_owned),
            amount: 0,
            held: 0,
            updated_at: None,
        }
    }

    /// What new holds may take.
    pub fn available(&self) -> i64 {
        self.amount.saturating_sub(self.held)
    }
}

/// What a reply (or an unstored completion) holds from a balance while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The account.
    pub account: String,
    /// The organization its balance is kept in.
    pub org: Option<String>,
    /// Smallest currency units; the most the reply may cost.
    pub amount: i64,
}

/// Why a balance is debited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeKind {
    /// An assistant reply (its hold goes with the debit).
    Reply,
    /// A summary written while preparing a reply.
    Summary,
    /// A completion that is not stored (OpenAI-compatible chat completions with `store: false`).
    Completion,
    /// A thread's title written by a model.
    Title,
}

impl ChargeKind {
    /// The ledger's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Summary => "summary",
            Self::Completion => "completion",
            Self::Title => "title",
        }
    }
}

/// A debit recorded with the usage it pays for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Ledger entry id.
    pub id: uuid::Uuid,
    /// The account that pays.
    pub account: String,
    /// The organization its balance is kept in.
    pub org: Option<String>,
    /// Smallest currency units, at least 1.
    pub amount: i64,
    /// Reply or summary.
    pub kind: ChargeKind,
    /// The thread (none for a completion that is not stored).
    pub thread_id: Option<ThreadId>,
    /// The reply (a summary's: the reply it was written for).
    pub message_id: Option<MessageId>,
    /// The hold this debit settles (a reply's is keyed by the reply's id, an unstored
    /// completion's by its own): it goes in the debit's transaction.
    pub hold: Option<uuid::Uuid>,
    /// When.
    pub at: Timestamp,
}

/// A credit to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredit {
    /// Ledger entry id.
    pub id: uuid::Uuid,
    /// The account.
    pub account: String,
    /// The organization the balance is kept in (the crediting service's).
    pub org_id: Option<String>,
    /// Smallest currency units, positive.
    pub amount: i64,
    /// The balance may not exceed this after the credit (422 `limit_exceeded`).
    pub max_balance: i64,
    /// Why.
    pub note: Option<String>,
    /// Who credited (the service's owner id).
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

impl NewCredit {
    /// The balance after this credit on top of `before`, unless it would pass `max_balance`
    /// (422 `limit_exceeded` on `amount`, with the room left as the limit).
    pub fn apply_to(&self, before: i64) -> Result<i64, chat_threads_domain::DomainError> {
        let after = before.saturating_add(self.amount);
        if after > self.max_balance {
            return Err(chat_threads_domain::DomainError::LimitExceeded {
                field: "amount",
                limit: usize::try_from(self.max_balance - before.max(0)).unwrap_or(0),
                actual: usize::try_from(self.amount).unwrap_or(0),
            });
        }
        Ok(after)
    }
}

/// One change of a balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Position in the balance's ledger, 1, 2, 3 … in the order the entries committed.
    pub seq: i64,
    /// The account.
    pub account: String,
    /// `credit`, `reply`, `summary`, `completion` or `title`.
    pub kind: String,
    /// Signed: credits positive, debits negative.
    pub amount: i64,
    /// The balance right after.
    pub balance_after: i64,
    /// The model (debits).
    pub model: Option<String>,
    /// Prompt tokens paid for (debits).
    pub prompt_tokens: Option<i64>,
    /// Completion tokens paid for (debits).
    pub completion_tokens: Option<i64>,
    /// The thread (debits).
    pub thread_id: Option<ThreadId>,
    /// The reply (debits).
    pub message_id: Option<MessageId>,
    /// The credit's note.
    pub note: Option<String>,
    /// Who credited.
    pub actor: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

impl crate::paging::Weigh for LedgerEntry {
    fn weigh(&self) -> usize {
        400 + self.account.len() + self.note.as_ref().map_or(0, String::len)
    }
}

/// Position in a ledger (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCursor {
    /// The last entry's `seq`.
    pub seq: i64,
}

/// Balances and their ledger, each balance an account within an organization (`org`: `None`
/// for principals without one). A reply's hold is written in its starting transaction
/// ([`crate::replies::ReplyStore::begin_reply`]) and every debit with its usage
/// ([`crate::usage::UsageStore::add_usage`]); holds of unstored completions here.
pub trait BalanceStore: Clone + Send + Sync + 'static {
    /// An account's balance with what is held from it; `None` if never credited or debited.
    fn balance(
        &self,
        account: &str,
        org: Option<&str>,
    ) -> impl Future<Output = Result<Option<Balance>, AppError>> + Send;

    /// Holds `hold.amount` for an unstored completion that `instance` runs, keyed by `id`, or
    /// refuses with `InsufficientBalance` when the balance minus what is held cannot cover it.
    /// The hold lasts until its debit ([`Charge::hold`]), [`Self::release_hold`], or until its
    /// instance is gone ([`Self::release_dead_holds`]).
    fn hold(
        &self,
        hold: &Hold,
        id: uuid::Uuid,
        instance: &str,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Drops a hold (an unstored completion that ended without a debit).
    fn release_hold(&self, id: uuid::Uuid) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Drops the completion holds of instances that are gone (every instance but `me` on a
    /// single-instance backend; on PostgreSQL, those with no open connection); how many.
    fn release_dead_holds(&self, me: &str) -> impl Future<Output = Result<u64, AppError>> + Send;

    /// Adds a credit and its ledger entry in one transaction.
    fn credit(
        &self,
        credit: NewCredit,
    ) -> impl Future<Output = Result<(Balance, LedgerEntry), AppError>> + Send;

    /// Ledger entries of an account, newest first (by `seq`), after a cursor.
    fn ledger(
        &self,
        account: &str,
        org: Option<&str>,
        after: Option<LedgerCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, AppError>> + Send;
}
