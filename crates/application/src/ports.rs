//! Ports: what the use cases need from the outside world, as plain traits.
//!
//! Every store method takes a [`Scope`] and only ever sees the threads it reaches: the owner's
//! threads for everything, the org's threads for reading when the caller is an org admin.
//! Anything else is reported as not found, so ids cannot be probed.

use std::future::Future;

use chat_threads_domain::{
    Content, ContentType, DocumentId, ExternalId, Feedback, Message, MessageId, MessageStatus,
    Metadata, ModelName, OrgId, ProductName, Reaction, Role, Scope, Summary, SystemPrompt, Thread,
    ThreadId, ThreadStatus, Timestamp, Title,
};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The source of the current time.
pub trait Clock: Clone + Send + Sync + 'static {
    /// Now, truncated to microseconds.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chat_threads_domain::to_micros(chrono::Utc::now())
    }
}

/// A page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

/// Position in the thread list, which is ordered by `(updated_at, id)` newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadCursor {
    /// `updated_at` of the last thread seen.
    pub updated_at: Timestamp,
    /// Id of the last thread seen.
    pub id: ThreadId,
}

/// Position in a thread's whole tree, ordered by `(created_at, id)` oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCursor {
    /// `created_at` of the last message seen.
    pub created_at: Timestamp,
    /// Id of the last message seen.
    pub id: MessageId,
}

/// Narrows a message list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFilter {
    /// Only messages with this role.
    pub role: Option<Role>,
    /// Only messages containing every word (through the search index).
    pub text: Option<String>,
}

impl MessageFilter {
    /// Whether the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.text.is_none()
    }
}

/// Which threads a list includes with respect to soft deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletedFilter {
    /// Live threads only (the default).
    #[default]
    Exclude,
    /// Live and deleted threads.
    Include,
    /// Deleted threads only (a trash view).
    Only,
}

/// A thread list query. All filters are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadQuery {
    /// Whose threads: the owner's, plus the org's for an org admin.
    pub scope: Scope,
    /// Only this org's threads.
    pub org_id: Option<OrgId>,
    /// Only this product's threads.
    pub product: Option<ProductName>,
    /// Only threads in this status.
    pub status: Option<ThreadStatus>,
    /// Only threads about this document.
    pub document_id: Option<DocumentId>,
    /// Only the thread with this external id.
    pub external_id: Option<ExternalId>,
    /// Soft-deleted threads.
    pub deleted: DeletedFilter,
    /// Full-text match on the title (through the search index).
    pub text: Option<String>,
    /// Start after this position.
    pub after: Option<ThreadCursor>,
    /// Maximum rows to return.
    pub limit: u32,
}

/// Changes to a thread; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThreadPatch {
    /// New title.
    pub title: Option<Title>,
    /// New status.
    pub status: Option<ThreadStatus>,
    /// Replacement metadata.
    pub metadata: Option<Metadata>,
    /// New or cleared system prompt.
    pub system_prompt: Option<Option<SystemPrompt>>,
    /// New or cleared model.
    pub model: Option<Option<ModelName>>,
}

/// A message to be stored; the store decides its parent and depth by the tree rules.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Identity, chosen by the caller.
    pub id: MessageId,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: Content,
    /// How to read the content.
    pub content_type: ContentType,
    /// What a UI shows instead.
    pub display_text: Option<String>,
    /// Initial status (complete, or streaming for a reply about to be generated).
    pub status: MessageStatus,
    /// Model that wrote it.
    pub model: Option<ModelName>,
    /// Prompt tokens.
    pub prompt_tokens: Option<i32>,
    /// Completion tokens.
    pub completion_tokens: Option<i32>,
    /// Metadata.
    pub metadata: Metadata,
    /// Set when this message is an edit of another.
    pub edited_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
}

impl NewMessage {
    /// The stored message once placed.
    pub fn into_message(
        self,
        thread_id: ThreadId,
        parent_id: Option<MessageId>,
        depth: i32,
    ) -> Message {
        Message {
            id: self.id,
            thread_id,
            parent_id,
            depth,
            role: self.role,
            content: self.content,
            content_type: self.content_type,
            display_text: self.display_text,
            status: self.status,
            model: self.model,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            feedback: None,
            reaction: None,
            metadata: self.metadata,
            edited_at: self.edited_at,
            created_at: self.created_at,
            updated_at: self.created_at,
            deleted_at: None,
        }
    }
}

/// Where a new message hangs in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Under this parent, or under the active leaf when `None` (an append).
    Append(Option<MessageId>),
    /// Beside this message, under the same parent (an edit or a regeneration).
    SiblingOf(MessageId),
}

