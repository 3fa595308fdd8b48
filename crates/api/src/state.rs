//! What the handlers share: the services, the token verifier and the limits.

use std::sync::Arc;

use chat_threads_application::accounts::{
    AuthService, AuthStore, PasswordHasher, TokenIssuer, TokenVerifier,
};
use chat_threads_application::transfer::{ImportStore, TransferService};
use chat_threads_application::{
    MessageService, MessageStore, Readiness, SummaryService, SummaryStore, SystemClock,
    ThreadService, ThreadStore,
};

use crate::rate_limit::RateLimits;

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

/// The token verifier, shared by the [`crate::auth::Auth`] extractor.
#[derive(Clone)]
pub struct Verifier(pub Arc<dyn TokenVerifier>);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

/// Everything [`crate::configure`] needs.
#[derive(Debug)]
pub struct ApiConfig<D: Deps> {
    /// The services.
    pub state: AppState<D>,
    /// Verifies bearer tokens.
    pub verifier: Verifier,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Maximum JSON body size, bytes.
    pub json_limit: usize,
    /// How long idempotency keys are kept, seconds.
    pub idempotency_ttl_secs: i64,
    /// WebSocket limits and timers.
    pub ws: crate::ws::WsConfig,
    /// Origins browsers may call from.
    pub origins: crate::cors::OriginPolicy,
    /// The process's metrics (one registry for every worker).
    pub metrics: Arc<crate::observe::Metrics>,
}

impl<D: Deps> Clone for ApiConfig<D> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            verifier: self.verifier.clone(),
            rate_limits: self.rate_limits.clone(),
            json_limit: self.json_limit,
            idempotency_ttl_secs: self.idempotency_ttl_secs,
            ws: self.ws,
            origins: self.origins.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
