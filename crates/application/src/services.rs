//! The use cases. Each service parses raw input into domain values and calls its store.

use chat_threads_domain::{
    Content, ContentType, DocumentId, ExternalId, Feedback, FeedbackText, ForkOrigin, Limits,
    Message, MessageId, MessageStatus, Metadata, ModelName, OrgId, Principal, ProductName, Rating,
    Reaction, Role, Scope, Summary, SummaryId, SystemPrompt, Thread, ThreadId, ThreadStatus, Title,
};

use crate::cursor;
use crate::error::AppError;
use crate::ports::{
    Branch, Clock, DeleteOutcome, DeletedFilter, ForkMode, MessageCursor, MessageFilter,
    MessageStore, NewMessage, Page, SearchHit, SummaryStore, ThreadCursor, ThreadPatch,
    ThreadQuery, ThreadStore,
};

/// Default page size when the caller gives none (capped by the configured maximum).
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// Checks a requested page size (1..=max, default 20).
pub fn page_size(requested: Option<u32>, limits: &Limits) -> Result<u32, AppError> {
    let max = limits.page_size_max.max(1);
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(chat_threads_domain::DomainError::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        )
        .into()),
    }
}

fn opt<T>(
    raw: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, chat_threads_domain::DomainError>,
) -> Result<Option<T>, AppError> {
    raw.map(|s| parse(&s)).transpose().map_err(AppError::from)
}

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
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// Thread use cases.
#[derive(Debug, Clone)]
pub struct ThreadService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
    models: Option<crate::catalog::Catalog>,
}

impl<S: ThreadStore, C: Clock> ThreadService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
            models: None,
        }
    }

    /// Checks a thread's model against the catalog: only models the principal may use.
    pub fn with_models(mut self, catalog: crate::catalog::Catalog) -> Self {
        self.models = Some(catalog);
        self
    }

    /// The model name, refused (422 `model_not_allowed`, listing the allowed ones) when the
    /// principal may not use it.
    fn model(&self, who: &Principal, raw: &str) -> Result<ModelName, AppError> {
        let name = ModelName::parse(raw)?;
        if let Some(catalog) = &self.models {
            catalog.resolve(who, Some(name.as_str()), None)?;
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
            // A member of an organization files threads under it, never under another one.
            (Some(asked), Some(own)) if &asked != own => {
                return Err(chat_threads_domain::DomainError::invalid(
                    "org_id",
                    "must be your own organization (or left out)",
                )
                .into());
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
            ..Thread::new(who.owner(), now)
        };
        match self.store.insert_thread(thread).await {
            Ok(t) => Ok((t, true)),
            Err(AppError::Conflict(reason)) => {
                let Some(external_id) = external_id else {
                    return Err(AppError::Conflict(reason));
                };
                let found = self.find_by_external_id(who, external_id).await?;
                found.map(|t| (t, false)).ok_or(AppError::Conflict(reason))
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
        self.store
            .get_thread(&who.scope(), id, include_deleted)
            .await
    }

    /// A page of the owner's threads, newest activity first.
    pub async fn list(
        &self,
        who: &Principal,
        input: ListThreads,
    ) -> Result<Page<Thread>, AppError> {
        let limit = page_size(input.limit, &self.limits)?;
        let text = input
            .text
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let query = ThreadQuery {
            scope: who.scope(),
            org_id: opt(input.org_id, OrgId::parse)?,
            product: opt(input.product, ProductName::parse)?,
            status: opt(input.status, ThreadStatus::parse)?,
            document_id: opt(input.document_id, DocumentId::parse)?,
            external_id: opt(input.external_id, ExternalId::parse)?,
            deleted: input.deleted,
            text,
            after: input
                .cursor
                .as_deref()
                .map(cursor::decode::<ThreadCursor>)
                .transpose()?,
            limit: limit + 1,
        };
        let mut rows = self.store.list_threads(&query).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = has_more
            .then(|| {
                rows.last().map(|t| {
                    cursor::encode(&ThreadCursor {
                        updated_at: t.updated_at,
                        id: t.id,
                    })
                })
            })
            .flatten();
        Ok(Page {
            data: rows,
            next_cursor,
            has_more,
        })
    }

    /// Changes a live thread's title, status, metadata, system prompt or model.
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
        };
        self.store
            .update_thread(&who.scope(), id, patch, self.clock.now())
            .await
    }

    /// Archives a thread (it stays readable and writable).
    pub async fn archive(&self, who: &Principal, id: ThreadId) -> Result<Thread, AppError> {
        let patch = ThreadPatch {
            status: Some(ThreadStatus::Archived),
            ..ThreadPatch::default()
        };
        self.store
            .update_thread(&who.scope(), id, patch, self.clock.now())
            .await
    }

    /// Soft-deletes a thread: hidden from lists and reads until restored.
    pub async fn delete(&self, who: &Principal, id: ThreadId) -> Result<Thread, AppError> {
        let now = self.clock.now();
        self.store
            .set_thread_deleted(&who.scope(), id, Some(now), now)
            .await
    }

    /// Restores a soft-deleted thread.
    pub async fn restore(&self, who: &Principal, id: ThreadId) -> Result<Thread, AppError> {
        self.store
            .set_thread_deleted(&who.scope(), id, None, self.clock.now())
            .await
    }

    /// Deletes a thread and all its messages and summaries for good.
    pub async fn purge(&self, who: &Principal, id: ThreadId) -> Result<(), AppError> {
        self.store.purge_thread(&who.scope(), id).await
    }

    /// Full-text search over the owner's messages, newest first, a page at a time.
    pub async fn search(
        &self,
        who: &Principal,
        text: &str,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<SearchHit>, AppError> {
        let limit = page_size(limit, &self.limits)?;
        let text = text.trim();
        if text.is_empty() || text.len() > 500 {
            return Err(
                chat_threads_domain::DomainError::invalid("q", "must be 1-500 bytes").into(),
            );
        }
        let after = cursor
            .as_deref()
            .map(cursor::decode::<MessageCursor>)
            .transpose()?;
        let mut rows = self
            .store
            .search_messages(&who.scope(), text, after, limit + 1)
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = has_more
            .then(|| {
                rows.last().map(|h| {
                    cursor::encode(&MessageCursor {
                        created_at: h.created_at,
                        id: h.message_id,
                    })
                })
            })
            .flatten();
        Ok(Page {
            data: rows,
            next_cursor,
            has_more,
        })
    }
}

/// Whether `haystack` contains every word of `text` as a whole word, ignoring case (what the
/// search indexes match).
pub fn contains_words(haystack: &str, text: &str) -> bool {
    let words: Vec<String> = haystack
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| words.contains(&w.to_lowercase()))
}