/// A branch of a thread: a leaf and whether it ends the active path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    /// The last message of the branch.
    pub leaf: Message,
    /// Whether this is the active branch.
    pub active: bool,
}

/// The result of soft-deleting a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteOutcome {
    /// How many messages were deleted (the message and its live descendants).
    pub deleted: u64,
    /// The thread's active leaf afterwards.
    pub active_leaf_id: Option<MessageId>,
}

/// What a fork copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForkMode {
    /// The path from the root to the fork point.
    #[default]
    Path,
    /// The path, plus every live branch below the fork point.
    PathAndBranches,
}

/// A search result: a message whose content matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The thread holding the message.
    pub thread_id: ThreadId,
    /// The thread's title.
    pub thread_title: String,
    /// The matching message.
    pub message_id: MessageId,
    /// Its role.
    pub role: Role,
    /// A short excerpt with the match marked by `[` and `]`.
    pub snippet: String,
    /// When the message was written.
    pub created_at: Timestamp,
}

/// Storage of threads.
pub trait ThreadStore: Clone + Send + Sync + 'static {
    /// Inserts a new thread. An external id already used by the owner is [`AppError::Conflict`].
    fn insert_thread(
        &self,
        thread: Thread,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// The owner's thread; a deleted one only when `include_deleted`.
    fn get_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        include_deleted: bool,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Threads matching the query, newest `(updated_at, id)` first, at most `query.limit`.
    fn list_threads(
        &self,
        query: &ThreadQuery,
    ) -> impl Future<Output = Result<Vec<Thread>, AppError>> + Send;

    /// Applies a patch to a live thread.
    fn update_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        patch: ThreadPatch,
        now: Timestamp,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Soft-deletes (`Some(time)`) or restores (`None`) a thread.
    fn set_thread_deleted(
        &self,
        scope: &Scope,
        id: ThreadId,
        deleted_at: Option<Timestamp>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Removes a thread and everything in it for good.
    fn purge_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Full-text search over the content of the owner's live messages, newest
    /// `(created_at, id)` first, after the cursor, at most `limit`.
    fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SearchHit>, AppError>> + Send;
}

/// Storage of messages and the tree operations, each applied atomically.
pub trait MessageStore: Clone + Send + Sync + 'static {
    /// Appends under `parent`, or under the active leaf; the message becomes the active leaf.
    fn append_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        message: NewMessage,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// Adds a sibling of `of` (edit or regenerate); the sibling becomes the active leaf.
    fn add_sibling(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        of: MessageId,
        message: NewMessage,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// A message of the thread (deleted ones too; callers decide).
    fn get_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// Soft-deletes a message and its subtree; the active leaf moves by the tree rules.
    fn delete_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
    ) -> impl Future<Output = Result<DeleteOutcome, AppError>> + Send;

    /// Up to `limit` messages of the active path ending just above `before` (or at the active
    /// leaf), root first. Walks parent links, so the cost depends on `limit`, not the thread size.
    fn active_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        before: Option<MessageId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Message>, AppError>> + Send;

    /// The whole tree, oldest first, after `after`, at most `limit`, narrowed by `filter`.
    fn list_tree(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        after: Option<MessageCursor>,
        limit: u32,
        filter: &MessageFilter,
    ) -> impl Future<Output = Result<Vec<Message>, AppError>> + Send;

    /// The thread's branches (live leaves), newest first.
    fn branches(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<Branch>, AppError>> + Send;

    /// Moves the active leaf to a live message of the thread.
    fn set_active_leaf(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        leaf: MessageId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Copies the path to `at` (and, by mode, the branches below it) into `new_thread`, whose
    /// `forked_from` the caller has set; the copy of `at` becomes its active leaf.
    fn fork(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        at: MessageId,
        mode: ForkMode,
        new_thread: Thread,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Sets or clears feedback on a live message.
    fn set_feedback(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        feedback: Option<Feedback>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// Sets or clears the reaction on a live message.
    fn set_reaction(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        reaction: Option<Reaction>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;
}

/// Storage of summaries.
pub trait SummaryStore: Clone + Send + Sync + 'static {
    /// Stores a summary; the covered message must be a message of the thread.
    fn add_summary(
        &self,
        scope: &Scope,
        summary: Summary,
    ) -> impl Future<Output = Result<Summary, AppError>> + Send;

    /// The thread's summaries, newest first.
    fn list_summaries(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<Summary>, AppError>> + Send;
}

/// Whether the service's dependencies (the database) can serve requests; backs `/readyz`.
pub trait Readiness: Clone + Send + Sync + 'static {
    /// `Ok` when ready, else why not.
    fn check(&self) -> impl Future<Output = Result<(), AppError>> + Send;
}
