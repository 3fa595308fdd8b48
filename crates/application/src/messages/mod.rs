//! Messages and the tree: append, list (active path or whole tree), read, edit as a sibling or
//! in place (with revisions), delete a subtree or one message (a tombstone), feedback and
//! reactions.

mod counted;
mod path;
mod ports;
mod restore;

pub use path::{PageTags, PathRead, PathStamp};

pub use ports::{
    Anchor, Branch, DeleteOutcome, ForkMode, MessageCursor, MessageFilter, MessageRevision,
    MessageStore, NewMessage, RestoreOutcome, Revision, check_revisable, tombstone_wanted,
};

/// Content of type `json` must parse as JSON (`content_not_json`).
fn json_content_parses(content_type: ContentType, content: &str) -> Result<(), AppError> {
    if content_type == ContentType::Json
        && serde_json::from_str::<serde_json::Value>(content).is_err()
    {
        return Err(chat_threads_domain::DomainError::ContentNotJson.into());
    }
    Ok(())
}

pub use crate::events::DeleteScope;

/// An edit in place; fields left out stay as they are.
#[derive(Debug, Clone, Default)]
pub struct MessagePatch {
    /// New content.
    pub content: Option<String>,
    /// New display text (`Some(None)` clears it).
    pub display_text: Option<Option<String>>,
    /// New metadata (replaces the whole object).
    pub metadata: Option<serde_json::Value>,
}

use chat_threads_domain::{
    Content, ContentType, Feedback, FeedbackText, Limits, Message, MessageId, MessageStatus,
    Metadata, ModelName, Principal, Rating, Reaction, Role, ThreadId,
};

use crate::access::{Need, scope_for};
use crate::cursor;
use crate::error::AppError;
use crate::events::{Event, ThreadEvent, ThreadEvents};
use crate::input::opt;
use crate::paging::{Page, page_size};
use crate::system::Clock;
use crate::threads::ThreadStore;

/// Whether every word of `text` begins a word of `haystack`, ignoring case (what the
/// search indexes match).
pub fn contains_words(haystack: &str, text: &str) -> bool {
    let words: Vec<String> = haystack
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| {
            let w = w.to_lowercase();
            words.iter().any(|h| h.starts_with(&w))
        })
}

