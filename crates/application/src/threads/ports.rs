//! What the thread use cases need from storage.
//!
//! Every store method takes a [`Scope`] and only ever sees the threads it reaches: the owner's
//! threads for everything, the org's threads for reading when the caller is an org admin.
//! Anything else is reported as not found, so ids cannot be probed.

use std::future::Future;

use chat_threads_domain::{
    DocumentId, ExternalId, FolderId, Metadata, ModelName, OrgId, Principal, ProductName, Scope,
    SystemPrompt, Tag, Thread, ThreadId, ThreadStatus, Timestamp, Title,
};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::feed::Report;

/// Position in the thread list, which is ordered by `(pinned, updated_at, id)`, pinned
/// threads first, each part newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadCursor {
    /// Whether the last thread seen is pinned.
    #[serde(default)]
    pub pinned: bool,
    /// `updated_at` of the last thread seen.
    pub updated_at: Timestamp,
    /// Id of the last thread seen.
    pub id: ThreadId,
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
    /// Only threads with this tag.
    pub tag: Option<Tag>,
    /// Only threads in this folder.
    pub folder_id: Option<FolderId>,
    /// Only pinned (`true`) or unpinned (`false`) threads.
    pub pinned: Option<bool>,
    /// Only threads created by a principal with this e-mail.
    pub creator_email: Option<String>,
    /// Temporary threads too (a lookup by external id); lists leave them out.
    pub include_temporary: bool,
    /// Instead of the scope's threads: those this principal is a member of.
    pub shared_with: Option<chat_threads_domain::Owner>,
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
    /// Replacement tags.
    pub tags: Option<Vec<Tag>>,
    /// New or cleared folder (one of the owner's: else `FolderNotFound`).
    pub folder_id: Option<Option<FolderId>>,
    /// Pinned or not.
    pub pinned: Option<bool>,
}

impl ThreadPatch {
    /// Whether the patch changes only how the thread is organized (tags, folder, pin), which
    /// is not activity: `updated_at` stays.
    pub fn only_organizes(&self) -> bool {
        self.title.is_none()
            && self.status.is_none()
            && self.metadata.is_none()
            && self.system_prompt.is_none()
            && self.model.is_none()
    }
}

/// Storage of threads.
pub trait ThreadStore:
    crate::access::MemberStore + crate::audit::AuditStore + Clone + Send + Sync + 'static
{
    /// Inserts a new thread (with its tags; its folder must be one of the owner's, else
    /// [`AppError::FolderNotFound`]). An external id already used by the owner is
    /// [`AppError::Conflict`].
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

    /// Threads matching the query, pinned first, then newest `(updated_at, id)` first, at most
    /// `query.limit`.
    fn list_threads(
        &self,
        query: &ThreadQuery,
    ) -> impl Future<Output = Result<Vec<Thread>, AppError>> + Send;

    /// Applies a patch to a live thread (`updated_at` moves unless it only organizes), with
    /// the change feed entries `report` makes of the thread as it is then.
    fn update_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        patch: ThreadPatch,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Sets a live thread's title written by a model: only while it is untitled unless
    /// `replace`; `None` when a title was there first (it is kept). Not activity: `updated_at`
    /// stays. With the change feed entries `report` makes of the outcome.
    fn set_generated_title(
        &self,
        scope: &Scope,
        id: ThreadId,
        title: Title,
        replace: bool,
        report: Report<'_, Option<Thread>>,
    ) -> impl Future<Output = Result<Option<Thread>, AppError>> + Send;

    /// Soft-deletes (`Some(time)`) or restores (`None`) a thread, with the change feed entries
    /// `report` makes of it.
    fn set_thread_deleted(
        &self,
        scope: &Scope,
        id: ThreadId,
        deleted_at: Option<Timestamp>,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> impl Future<Output = Result<Thread, AppError>> + Send;

    /// Removes a thread and everything in it for good.
    fn purge_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
}

/// Which models a principal may use: a thread's model must be one of them (the replies'
/// model catalog implements it).
pub trait ModelPolicy: std::fmt::Debug + Send + Sync + 'static {
    /// `Ok` when `who` may use `model`, else `model_not_allowed` listing the allowed ones.
    fn check(&self, who: &Principal, model: &str) -> Result<(), AppError>;
}
