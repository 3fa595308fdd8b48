//! Threads: create, list, read, change, archive, delete, restore, purge.

mod ports;

pub use ports::{DeletedFilter, ModelPolicy, ThreadCursor, ThreadPatch, ThreadQuery, ThreadStore};

use chat_threads_domain::{
    DocumentId, ExternalId, FolderId, Limits, Metadata, ModelName, OrgId, Principal, ProductName,
    Scope, SystemPrompt, Tag, Thread, ThreadId, ThreadStatus, Title,
};

use crate::access::{Need, scope_for};
use crate::cursor;
use crate::error::AppError;
use crate::events::{Event, ThreadEvents};
use crate::input::opt;
use crate::paging::{Page, page_size};
use crate::system::Clock;

/// Input to create a thread (raw; validated by the service).
#[derive(Debug, Clone, Default)]
pub struct CreateThread {
    /// Title; empty when absent.
    pub title: Option<String>,
    /// Product name.
    pub product: Option<String>,
    /// Organization id.
    pub org_id: Option<String>,
    /// Document id.
    pub document_id: Option<String>,
    /// The client's own id; an existing one for the same owner returns that thread.
    pub external_id: Option<String>,
    /// Metadata object.
    pub metadata: Option<serde_json::Value>,
    /// System prompt.
    pub system_prompt: Option<String>,
    /// Default model.
    pub model: Option<String>,
    /// When the thread may be purged automatically.
    pub expires_at: Option<chat_threads_domain::Timestamp>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// One of the owner's folders.
    pub folder_id: Option<FolderId>,
    /// Listed first.
    pub pinned: Option<bool>,
    /// Hidden from lists, search and exports; purged after `threads.temporary_ttl`.
    pub temporary: Option<bool>,
}

/// Input to change a thread; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UpdateThread {
    /// New title.
    pub title: Option<String>,
    /// New status ("active" or "archived").
    pub status: Option<String>,
    /// Replacement metadata.
    pub metadata: Option<serde_json::Value>,
    /// New system prompt; `Some(None)` clears it.
    pub system_prompt: Option<Option<String>>,
    /// New model; `Some(None)` clears it.
    pub model: Option<Option<String>>,
    /// Replacement tags.
    pub tags: Option<Vec<String>>,
    /// New folder; `Some(None)` takes the thread out of its folder.
    pub folder_id: Option<Option<FolderId>>,
    /// Pinned or not.
    pub pinned: Option<bool>,
}

/// Filters and paging of a thread list (raw).
#[derive(Debug, Clone, Default)]
pub struct ListThreads {
    /// Org filter.
    pub org_id: Option<String>,
    /// Product filter.
    pub product: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// Document filter.
    pub document_id: Option<String>,
    /// External id filter.
    pub external_id: Option<String>,
    /// Deleted threads.
    pub deleted: DeletedFilter,
    /// Title text query.
    pub text: Option<String>,
    /// Tag filter.
    pub tag: Option<String>,
    /// Folder filter.
    pub folder_id: Option<FolderId>,
    /// Pinned filter.
    pub pinned: Option<bool>,
    /// Creator e-mail filter.
    pub creator_email: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Only threads whose owners made the caller a member (`shared=with_me`), instead of the
    /// caller's own.
    pub shared_with_me: bool,
}

/// Thread use cases.
#[derive(Debug, Clone)]
pub struct ThreadService<S, C> {
    pub(crate) store: S,
    pub(crate) clock: C,
    pub(crate) limits: Limits,
    models: Option<std::sync::Arc<dyn ModelPolicy>>,
    events: ThreadEvents,
    temporary_ttl: chrono::TimeDelta,
}

/// How long a temporary thread lives by default (`threads.temporary_ttl`).
pub const TEMPORARY_TTL_DEFAULT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A thread write's report: one event of the thread as the write left it.
pub(crate) fn thread_report(
    event: fn(Box<Thread>) -> Event,
) -> impl Fn(&Thread) -> Vec<crate::events::ThreadEvent> + Send + Sync {
    move |t| {
        vec![crate::events::ThreadEvent::thread(
            t.id,
            event(Box::new(t.clone())),
        )]
    }
}

