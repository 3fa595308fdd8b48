//! What the handlers share: the services, the token verifier and the limits.

use std::sync::Arc;

use chat_threads_application::accounts::{AuthService, AuthStore, PasswordHasher, TokenIssuer};
use chat_threads_application::transfer::{ImportStore, TransferService};
use chat_threads_application::{
    MessageService, MessageStore, Readiness, SummaryService, SummaryStore, SystemClock,
    ThreadService, ThreadStore,
};

/// The concrete adapters the API runs on, chosen by the binary.
pub trait Deps: 'static {
    /// Storage for everything.
    type Store: ThreadStore
        + MessageStore
        + SummaryStore
        + AuthStore
        + ImportStore
        + chat_threads_application::idempotency::IdempotencyStore
        + chat_threads_application::replies::ReplyStore
        + chat_threads_application::usage::UsageStore
        + chat_threads_application::billing::BalanceStore
        + chat_threads_application::files::FileStore
        + chat_threads_application::files::BlobStore
        + chat_threads_application::SearchStore
        + Readiness;
    /// Password hashing.
    type Hasher: PasswordHasher;
    /// Token signing.
    type Issuer: TokenIssuer;
}

/// Shared state of every handler.
pub struct AppState<D: Deps> {
    /// Threads.
    pub threads: ThreadService<D::Store, SystemClock>,
    /// Messages and the tree.
    pub messages: MessageService<D::Store, SystemClock>,
    /// Summaries.
    pub summaries: SummaryService<D::Store, SystemClock>,
    /// Accounts and sessions.
    pub auth: AuthService<D::Store, D::Hasher, D::Issuer, SystemClock>,
    /// Export and import.
    pub transfer: TransferService<D::Store, SystemClock>,
    /// The store itself (readiness, idempotency keys).
    pub store: D::Store,
    /// Input limits.
    pub limits: chat_threads_domain::Limits,
    /// Uploaded files (bytes in the store's blob storage).
    pub files: chat_threads_application::files::FileService<D::Store, D::Store, SystemClock>,
    /// Balances, credits and the ledger.
    pub balances: chat_threads_application::billing::BalanceService<D::Store, SystemClock>,
    /// Assistant replies.
    pub replies: chat_threads_application::replies::ReplyService<D::Store, SystemClock>,
    /// Keep-alive interval of SSE streams.
    pub sse_keepalive: std::time::Duration,
    /// Open WebSocket connections and SSE streams.
    pub live: Arc<crate::observe::Live>,
}

impl<D: Deps> Clone for AppState<D> {
    fn clone(&self) -> Self {
        Self {
            threads: self.threads.clone(),
            messages: self.messages.clone(),
            summaries: self.summaries.clone(),
            auth: self.auth.clone(),
            transfer: self.transfer.clone(),
            store: self.store.clone(),
            limits: self.limits,
            files: self.files.clone(),
            balances: self.balances.clone(),
            replies: self.replies.clone(),
            sse_keepalive: self.sse_keepalive,
            live: self.live.clone(),
        }
    }
}

impl<D: Deps> std::fmt::Debug for AppState<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}
