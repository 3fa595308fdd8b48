//! What the message use cases need from storage: the tree operations, each applied atomically.

use std::future::Future;

use chat_threads_domain::{
    Content, ContentType, Feedback, Message, MessageId, MessageStatus, Metadata, ModelName,
    Reaction, Role, Scope, Thread, ThreadId, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::feed::Report;

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
    /// Only messages containing every word (through the search index; never a tombstone).
    pub text: Option<String>,
    /// Deleted messages (with their subtree): `None` lists them with the others (the tree
    /// view's default), `Exclude` leaves them out, `Only` lists nothing else.
    pub deleted: Option<crate::threads::DeletedFilter>,
}

impl MessageFilter {
    /// Whether the filter keeps every message it is given by content (role and words; which
    /// deleted messages a list holds is the store's part).
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.text.is_none()
    }
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
    /// Files attached (the caller's own uploads, checked by the service).
    pub attachments: Vec<chat_threads_domain::Attachment>,
    /// Tool calls, tool results or reasoning (checked by the service).
    pub parts: Vec<chat_threads_domain::Part>,
    /// Who wrote it (`None` for a model's reply).
    pub author: Option<chat_threads_domain::Author>,
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
            version: 1,
            tombstoned_at: None,
            attachments: self.attachments,
            parts: self.parts,
            author: self.author,
        }
    }
}

/// An earlier version of a message edited in place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRevision {
    /// The message.
    pub message_id: MessageId,
    /// Which version this was (1 = as first written).
    pub version: i32,
    /// Its text.
    pub content: Content,
    /// How to read it.
    pub content_type: ContentType,
    /// What a UI showed instead.
    pub display_text: Option<String>,
    /// Its metadata.
    pub metadata: Metadata,
    /// When this version was written.
    pub written_at: Timestamp,
    /// When the next version replaced it.
    pub replaced_at: Timestamp,
}

impl MessageRevision {
    /// `current` as the revision an edit at `replaced_at` keeps.
    pub fn replaced(current: &Message, replaced_at: Timestamp) -> Self {
        Self {
            message_id: current.id,
            version: current.version,
            content: current.content.clone(),
            content_type: current.content_type,
            display_text: current.display_text.clone(),
            metadata: current.metadata.clone(),
            written_at: current.edited_at.unwrap_or(current.created_at),
            replaced_at,
        }
    }
}

impl crate::paging::Weigh for MessageRevision {
    fn weigh(&self) -> usize {
        crate::paging::ITEM_OVERHEAD
            + self.content.as_str().len()
            + self.display_text.as_ref().map_or(0, String::len)
            + self.metadata.approx_bytes()
    }
}

/// An edit in place: the new text, display text and metadata, replacing `from_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The version the caller read; another edit in between is a conflict.
    pub from_version: i32,
    /// New content.
    pub content: Content,
    /// New display text.
    pub display_text: Option<String>,
    /// New metadata.
    pub metadata: Metadata,
    /// When.
    pub at: Timestamp,
}

/// Whether `current` may be edited in place as `from_version`: not a tombstone, not a reply
/// still being generated, and not edited by someone else since it was read.
pub fn check_revisable(current: &Message, from_version: i32) -> Result<(), AppError> {
    if current.is_tombstone() {
        return Err(chat_threads_domain::DomainError::MessageUnusable(
            current.id,
            "it was deleted (a tombstone)",
        )
        .into());
    }
    if current.status == MessageStatus::Streaming {
        return Err(AppError::GenerationInProgress);
    }
    if current.version != from_version {
        return Err(AppError::Conflict(
            "the message was edited meanwhile; read it again and retry".into(),
        ));
    }
    Ok(())
}

/// Whether deleting `current` alone has anything to do: `false` for a tombstone already (the
/// delete is repeated), an error for a reply still being generated.
pub fn tombstone_wanted(current: &Message) -> Result<bool, AppError> {
    if current.is_tombstone() {
        return Ok(false);
    }
    if current.status == MessageStatus::Streaming {
        return Err(AppError::GenerationInProgress);
    }
    Ok(true)
}