/// Parses a message filter from raw query parameters.
pub fn message_filter(role: Option<&str>, text: Option<&str>) -> Result<MessageFilter, AppError> {
    Ok(MessageFilter {
        role: role.map(Role::parse).transpose()?,
        text: text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    })
}

/// Input to append a message (raw).
#[derive(Debug, Clone, Default)]
pub struct AppendMessage {
    /// "user", "assistant", "system" or "tool"; default "user".
    pub role: Option<String>,
    /// The text.
    pub content: String,
    /// "text", "json", "image" or "file"; default "text".
    pub content_type: Option<String>,
    /// What a UI shows instead of the content.
    pub display_text: Option<String>,
    /// Explicit parent; default the active leaf.
    pub parent_id: Option<MessageId>,
    /// Metadata object.
    pub metadata: Option<serde_json::Value>,
    /// Model that wrote it.
    pub model: Option<String>,
}

/// Message and tree use cases.
#[derive(Debug, Clone)]
pub struct MessageService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
}

impl<S: MessageStore + ThreadStore, C: Clock> MessageService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    fn new_message(&self, input: AppendMessage) -> Result<NewMessage, AppError> {
        let content_type = input
            .content_type
            .as_deref()
            .map(ContentType::parse)
            .transpose()?;
        let content_type = content_type.unwrap_or(ContentType::Text);
        if content_type == ContentType::Json
            && serde_json::from_str::<serde_json::Value>(&input.content).is_err()
        {
            return Err(
                chat_threads_domain::DomainError::invalid("content", "is not valid JSON").into(),
            );
        }
        let display_text = input
            .display_text
            .map(|d| Content::parse(d, &self.limits).map(Content::into_inner))
            .transpose()?;
        Ok(NewMessage {
            id: MessageId::new(),
            role: input
                .role
                .as_deref()
                .map(Role::parse)
                .transpose()?
                .unwrap_or(Role::User),
            content: Content::parse(input.content, &self.limits)?,
            content_type,
            display_text,
            status: MessageStatus::Complete,
            model: opt(input.model, ModelName::parse)?,
            prompt_tokens: None,
            completion_tokens: None,
            metadata: Metadata::parse(input.metadata.unwrap_or_default(), &self.limits)?,
            edited_at: None,
            created_at: self.clock.now(),
        })
    }

    /// Appends a message under the active leaf (or the given parent); it becomes the active leaf.
    pub async fn append(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: AppendMessage,
    ) -> Result<Message, AppError> {
        let parent = input.parent_id;
        let msg = self.new_message(input)?;
        self.store
            .append_message(&who.scope(), thread_id, parent, msg)
            .await
    }

    /// Appends an already-built message (used by generation, which sets status and tokens).
    pub async fn append_prepared(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        msg: NewMessage,
    ) -> Result<Message, AppError> {
        self.store
            .append_message(&who.scope(), thread_id, parent, msg)
            .await
    }

    /// A live message.
    pub async fn get(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let m = self.store.get_message(&who.scope(), thread_id, id).await?;
        if m.is_deleted() {
            return Err(AppError::MessageNotFound);
        }
        Ok(m)
    }

    /// Edits a message by adding a sibling with the new content (same role); the original stays
    /// as another branch and the sibling becomes the active leaf.
    pub async fn edit(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        content: String,
        display_text: Option<String>,
        metadata: Option<serde_json::Value>,
    ) -> Result<Message, AppError> {
        let original = self.get(who, thread_id, id).await?;
        let mut msg = self.new_message(AppendMessage {
            role: Some(original.role.as_str().to_owned()),
            content,
            content_type: Some(original.content_type.as_str().to_owned()),
            display_text,
            parent_id: None,
            metadata: metadata.or_else(|| Some(original.metadata.to_value())),
            model: None,
        })?;
        msg.edited_at = Some(msg.created_at);
        self.store
            .add_sibling(&who.scope(), thread_id, id, msg)
            .await
    }

    /// Adds a prepared sibling of `of` (regenerate: a new reply beside the old one).
    pub async fn add_sibling(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        of: MessageId,
        msg: NewMessage,
    ) -> Result<Message, AppError> {
        self.store
            .add_sibling(&who.scope(), thread_id, of, msg)
            .await
    }

    /// Soft-deletes a message and everything below it. If the active leaf was removed, it moves
    /// to the deleted message's parent (for a root: the newest surviving leaf, or none).
    pub async fn delete(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<DeleteOutcome, AppError> {
        self.store
            .delete_message(&who.scope(), thread_id, id, self.clock.now())
            .await
    }

    /// The active path, root first: the last `limit` messages (all when `None`), then earlier
    /// pages through the cursor. With a filter, the path is walked from the cursor to the root
    /// and the last `limit` matching messages are returned (the cost then grows with the depth).
    pub async fn active_path(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        cursor: Option<String>,
        limit: Option<u32>,
        filter: MessageFilter,
    ) -> Result<Page<Message>, AppError> {
        let before = cursor
            .as_deref()
            .map(cursor::decode::<MessageId>)
            .transpose()?;
        let want = match limit {
            None => u32::MAX - 1,
            Some(n) => page_size(Some(n), &self.limits)?,
        };
        let walk = if filter.is_empty() {
            want + 1
        } else {
            u32::MAX
        };
        let mut rows = self
            .store
            .active_path(&who.scope(), thread_id, before, walk)
            .await?;
        if !filter.is_empty() {
            rows.retain(|m| {
                filter.role.is_none_or(|r| m.role == r)
                    && filter
                        .text
                        .as_deref()
                        .is_none_or(|t| contains_words(m.content.as_str(), t))
            });
        }
        let has_more = rows.len() > want as usize;
        if has_more {
            rows.drain(..rows.len() - want as usize);
        }
        let next_cursor = has_more
            .then(|| rows.first().map(|m| cursor::encode(&m.id)))
            .flatten();
        Ok(Page {
            data: rows,
            next_cursor,
            has_more,
        })
    }

    /// Every message of the thread (deleted ones included, marked), oldest first.
    pub async fn tree(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        cursor: Option<String>,
        limit: Option<u32>,
        filter: MessageFilter,
    ) -> Result<Page<Message>, AppError> {
        let limit = page_size(limit, &self.limits)?;
        let after = cursor
            .as_deref()
            .map(cursor::decode::<MessageCursor>)
            .transpose()?;
        let mut rows = self
            .store
            .list_tree(&who.scope(), thread_id, after, limit + 1, &filter)
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = has_more
            .then(|| {
                rows.last().map(|m| {
                    cursor::encode(&MessageCursor {
                        created_at: m.created_at,
                        id: m.id,
                    })
                })
            })
            .flatten();
        Ok(Page {
            data: rows,
            next_cursor,
            has_more,
        })
    }

    /// The thread's branches with their last message.
    pub async fn branches(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Vec<Branch>, AppError> {
        self.store.branches(&who.scope(), thread_id).await
    }

    /// Switches the active branch.
    pub async fn set_active_leaf(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        leaf: MessageId,
    ) -> Result<Thread, AppError> {
        self.store
            .set_active_leaf(&who.scope(), thread_id, leaf, self.clock.now())
            .await
    }

    /// Forks the path ending at `at` into a new thread that remembers its origin.
    pub async fn fork(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        at: MessageId,
        mode: ForkMode,
        title: Option<String>,
    ) -> Result<Thread, AppError> {
        let source = self
            .store
            .get_thread(&who.scope(), thread_id, false)
            .await?;
        let now = self.clock.now();
        let title = match title {
            Some(t) => Title::parse(&t, &self.limits)?,
            None => source.title.clone(),
        };
        let new_thread = Thread {
            id: ThreadId::new(),
            owner: who.owner(),
            title,
            status: ThreadStatus::Active,
            external_id: None,
            active_leaf_id: None,
            forked_from: Some(ForkOrigin {
                thread_id,
                message_id: at,
            }),
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            ..source
        };
        self.store
            .fork(&who.scope(), thread_id, at, mode, new_thread)
            .await
    }

    /// Sets (`Some((rating, text))`) or clears (`None`) feedback on a message.
    pub async fn feedback(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        feedback: Option<(String, Option<String>)>,
    ) -> Result<Message, AppError> {
        let feedback = feedback
            .map(|(rating, text)| -> Result<Feedback, AppError> {
                Ok(Feedback {
                    rating: Rating::parse(&rating)?,
                    text: text
                        .map(|t| FeedbackText::parse(&t, &self.limits))
                        .transpose()?,
                })
            })
            .transpose()?;
        self.store
            .set_feedback(&who.scope(), thread_id, id, feedback, self.clock.now())
            .await
    }

    /// Sets (`Some(emoji)`) or clears (`None`) the reaction on a message.
    pub async fn reaction(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        reaction: Option<String>,
    ) -> Result<Message, AppError> {
        let reaction = reaction.map(|r| Reaction::parse(&r)).transpose()?;
        self.store
            .set_reaction(&who.scope(), thread_id, id, reaction, self.clock.now())
            .await
    }
}

/// Summary use cases.
#[derive(Debug, Clone)]
pub struct SummaryService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
}

impl<S: SummaryStore, C: Clock> SummaryService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    /// Stores a summary of the path up to `covers_message_id`.
    pub async fn add(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        covers_message_id: MessageId,
        text: String,
        model: Option<String>,
    ) -> Result<Summary, AppError> {
        let summary = Summary {
            id: SummaryId::new(),
            thread_id,
            covers_message_id,
            text: Content::parse(text, &self.limits)?,
            model: opt(model, ModelName::parse)?,
            created_at: self.clock.now(),
        };
        self.store.add_summary(&who.scope(), summary).await
    }

    /// The thread's summaries, newest first.
    pub async fn list(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Vec<Summary>, AppError> {
        self.store.list_summaries(&who.scope(), thread_id).await
    }

    /// The newest summary, if any.
    pub async fn latest(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Option<Summary>, AppError> {
        Ok(self
            .store
            .list_summaries(&who.scope(), thread_id)
            .await?
            .into_iter()
            .next())
    }
}
