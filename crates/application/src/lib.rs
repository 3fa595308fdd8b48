//! Use cases of chat-threads and the ports they need, filed by feature.
//!
//! Each feature folder holds its use cases (a service that parses raw input into domain values,
//! checks the rules and publishes thread events) and the ports it needs from the outside (plain
//! traits the infrastructure implements):
//!
//! | feature | service | ports |
//! |---|---|---|
//! | [`threads`] | [`ThreadService`] | [`ThreadStore`] |
//! | [`messages`] (the tree) | [`MessageService`] | [`MessageStore`] |
//! | [`organize`] (folders, tags) | [`organize::OrganizeService`] | [`organize::FolderStore`] |
//! | [`members`] (viewers, editors) | [`members::MemberService`] | [`access::MemberStore`] |
//! | [`shares`] (share links) | [`shares::ShareService`] | [`shares::ShareStore`] |
//! | [`branches`] | `MessageService::{branches, set_active_leaf, fork}` | (in `MessageStore`) |
//! | [`summaries`] | [`SummaryService`] | [`SummaryStore`] |
//! | [`search`] | `ThreadService::search` | [`SearchStore`] |
//! | [`replies`] | [`replies::ReplyService`] | [`replies::ReplyStore`], [`replies::llm::LanguageModel`] |
//! | [`usage`] | `ReplyService::usage_today` | [`usage::UsageStore`] |
//! | [`files`] (uploads) | [`files::FileService`] | [`files::FileStore`], [`files::BlobStore`] |
//! | [`billing`] (prices, balances) | [`billing::BalanceService`] | [`billing::BalanceStore`] (holds in `ReplyStore`, debits in `UsageStore`) |
//! | [`accounts`] (and sessions) | [`accounts::AuthService`] | [`accounts::AuthStore`], token and password ports |
//! | [`transfer`] (NDJSON, ChatGPT) | [`transfer::TransferService`] | [`transfer::ImportStore`] |
//! | [`audit`] (the audit log) | [`audit::AuditService`], `audit::record` | [`audit::AuditStore`] |
//! | [`retention`] (the restore window) | [`retention::RetentionService`] | [`retention::RetentionStore`] |
//! | [`idempotency`] | — | [`idempotency::IdempotencyStore`] |
//! | [`events`] | [`events::ThreadEvents`] (the hub) | [`events::EventBridge`] |
//!
//! Shared: [`access`] (the scope a thread-scoped use case acts in), [`error`] (the one error type and the one list of codes), [`system`] (clock,
//! readiness), [`paging`] and [`cursor`] (keyset pages), `input` (raw input parsing), `tokens` (a
//! call's token counts, [`usage::Usage`]). The
//! in-memory store and the store contract suite live in the `chat-threads-testing` crate, which
//! only tests depend on.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod billing;
pub mod branches;
pub mod cursor;
pub mod erasure;
pub mod error;
pub mod events;
pub mod feed;
pub mod files;
pub mod idempotency;
mod input;
pub mod live;
pub mod members;
pub mod messages;
pub mod organize;
pub mod paging;
pub mod presence;
pub mod replies;
pub mod retention;
pub mod search;
pub mod shares;
pub mod summaries;
pub mod system;
pub mod threads;
mod tokens;
pub mod transfer;
pub mod usage;
pub mod webhooks;

pub use branches::{Branch, ForkMode};
pub use error::{AppError, ErrorCode};
pub use messages::{
    Anchor, AppendMessage, DeleteOutcome, EditInput, MessageCursor, MessageFilter, MessageService,
    MessageStore, NewMessage, message_filter,
};
pub use paging::Page;
pub use search::{SearchHit, SearchStore};
pub use summaries::{SummaryService, SummaryStore};
pub use system::{Clock, Readiness, SystemClock};
pub use threads::{
    CreateThread, DeletedFilter, ListThreads, ThreadCursor, ThreadPatch, ThreadQuery,
    ThreadService, ThreadStore, UpdateThread,
};