/// Where a new message hangs in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Under this parent, or under the active leaf when `None` (an append).
    Append(Option<MessageId>),
    /// Beside this message, under the same parent (an edit or a regeneration).
    SiblingOf(MessageId),
}

/// The result of soft-deleting a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteOutcome {
    /// How many messages were deleted (the message and its live descendants).
    pub deleted: u64,
    /// The thread's active leaf afterwards.
    pub active_leaf_id: Option<MessageId>,
}

/// The result of restoring a deleted message.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreOutcome {
    /// The message as it reads now.
    pub message: Message,
    /// How many messages came back (the message and the descendants deleted with it; 1 for a
    /// tombstone; 0 when it was not deleted).
    pub restored: u64,
    /// The thread's active leaf afterwards.
    pub active_leaf_id: Option<MessageId>,
}

/// Storage of messages and the tree operations, each applied atomically. A write that takes a
/// `report` keeps the change feed entries of the events the report makes of its result in the
/// same transaction ([`crate::feed::Report`]).
pub trait MessageStore: Clone + Send + Sync + 'static {
    /// Appends under `parent`, or under the active leaf; the message becomes the active leaf.
    /// Its `message.created` change feed entry ([`crate::feed::created_entry`]) is written in
    /// the same transaction.
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
        report: Report<'_, Message>,
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
        report: Report<'_, DeleteOutcome>,
    ) -> impl Future<Output = Result<DeleteOutcome, AppError>> + Send;

    /// Edits a live message of the owner's thread in place: its current version goes to the
    /// revisions, the new text replaces it, `version` + 1, `edited_at` set (one transaction;
    /// [`check_revisable`] decides).
    fn revise_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        revision: Revision,
        report: Report<'_, Message>,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// Earlier versions of a message, oldest first, after `after_version`, at most `limit`.
    fn message_revisions(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        after_version: Option<i32>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MessageRevision>, AppError>> + Send;

    /// Deletes one live message alone: it stays in the tree as a tombstone with its children
    /// attached, its content hidden ([`Message::hidden`]) and kept until it is restored or the
    /// restore window passes ([`tombstone_wanted`] decides). The outcome counts the one message
    /// and gives the thread's active leaf, which does not move.
    fn tombstone_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, DeleteOutcome>,
    ) -> impl Future<Output = Result<DeleteOutcome, AppError>> + Send;

    /// Undoes a delete of a message of a live thread: a message deleted with its subtree comes
    /// back with the descendants deleted with it (its parent must be live, else
    /// [`AppError::NotRestorable`]); if the thread's active leaf is where that delete left it
    /// (the message's parent), it moves to the newest leaf of what came back. A tombstone gets
    /// its content back unless the sweeper erased it ([`AppError::NotRestorable`]). A message
    /// that is not deleted is returned as it is.
    fn restore_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, RestoreOutcome>,
    ) -> impl Future<Output = Result<RestoreOutcome, AppError>> + Send;

    /// Up to `limit` messages of the active path ending just above `before` (or at the active
    /// leaf), root first. Walks parent links, so the cost depends on `limit`, not the thread size.
    fn active_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        before: Option<MessageId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Message>, AppError>> + Send;

    /// [`active_path`](Self::active_path) from the active leaf (no `before`), with the page's
    /// [`PathStamp`](super::PathStamp) when the store keeps stamps; `None` otherwise.
    fn stamped_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> impl Future<Output = Result<(Vec<Message>, Option<super::PathStamp>), AppError>> + Send;

    /// The stamp [`stamped_path`](Self::stamped_path) would give now, read without the rows:
    /// `None` when it would give none, or the thread has no path the scope may read (the
    /// page's read then tells which).
    fn path_stamp(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> impl Future<Output = Result<Option<super::PathStamp>, AppError>> + Send;

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
        report: Report<'_, Thread>,
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
        report: Report<'_, Message>,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;

    /// Sets or clears the reaction on a live message.
    fn set_reaction(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        reaction: Option<Reaction>,
        now: Timestamp,
        report: Report<'_, Message>,
    ) -> impl Future<Output = Result<Message, AppError>> + Send;
}

/// A branch of a thread: a leaf and whether it ends the active path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    /// The last message of the branch.
    pub leaf: Message,
    /// Whether this is the active branch.
    pub active: bool,
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