impl<S: ThreadStore, C: Clock> ThreadService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
            models: None,
            events: ThreadEvents::default(),
            temporary_ttl: chrono::TimeDelta::from_std(TEMPORARY_TTL_DEFAULT).unwrap_or_default(),
        }
    }

    /// How long temporary threads live (`threads.temporary_ttl`).
    pub fn with_temporary_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.temporary_ttl = chrono::TimeDelta::from_std(ttl).unwrap_or(self.temporary_ttl);
        self
    }

    /// Publishes changes to the thread's subscribers (other tabs, other instances).
    pub fn with_events(mut self, events: ThreadEvents) -> Self {
        self.events = events;
        self
    }

    /// Publishes what a thread write reported (its entries were stored with it).
    fn changed(&self, report: crate::feed::Report<'_, Thread>, thread: &Thread) {
        self.events.publish_all_stored(report(thread));
    }

    /// Checks a thread's model against the catalog: only models the principal may use.
    pub fn with_models(mut self, models: impl ModelPolicy) -> Self {
        self.models = Some(std::sync::Arc::new(models));
        self
    }

    /// The model name, refused (422 `model_not_allowed`, listing the allowed ones) when the
    /// principal may not use it.
    fn model(&self, who: &Principal, raw: &str) -> Result<ModelName, AppError> {
        let name = ModelName::parse(raw)?;
        if let Some(models) = &self.models {
            models.check(who, name.as_str())?;
        }
        Ok(name)
    }

    /// Creates a thread. Returns the thread and whether it was created (`false` when the owner
    /// already had a thread with this external id, which is returned instead).
    pub async fn create(
        &self,
        who: &Principal,
        input: CreateThread,
    ) -> Result<(Thread, bool), AppError> {
        let now = self.clock.now();
        let external_id = opt(input.external_id, ExternalId::parse)?;
        let org_id = match (opt(input.org_id, OrgId::parse)?, &who.org) {
            // A thread goes under the caller's own organization, never another one: that would
            // be a write into another tenant's view. Without an org, there is none to give.
            (Some(asked), own) if Some(&asked) != own.as_ref() => {
                return Err(AppError::Forbidden(
                    "org_id must be your own organization (or left out)".into(),
                ));
            }
            (asked, own) => asked.or_else(|| own.clone()),
        };
        let thread = Thread {
            org_id,
            title: Title::parse(input.title.as_deref().unwrap_or(""), &self.limits)?,
            product: opt(input.product, ProductName::parse)?,
            document_id: opt(input.document_id, DocumentId::parse)?,
            external_id: external_id.clone(),
            metadata: Metadata::parse(input.metadata.unwrap_or_default(), &self.limits)?,
            system_prompt: input
                .system_prompt
                .map(|s| SystemPrompt::parse(s, &self.limits))
                .transpose()?,
            model: input.model.map(|m| self.model(who, &m)).transpose()?,
            expires_at: input.expires_at.map(chat_threads_domain::to_micros),
            tags: Tag::parse_all(input.tags.as_deref().unwrap_or_default())?,
            folder_id: input.folder_id,
            pinned: input.pinned.unwrap_or(false),
            creator_email: who.email.clone(),
            ..Thread::new(who.owner(), now)
        };
        let thread = if input.temporary == Some(true) {
            // A temporary thread lives `temporary_ttl` at most (an earlier expires_at wins).
            let until = chat_threads_domain::to_micros(now + self.temporary_ttl);
            Thread {
                temporary: true,
                expires_at: Some(thread.expires_at.map_or(until, |e| e.min(until))),
                ..thread
            }
        } else {
            thread
        };
        match self.store.insert_thread(thread).await {
            Ok(t) => Ok((t, true)),
            // The folder is named in the body, not the path: the request is refused, nothing
            // is missing at its address.
            Err(AppError::FolderNotFound) => Err(AppError::FolderUnusable),
            Err(AppError::Conflict(reason)) => {
                let Some(external_id) = external_id else {
                    return Err(AppError::Conflict(reason));
                };
                match self.find_by_external_id(who, external_id).await? {
                    // A deleted thread is gone from every read: it is not handed back as if it
                    // were live; its external id stays taken until it is restored or purged.
                    Some(t) if t.deleted_at.is_some() => Err(AppError::Conflict(format!(
                        "external_id belongs to the deleted thread {}: restore it \
                         (POST /v1/threads/{}/restore) or purge it first",
                        t.id, t.id
                    ))),
                    // An expired thread is about to be purged: it is not handed back either.
                    Some(t) if t.expires_at.is_some_and(|e| e <= now) => {
                        Err(AppError::Conflict(format!(
                            "external_id belongs to the expired thread {}, which is being \
                             removed; retry shortly",
                            t.id
                        )))
                    }
                    Some(t) => Ok((t, false)),
                    None => Err(AppError::Conflict(reason)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn find_by_external_id(
        &self,
        who: &Principal,
        external_id: ExternalId,
    ) -> Result<Option<Thread>, AppError> {
        let query = ThreadQuery {
            scope: Scope::of(who.owner()),
            org_id: None,
            product: None,
            status: None,
            document_id: None,
            external_id: Some(external_id),
            deleted: DeletedFilter::Include,
            text: None,
            tag: None,
            folder_id: None,
            pinned: None,
            creator_email: None,
            include_temporary: true,
            shared_with: None,
            after: None,
            limit: 1,
        };
        Ok(self.store.list_threads(&query).await?.into_iter().next())
    }

    /// One of the owner's threads.
    pub async fn get(
        &self,
        who: &Principal,
        id: ThreadId,
        include_deleted: bool,
    ) -> Result<Thread, AppError> {
        // A deleted thread is its owner's business alone.
        let need = if include_deleted {
            Need::Own
        } else {
            Need::Read
        };
        let scope = scope_for(&self.store, who, id, need).await?;
        let thread = self.store.get_thread(&scope, id, include_deleted).await?;
        crate::audit::admin_read(&self.store, &self.clock, who, id, "thread").await;
        Ok(thread)
    }

    /// A page of the owner's threads, pinned first, then newest activity first; temporary
    /// threads are never listed.
    pub async fn list(
        &self,
        who: &Principal,
        input: ListThreads,
    ) -> Result<Page<Thread>, AppError> {
        let limit = page_size(input.limit, &self.limits)?;
        let text = input
            .text
            .map(|t| chat_threads_domain::query_text("q", &t))
            .transpose()?
            .flatten();
        let query = ThreadQuery {
            scope: who.scope(),
            org_id: opt(input.org_id, OrgId::parse)?,
            product: opt(input.product, ProductName::parse)?,
            status: opt(input.status, ThreadStatus::parse)?,
            document_id: opt(input.document_id, DocumentId::parse)?,
            external_id: opt(input.external_id, ExternalId::parse)?,
            deleted: input.deleted,
            text,
            tag: opt(input.tag, Tag::parse)?,
            folder_id: input.folder_id,
            pinned: input.pinned,
            // Blank means no filter, as for `q`.
            creator_email: input
                .creator_email
                .map(|e| chat_threads_domain::query_text("creator_email", &e))
                .transpose()?
                .flatten(),
            include_temporary: false,
            shared_with: input.shared_with_me.then(|| who.owner()),
            after: input
                .cursor
                .as_deref()
                .map(cursor::decode::<ThreadCursor>)
                .transpose()?,
            limit: limit + 1,
        };
        let rows = self.store.list_threads(&query).await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |t| {
            ThreadCursor {
                pinned: t.pinned,
                updated_at: t.updated_at,
                id: t.id,
            }
        }))
    }

    /// Changes a live thread's title, status, metadata, system prompt, model, tags, folder or
    /// pin.
    pub async fn update(
        &self,
        who: &Principal,
        id: ThreadId,
        input: UpdateThread,
    ) -> Result<Thread, AppError> {
        let patch = ThreadPatch {
            title: input
                .title
                .map(|t| Title::parse(&t, &self.limits))
                .transpose()?,
            status: input.status.map(|s| ThreadStatus::parse(&s)).transpose()?,
            metadata: input
                .metadata
                .map(|m| Metadata::parse(m, &self.limits))
                .transpose()?,
            system_prompt: input
                .system_prompt
                .map(|p| p.map(|s| SystemPrompt::parse(s, &self.limits)).transpose())
                .transpose()?,
            model: input
                .model
                .map(|m| m.as_deref().map(|m| self.model(who, m)).transpose())
                .transpose()?,
            tags: input.tags.as_deref().map(Tag::parse_all).transpose()?,
            folder_id: input.folder_id,
            pinned: input.pinned,
        };
        let report = thread_report(|thread| Event::ThreadUpdated { thread });
        let thread = self
            .store
            .update_thread(
                &scope_for(&self.store, who, id, Need::Own).await?,
                id,
                patch,
                self.clock.now(),
                &report,
            )
            .await
            .map_err(|e| match e {
                AppError::FolderNotFound => AppError::FolderUnusable,
                e => e,
            })?;
        self.changed(&report, &thread);
        Ok(thread)
    }

    /// Writes the audit entry of an action on a whole thread.
    async fn audit(&self, who: &Principal, thread: &Thread, action: crate::audit::AuditAction) {
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            thread.org_id.as_ref(),
            action,
            format!("thread:{}", thread.id),
            Some(thread.id),
            serde_json::json!({"owner": thread.owner.as_str()}),
        )
        .await;
    }

    /// Archives a thread (it stays readable and writable).
    pub async fn archive(&self, who: &Principal, id: ThreadId) -> Result<Thread, AppError> {
        let patch = ThreadPatch {
            status: Some(ThreadStatus::Archived),
            ..ThreadPatch::default()
        };
        self.store
            .update_thread(
                &scope_for(&self.store, who, id, Need::Own).await?,
                id,
                patch,
                self.clock.now(),
                &crate::feed::silent,
            )
            .await
    }

    /// Soft-deletes a thread: hidden from lists and reads until restored.
    pub async fn delete(&self, who: &Principal, id: ThreadId) -> Result<Thread, AppError> {
        let now = self.clock.now();
        let report = thread_report(|thread| Event::ThreadDeleted { thread });
        let thread = self
            .store
            .set_thread_deleted(
                &scope_for(&self.store, who, id, Need::Own).await?,
                id,
                Some(now),
                now,
                &report,
            )
            .await?;
        self.changed(&report, &thread);
        self.audit(who, &thread, crate::audit::AuditAction::ThreadDeleted)
            .await;
        Ok(thread)
    }

    /// Restores a soft-deleted thread.
    pub async fn restore(&self, who: &Principal, id: ThreadId) -> Result<Thread, AppError> {
        let report = thread_report(|thread| Event::ThreadRestored { thread });
        let thread = self
            .store
            .set_thread_deleted(
                &scope_for(&self.store, who, id, Need::Own).await?,
                id,
                None,
                self.clock.now(),
                &report,
            )
            .await?;
        self.changed(&report, &thread);
        self.audit(who, &thread, crate::audit::AuditAction::ThreadRestored)
            .await;
        Ok(thread)
    }

    /// Deletes a thread and all its messages and summaries for good.
    pub async fn purge(&self, who: &Principal, id: ThreadId) -> Result<(), AppError> {
        let scope = scope_for(&self.store, who, id, Need::Own).await?;
        let thread = self.store.get_thread(&scope, id, true).await?;
        self.store.purge_thread(&scope, id).await?;
        self.audit(who, &thread, crate::audit::AuditAction::ThreadPurged)
            .await;
        Ok(())
    }
}
