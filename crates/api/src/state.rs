//! What the handlers share: the services, the token verifier and the limits.

use std::sync::Arc;

pub use chat_threads_application::replies::OpenAiDefaults;

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
        + chat_threads_application::organize::FolderStore
        + chat_threads_application::shares::ShareStore
        + chat_threads_application::retention::policies::PolicyStore
        + chat_threads_application::erasure::ErasureStore
        + chat_threads_application::webhooks::WebhookStore
        + chat_threads_application::replies::QueueStore
        + chat_threads_application::replies::HistoryStore
        + Readiness;
    /// Password hashing.
    type Hasher: PasswordHasher;
    /// Token signing.
    type Issuer: TokenIssuer;
    /// The webhook client.
    type Webhooks: chat_threads_application::webhooks::WebhookSender;
}

/// Shared state of every handler.
pub struct AppState<D: Deps> {
    /// Threads.
    pub threads: ThreadService<D::Store, SystemClock>,
    /// Folders and tags.
    pub organize: chat_threads_application::organize::OrganizeService<D::Store, SystemClock>,
    /// Share links.
    pub shares: chat_threads_application::shares::ShareService<D::Store, SystemClock>,
    /// Members of threads.
    pub members: chat_threads_application::members::MemberService<D::Store, SystemClock>,
    /// The audit log.
    pub audit: chat_threads_application::audit::AuditService<D::Store, SystemClock>,
    /// The change feed.
    pub feed: chat_threads_application::feed::FeedService<D::Store, SystemClock>,
    /// Webhooks.
    pub webhooks:
        chat_threads_application::webhooks::WebhookService<D::Store, D::Webhooks, SystemClock>,
    /// Erasure of principals.
    pub erasures: chat_threads_application::erasure::ErasureService<D::Store, SystemClock>,
    /// Retention policies and legal holds.
    pub policies:
        chat_threads_application::retention::policies::PolicyService<D::Store, SystemClock>,
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
    /// Keep-alive interval of SSE streams: the change feed's stream checks it in its own poll
    /// loop; reply streams hear it from `keepalive`, which ticks at this interval.
    pub sse_keepalive: std::time::Duration,
    /// The clock of the reply streams' keep-alive comments (one for every stream).
    pub keepalive: Arc<crate::keepalive::KeepAliveClock>,
    /// Open WebSocket connections and SSE streams.
    pub live: Arc<crate::observe::Live>,
    /// What `/openai/v1` does when a call does not say.
    pub openai: OpenAiDefaults,
    /// Entity tags of first pages (`ETag` / `If-None-Match`).
    pub page_tags: chat_threads_application::messages::PageTags,
    /// Rendered first pages of active paths (`threads.page_cache_bytes`).
    pub pages: Arc<crate::page_cache::PageCache>,
}

impl<D: Deps> Clone for AppState<D> {
    fn clone(&self) -> Self {
        Self {
            threads: self.threads.clone(),
            organize: self.organize.clone(),
            shares: self.shares.clone(),
            members: self.members.clone(),
            audit: self.audit.clone(),
            feed: self.feed.clone(),
            webhooks: self.webhooks.clone(),
            policies: self.policies.clone(),
            erasures: self.erasures.clone(),
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
            keepalive: self.keepalive.clone(),
            openai: self.openai,
            live: self.live.clone(),
            page_tags: self.page_tags.clone(),
            pages: self.pages.clone(),
        }
    }
}

impl<D: Deps> std::fmt::Debug for AppState<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

/// What the one composition root needs: the adapters, the model catalog, the event hub and the
/// settings. The binary fills it from its configuration, in-process tests from theirs; both get
/// their app from [`AppState::compose`], so they run the same wiring.
pub struct Parts<D: Deps> {
    /// Storage for everything.
    pub store: D::Store,
    /// Password hashing.
    pub hasher: D::Hasher,
    /// Token signing.
    pub issuer: D::Issuer,
    /// The webhook client.
    pub webhook_sender: D::Webhooks,
    /// The models and who may use them.
    pub catalog: chat_threads_application::replies::models::Catalog,
    /// Counts tokens to fit prompts into their budget.
    pub counter: Arc<dyn chat_threads_application::replies::llm::TokenCounter>,
    /// The event hub (bridged to other instances on PostgreSQL).
    pub events: chat_threads_application::events::ThreadEvents,
    /// Where replies run.
    pub runtime: tokio::runtime::Handle,
    /// This instance's name (recorded on the replies it writes).
    pub instance: String,
    /// The use cases' settings.
    pub settings: AppSettings,
}