/// Parses a message filter from raw query parameters.
pub fn message_filter(role: Option<&str>, text: Option<&str>) -> Result<MessageFilter, AppError> {
    Ok(MessageFilter {
        role: role.map(Role::parse).transpose()?,
        text: text
            .map(|t| chat_threads_domain::query_text("q", t))
            .transpose()?
            .flatten(),
        deleted: None,
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
    /// Prompt tokens spent on it, for a message generated elsewhere.
    pub prompt_tokens: Option<i64>,
    /// Tokens it took, for a message generated elsewhere.
    pub completion_tokens: Option<i64>,
    /// Files to attach: the caller's uploads.
    pub attachments: Vec<chat_threads_domain::FileId>,
    /// Tool calls (assistant), tool results (tool) or reasoning (assistant).
    pub parts: Vec<chat_threads_domain::Part>,
}

/// Input of a sibling edit.
#[derive(Debug, Clone, Default)]
pub struct EditInput {
    /// The new text.
    pub content: String,
    /// What a UI shows instead.
    pub display_text: Option<String>,
    /// Metadata; default the original's.
    pub metadata: Option<serde_json::Value>,
    /// Files to attach; default none.
    pub attachments: Vec<chat_threads_domain::FileId>,
}

/// Most tokens one stored message may declare (prompt or completion).
pub const MAX_MESSAGE_TOKENS: i64 = 10_000_000;

/// A declared token count, checked.
fn tokens(field: &'static str, n: Option<i64>) -> Result<Option<i32>, AppError> {
    match n {
        None => Ok(None),
        Some(n) if (0..=MAX_MESSAGE_TOKENS).contains(&n) => Ok(i32::try_from(n).ok()),
        Some(_) => Err(chat_threads_domain::DomainError::invalid(
            field,
            format!("must be between 0 and {MAX_MESSAGE_TOKENS}"),
        )
        .into()),
    }
}

/// Where a message placed under `parent` (default: the active leaf) would stand: that parent
/// and the messages above it, nearest first, as far as tool results look (the tool messages
/// and the assistant message that called them).
pub(crate) async fn tool_ancestors<S: MessageStore + ThreadStore>(
    store: &S,
    scope: &chat_threads_domain::Scope,
    thread_id: ThreadId,
    parent: Option<MessageId>,
) -> Result<Vec<Message>, AppError> {
    let parent = match parent {
        Some(p) => Some(p),
        None => {
            store
                .get_thread(scope, thread_id, false)
                .await?
                .active_leaf_id
        }
    };
    let Some(parent) = parent else {
        return Ok(Vec::new());
    };
    let first = match store.get_message(scope, thread_id, parent).await {
        Ok(m) => m,
        // The append names the missing parent itself.
        Err(AppError::MessageNotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let limit = u32::try_from(chat_threads_domain::parts::MAX_PARTS + 2).unwrap_or(u32::MAX);
    let above = store
        .active_path(scope, thread_id, Some(parent), limit)
        .await?;
    Ok(std::iter::once(first)
        .chain(above.into_iter().rev())
        .collect())
}

/// A message write's report: `message.updated` with the message as the write left it.
pub(crate) fn updated(m: &Message) -> Vec<ThreadEvent> {
    vec![ThreadEvent::thread(
        m.thread_id,
        Event::MessageUpdated {
            message: Box::new(m.clone()),
        },
    )]
}

/// Message and tree use cases.
#[derive(Debug, Clone)]
pub struct MessageService<S, C> {
    pub(crate) store: S,
    pub(crate) clock: C,
    pub(crate) limits: Limits,
    pub(crate) events: ThreadEvents,
}

impl<S: MessageStore + ThreadStore + crate::files::FileStore, C: Clock> MessageService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
            events: ThreadEvents::default(),
        }
    }

    /// Publishes what changes to the thread's subscribers (other tabs, other instances).
    pub fn with_events(mut self, events: ThreadEvents) -> Self {
        self.events = events;
        self
    }

    /// Publishes a message the store just appended (its feed entry was written with it).
    pub(crate) fn created(&self, m: &Message) {
        self.events
            .publish_stored(crate::events::ThreadEvent::thread(
                m.thread_id,
                Event::created(m),
            ));
    }

    /// A display text, held to the content rules.
    fn display_text(&self, raw: Option<String>) -> Result<Option<String>, AppError> {
        Ok(raw
            .map(|d| Content::parse(d, &self.limits).map(Content::into_inner))
            .transpose()?)
    }

    async fn new_message(
        &self,
        who: &Principal,
        input: AppendMessage,
    ) -> Result<NewMessage, AppError> {
        let content_type = input
            .content_type
            .as_deref()
            .map(ContentType::parse)
            .transpose()?;
        let content_type = content_type.unwrap_or(ContentType::Text);
        json_content_parses(content_type, &input.content)?;
        let display_text = self.display_text(input.display_text)?;
        let role = input
            .role
            .as_deref()
            .map(Role::parse)
            .transpose()?
            .unwrap_or(Role::User);
        chat_threads_domain::check_parts(role, &input.parts, &self.limits)?;
        Ok(NewMessage {
            id: MessageId::new(),
            role,
            content: Content::parse(input.content, &self.limits)?,
            content_type,
            display_text,
            // An assistant message that calls tools waits for their results.
            status: MessageStatus::Complete.with_parts(&input.parts),
            model: opt(input.model, ModelName::parse)?,
            prompt_tokens: tokens("prompt_tokens", input.prompt_tokens)?,
            completion_tokens: tokens("completion_tokens", input.completion_tokens)?,
            metadata: Metadata::parse(input.metadata.unwrap_or_default(), &self.limits)?,
            edited_at: None,
            created_at: self.clock.now(),
            attachments: crate::files::resolve_attachments(
                &self.store,
                &who.owner(),
                &input.attachments,
            )
            .await?,
            parts: input.parts,
            author: Some(chat_threads_domain::Author::of(who)),
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
        let scope = scope_for(&self.store, who, thread_id, Need::Write).await?;
        let msg = self.new_message(who, input).await?;
        let results: Vec<&str> = msg
            .parts
            .iter()
            .filter_map(|p| match p {
                chat_threads_domain::Part::ToolResult { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        if !results.is_empty() {
            let above = tool_ancestors(&self.store, &scope, thread_id, parent).await?;
            chat_threads_domain::pairing::check_results(
                &results,
                chat_threads_domain::pairing::answered_calls(&above),
                false,
            )?;
        }
        let m = self
            .store
            .append_message(&scope, thread_id, parent, msg)
            .await?;
        self.created(&m);
        Ok(m)
    }

    /// A live message.
    pub async fn get(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let m = self
            .store
            .get_message(
                &scope_for(&self.store, who, thread_id, Need::Read).await?,
                thread_id,
                id,
            )
            .await?;
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
        input: EditInput,
    ) -> Result<Message, AppError> {
        let original = self.get(who, thread_id, id).await?;
        if original.is_tombstone() {
            return Err(chat_threads_domain::DomainError::MessageUnusable(
                id,
                "it was deleted (a tombstone)",
            )
            .into());
        }
        if original.calls_tools() || original.result_ids().next().is_some() {
            return Err(chat_threads_domain::DomainError::MessageUnusable(
                id,
                "tool calls are changed by regenerating the reply, results by sending them again",
            )
            .into());
        }
        let mut msg = self
            .new_message(
                who,
                AppendMessage {
                    role: Some(original.role.as_str().to_owned()),
                    content: input.content,
                    content_type: Some(original.content_type.as_str().to_owned()),
                    display_text: input.display_text,
                    parent_id: None,
                    metadata: input
                        .metadata
                        .or_else(|| Some(original.metadata.to_value())),
                    model: None,
                    prompt_tokens: None,
                    completion_tokens: None,
                    attachments: input.attachments,
                    parts: Vec::new(),
                },
            )
            .await?;
        msg.edited_at = Some(msg.created_at);
        // The new version, and the branch switched to it.
        let report = |m: &Message| {
            vec![
                ThreadEvent::thread(m.thread_id, Event::created(m)),
                ThreadEvent::thread(
                    m.thread_id,
                    Event::BranchSwitched {
                        active_leaf_id: Some(m.id),
                    },
                ),
            ]
        };
        let m = self
            .store
            .add_sibling(
                &scope_for(&self.store, who, thread_id, Need::Write).await?,
                thread_id,
                id,
                msg,
                &report,
            )
            .await?;
        self.events.publish_all_stored(report(&m));
        Ok(m)
    }

    /// Edits a message in place: the earlier version stays readable through
    /// [`MessageService::revisions`], `version` goes up by one and `edited_at` is set. The
    /// message keeps its place, id and children (unlike [`MessageService::edit`], which adds a
    /// sibling).
    pub async fn revise(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        patch: MessagePatch,
    ) -> Result<Message, AppError> {
        let current = self.get(who, thread_id, id).await?;
        // Nothing to change: the message as it is, no new version.
        if patch.content.is_none() && patch.display_text.is_none() && patch.metadata.is_none() {
            return Ok(current);
        }
        let content = match patch.content {
            Some(c) => {
                json_content_parses(current.content_type, &c)?;
                Content::parse(c, &self.limits)?
            }
            None => current.content.clone(),
        };
        let display_text = match patch.display_text {
            Some(d) => self.display_text(d)?,
            None => current.display_text.clone(),
        };
        let metadata = match patch.metadata {
            Some(m) => Metadata::parse(m, &self.limits)?,
            None => current.metadata.clone(),
        };
        let m = self
            .store
            .revise_message(
                &scope_for(&self.store, who, thread_id, Need::Write).await?,
                thread_id,
                id,
                Revision {
                    from_version: current.version,
                    content,
                    display_text,
                    metadata,
                    at: self.clock.now(),
                },
                &updated,
            )
            .await?;
        self.updated(&m);
        Ok(m)
    }

    /// Earlier versions of a message edited in place, oldest first.
    pub async fn revisions(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<MessageRevision>, AppError> {
        let limit = page_size(limit, &self.limits)?;
        let after = cursor.as_deref().map(cursor::decode::<i32>).transpose()?;
        let rows = self
            .store
            .message_revisions(
                &scope_for(&self.store, who, thread_id, Need::Read).await?,
                thread_id,
                id,
                after,
                limit + 1,
            )
            .await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |r| {
            r.version
        }))
    }

    /// Soft-deletes a message and everything below it. If the active leaf was removed, it moves
    /// to the deleted message's parent (for a root: the newest surviving leaf, or none).
    pub async fn delete(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        scope: DeleteScope,
    ) -> Result<DeleteOutcome, AppError> {
        let now = self.clock.now();
        let report = |out: &DeleteOutcome| {
            vec![ThreadEvent::thread(
                thread_id,
                Event::MessageDeleted {
                    message_id: id,
                    scope,
                    deleted: out.deleted,
                    active_leaf_id: out.active_leaf_id,
                },
            )]
        };
        let out = match scope {
            DeleteScope::Message => {
                self.store
                    .tombstone_message(
                        &scope_for(&self.store, who, thread_id, Need::Write).await?,
                        thread_id,
                        id,
                        now,
                        &report,
                    )
                    .await?
            }
            DeleteScope::Subtree => {
                self.store
                    .delete_message(
                        &scope_for(&self.store, who, thread_id, Need::Write).await?,
                        thread_id,
                        id,
                        now,
                        &report,
                    )
                    .await?
            }
        };
        self.events.publish_all_stored(report(&out));
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            None,
            crate::audit::AuditAction::MessageDeleted,
            format!("message:{id}"),
            Some(thread_id),
            serde_json::json!({"scope": scope, "deleted": out.deleted}),
        )
        .await;
        Ok(out)
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
        let rows = self
            .store
            .list_tree(
                &scope_for(&self.store, who, thread_id, Need::Read).await?,
                thread_id,
                after,
                limit + 1,
                &filter,
            )
            .await?;
        crate::audit::admin_read(&self.store, &self.clock, who, thread_id, "tree").await;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |m| {
            MessageCursor {
                created_at: m.created_at,
                id: m.id,
            }
        }))
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
        let m = self
            .store
            .set_feedback(
                &scope_for(&self.store, who, thread_id, Need::Write).await?,
                thread_id,
                id,
                feedback,
                self.clock.now(),
                &updated,
            )
            .await?;
        self.updated(&m);
        Ok(m)
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
        let m = self
            .store
            .set_reaction(
                &scope_for(&self.store, who, thread_id, Need::Write).await?,
                thread_id,
                id,
                reaction,
                self.clock.now(),
                &updated,
            )
            .await?;
        self.updated(&m);
        Ok(m)
    }

    /// Publishes what a message write reported (its entries were stored with it).
    fn updated(&self, m: &Message) {
        self.events.publish_all_stored(updated(m));
    }
}
