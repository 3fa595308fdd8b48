//! What replies need from storage beyond messages and threads.

use std::future::Future;

use chat_threads_domain::{Message, MessageId, MessageStatus, ThreadId, Timestamp};

use crate::billing::Hold;
use crate::error::AppError;
use crate::messages::{Anchor, NewMessage};
use crate::usage::Usage;

/// What starts a reply (see [`ReplyStore::begin_reply`]).
#[derive(Debug, Clone)]
pub struct ReplyStart {
    /// A streaming reply touched after this blocks the thread (one reply per thread).
    pub busy_since: Timestamp,
    /// The user message to store first, if any.
    pub user: Option<(Anchor, NewMessage)>,
    /// The assistant's placeholder; placed under the user message when the anchor is `None`.
    pub reply: (Option<Anchor>, NewMessage),
    /// What the reply holds from a balance while it streams (billing on, a priced model).
    pub hold: Option<Hold>,
}

/// What a reply's write changes: its text, its parts (reasoning so far while it streams; tool
/// calls once whole), its status and its usage.
#[derive(Debug, Clone, Copy)]
pub struct ReplyUpdate<'a> {
    /// The text so far (or the whole).
    pub content: &'a str,
    /// Tool calls and reasoning.
    pub parts: &'a [chat_threads_domain::Part],
    /// `streaming` while it is written, else how it ended.
    pub status: MessageStatus,
    /// Tokens it took, once known.
    pub usage: Option<Usage>,
    /// With a final status: the change feed entry of the reply's end event, written in the
    /// same transaction.
    pub entry: Option<&'a crate::feed::NewFeedEvent>,
}

/// Storage replies need beyond messages: a reply's start and progress.
pub trait ReplyStore: Clone + Send + Sync + 'static {
    /// Writes a reply's text and status (system-level: no owner check; the reply was created
    /// by an authorized request). A final status (not `streaming`) also bumps the thread's
    /// `updated_at`; periodic flushes while streaming touch only the message.
    fn update_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        update: ReplyUpdate<'_>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// Replaces a streaming reply's metadata (system-level, like [`ReplyStore::update_reply`]):
    /// how the reply records what its prompt was built from (`metadata.prompt`).
    fn set_reply_metadata(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        metadata: serde_json::Value,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Starts a reply atomically, recording `instance` as the one writing it: unless the thread
    /// already has a reply in progress (streaming and touched after `busy_since`, on any
    /// instance), stores the user message (if any) and the assistant's placeholder — under the
    /// user message when `reply.0` is `None` — with their `message.created` change feed entries
    /// ([`crate::feed::created_entry`], numbered 1 and 2 in the reply's log, or 1 for a
    /// placeholder alone), and places the hold on its balance, which must cover it beside the
    /// holds of other replies still streaming (else [`AppError::InsufficientBalance`]; the
    /// balance row is locked, so concurrent starts on any instance see each other's holds).
    /// Everything is stored or nothing.
    fn begin_reply(
        &self,
        instance: &str,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        start: ReplyStart,
    ) -> impl Future<Output = Result<(Option<Message>, Message), AppError>> + Send;

    /// Marks replies left `streaming` and untouched since `before` as failed (a crashed
    /// process). Returns how many.
    fn recover_stale(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;

    /// Streaming replies (of one thread, or all) whose writing instance is gone: not `me`, and
    /// (on PostgreSQL) with no open connection named after it; on a single-instance backend,
    /// every instance but `me` is gone.
    fn orphaned_replies(
        &self,
        me: &str,
        thread_id: Option<ThreadId>,
    ) -> impl Future<Output = Result<Vec<(ThreadId, MessageId)>, AppError>> + Send;

    /// The replies streaming in a thread now, whoever writes them.
    fn running_replies(
        &self,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<MessageId>, AppError>> + Send;

    /// Ends a reply nobody writes any more with `status` (failed or cancelled), keeping its text,
    /// with the change feed entries `report` makes of the outcome. `None` if it was no longer
    /// streaming.
    fn release_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        status: MessageStatus,
        now: Timestamp,
        report: crate::feed::Report<'_, Option<Message>>,
    ) -> impl Future<Output = Result<Option<Message>, AppError>> + Send;
}

/// Everything replies read and write: threads, messages, summaries, replies, usage, balances
/// and files (attachments in the context).
pub trait ReplyStores:
    crate::threads::ThreadStore
    + crate::messages::MessageStore
    + crate::summaries::SummaryStore
    + ReplyStore
    + crate::usage::UsageStore
    + crate::billing::BalanceStore
    + crate::organize::FolderStore
    + crate::files::FileStore
    + crate::files::BlobStore
    + super::queue::QueueStore
    + super::history::HistoryStore
{
}

impl<T> ReplyStores for T where
    T: crate::threads::ThreadStore
        + crate::messages::MessageStore
        + crate::summaries::SummaryStore
        + ReplyStore
        + crate::usage::UsageStore
        + crate::billing::BalanceStore
        + crate::organize::FolderStore
        + crate::files::FileStore
        + crate::files::BlobStore
        + super::queue::QueueStore
        + super::history::HistoryStore
{
}