impl<D: Deps> std::fmt::Debug for Parts<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("instance", &self.instance)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The use cases' settings, in the application's own types.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Input limits.
    pub limits: chat_threads_domain::Limits,
    /// Replies (billing included).
    pub replies: chat_threads_application::replies::ReplySettings,
    /// Accounts and sessions.
    pub auth: chat_threads_application::accounts::AuthPolicy,
    /// The organization anonymous sessions are opened in, if one.
    pub session_org: Option<chat_threads_domain::OrgId>,
    /// Uploads.
    pub files: chat_threads_application::files::FileSettings,
    /// How long temporary threads live (`threads.temporary_ttl`).
    pub temporary_ttl: std::time::Duration,
    /// Rows per sweep transaction (`retention.sweep_batch`).
    pub sweep_batch: u32,
    /// Whether people may erase themselves (`auth.self_erasure`).
    pub self_erasure: bool,
    /// How long a running erasure may go unsaved before the sweeper resumes it (three sweep
    /// intervals).
    pub erasure_stall: std::time::Duration,
    /// What `/openai/v1` does when a call does not say (`[openai]`).
    pub openai: OpenAiDefaults,
    /// Memory for rendered first pages of active paths, in bytes (`threads.page_cache_bytes`;
    /// 0: none kept).
    pub page_cache_bytes: usize,
    /// Entity tags of first pages (keyed with the service's signing secret).
    pub page_tags: chat_threads_application::messages::PageTags,
}

impl<D: Deps> AppState<D> {
    /// The one composition root: every service over the one store, sharing the catalog and the
    /// event hub.
    pub fn compose(p: Parts<D>) -> Self {
        let s = p.settings;
        let limits = s.limits;
        let sse_keepalive = s.replies.replies.sse_keepalive();
        let keepalive = crate::keepalive::KeepAliveClock::start(sse_keepalive, &p.runtime);
        // The change feed's writer: every event the hub publishes goes to the log through it.
        let feed_queue =
            chat_threads_application::feed::FeedQueue::start(p.store.clone(), &p.runtime);
        p.events.attach_recorder(Arc::new(feed_queue.clone()));
        let replies = chat_threads_application::replies::ReplyService::new(
            p.store.clone(),
            SystemClock,
            p.catalog.clone(),
            p.counter,
            s.replies.clone(),
            limits,
            p.events.clone(),
            p.runtime,
        )
        .with_instance(p.instance);
        Self {
            webhooks: chat_threads_application::webhooks::WebhookService::new(
                p.store.clone(),
                p.webhook_sender,
                SystemClock,
            ),
            feed: chat_threads_application::feed::FeedService::new(
                p.store.clone(),
                SystemClock,
                Some(feed_queue),
            ),
            erasures: chat_threads_application::erasure::ErasureService::new(
                p.store.clone(),
                SystemClock,
                s.sweep_batch,
                s.self_erasure,
                s.erasure_stall,
            ),
            policies: chat_threads_application::retention::policies::PolicyService::new(
                p.store.clone(),
                SystemClock,
                s.sweep_batch,
            ),
            audit: chat_threads_application::audit::AuditService::new(
                p.store.clone(),
                SystemClock,
                limits,
            ),
            members: chat_threads_application::members::MemberService::new(
                p.store.clone(),
                SystemClock,
                p.events.clone(),
            ),
            shares: chat_threads_application::shares::ShareService::new(
                p.store.clone(),
                SystemClock,
                limits,
            ),
            organize: chat_threads_application::organize::OrganizeService::new(
                p.store.clone(),
                SystemClock,
                limits,
            )
            .with_models(p.catalog.clone()),
            threads: ThreadService::new(p.store.clone(), SystemClock, limits)
                .with_models(p.catalog)
                .with_events(p.events.clone())
                .with_temporary_ttl(s.temporary_ttl),
            messages: MessageService::new(p.store.clone(), SystemClock, limits)
                .with_events(p.events.clone()),
            summaries: SummaryService::new(p.store.clone(), SystemClock, limits)
                .with_events(p.events),
            auth: AuthService::new(
                p.store.clone(),
                p.hasher,
                p.issuer,
                SystemClock,
                s.auth,
                limits,
            )
            .with_session_org(s.session_org),
            transfer: TransferService::new(p.store.clone(), SystemClock, limits),
            files: chat_threads_application::files::FileService::new(
                p.store.clone(),
                p.store.clone(),
                SystemClock,
                s.files,
                limits,
            ),
            balances: chat_threads_application::billing::BalanceService::new(
                p.store.clone(),
                SystemClock,
                s.replies.billing,
                limits,
            ),
            store: p.store,
            limits,
            replies,
            sse_keepalive,
            keepalive,
            live: Arc::default(),
            openai: s.openai,
            pages: Arc::new(crate::page_cache::PageCache::new(s.page_cache_bytes)),
            page_tags: s.page_tags,
        }
    }
}
