//! Export and import: one thread or all of a caller's threads as NDJSON (the whole tree, with
//! summaries), and imports of the same format or of ChatGPT's `conversations.json`.
//!
//! NDJSON format, one JSON object per line, each thread followed by its messages (parents before
//! children) and summaries:
//! `{"type":"thread", ...}` `{"type":"message", ...}` `{"type":"summary", ...}`.
//! Imports always create new threads with new ids, owned by the importer; relations inside the
//! file (parents, the active leaf, what a summary covers) are remapped.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chat_threads_domain::{
    Content, ContentType, DocumentId, DomainError, ExternalId, Feedback, FeedbackText, Limits,
    Message, MessageId, MessageStatus, Metadata, ModelName, OrgId, Principal, ProductName, Rating,
    Reaction, Role, Scope, Summary, SummaryId, SystemPrompt, Thread, ThreadId, ThreadStatus,
    Timestamp, Title,
};
use serde::{Deserialize, Serialize};

mod chatgpt;

pub use chatgpt::parse_chatgpt;

use crate::error::AppError;
use crate::messages::{MessageCursor, MessageFilter, MessageStore};
use crate::summaries::SummaryStore;
use crate::system::Clock;
use crate::threads::{DeletedFilter, ThreadCursor, ThreadQuery, ThreadStore};

/// A thread line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRecord {
    pub id: uuid::Uuid,
    #[serde(default)]
    pub title: String,
    pub product: Option<String>,
    pub org_id: Option<String>,
    #[serde(default = "active")]
    pub status: String,
    pub document_id: Option<String>,
    pub external_id: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    pub active_leaf_id: Option<uuid::Uuid>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

pub(crate) fn active() -> String {
    "active".into()
}

/// Feedback on a message line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub rating: String,
    pub text: Option<String>,
}

/// A message line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: uuid::Uuid,
    pub thread_id: uuid::Uuid,
    pub parent_id: Option<uuid::Uuid>,
    pub role: String,
    pub content: String,
    #[serde(default = "text")]
    pub content_type: String,
    pub display_text: Option<String>,
    #[serde(default = "complete")]
    pub status: String,
    pub model: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub feedback: Option<FeedbackRecord>,
    pub reaction: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    pub edited_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

fn text() -> String {
    "text".into()
}
fn complete() -> String {
    "complete".into()
}

/// A summary line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub id: uuid::Uuid,
    pub thread_id: uuid::Uuid,
    pub covers_message_id: uuid::Uuid,
    pub text: String,
    pub model: Option<String>,
    pub created_at: Option<Timestamp>,
}

/// One NDJSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Thread(ThreadRecord),
    Message(MessageRecord),
    Summary(SummaryRecord),
}

/// The lines of one thread: the thread, its messages parents first, its summaries.
pub fn records_of(thread: &Thread, messages: &[Message], summaries: &[Summary]) -> Vec<Record> {
    let mut out = Vec::with_capacity(1 + messages.len() + summaries.len());
    out.push(Record::Thread(ThreadRecord {
        id: thread.id.as_uuid(),
        title: thread.title.to_string(),
        product: thread.product.as_ref().map(ToString::to_string),
        org_id: thread.org_id.as_ref().map(ToString::to_string),
        status: thread.status.as_str().to_owned(),
        document_id: thread.document_id.as_ref().map(ToString::to_string),
        external_id: thread.external_id.as_ref().map(ToString::to_string),
        metadata: thread.metadata.to_value(),
        system_prompt: thread.system_prompt.as_ref().map(ToString::to_string),
        model: thread.model.as_ref().map(ToString::to_string),
        active_leaf_id: thread.active_leaf_id.map(|m| m.as_uuid()),
        created_at: Some(thread.created_at),
        updated_at: Some(thread.updated_at),
        deleted_at: thread.deleted_at,
        expires_at: thread.expires_at,
    }));
    let mut ordered: Vec<&Message> = messages.iter().collect();
    ordered.sort_by_key(|m| (m.depth, m.created_at, m.id));
    out.extend(ordered.into_iter().map(|m| {
        Record::Message(MessageRecord {
            id: m.id.as_uuid(),
            thread_id: m.thread_id.as_uuid(),
            parent_id: m.parent_id.map(|p| p.as_uuid()),
            role: m.role.as_str().to_owned(),
            content: m.content.to_string(),
            content_type: m.content_type.as_str().to_owned(),
            display_text: m.display_text.clone(),
            status: m.status.as_str().to_owned(),
            model: m.model.as_ref().map(ToString::to_string),
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
            feedback: m.feedback.as_ref().map(|f| FeedbackRecord {
                rating: f.rating.as_str().to_owned(),
                text: f.text.as_ref().map(ToString::to_string),
            }),
            reaction: m.reaction.as_ref().map(ToString::to_string),
            metadata: m.metadata.to_value(),
            edited_at: m.edited_at,
            created_at: Some(m.created_at),
            deleted_at: m.deleted_at,
        })
    }));
    out.extend(summaries.iter().map(|s| {
        Record::Summary(SummaryRecord {
            id: s.id.as_uuid(),
            thread_id: s.thread_id.as_uuid(),
            covers_message_id: s.covers_message_id.as_uuid(),
            text: s.text.to_string(),
            model: s.model.as_ref().map(ToString::to_string),
            created_at: Some(s.created_at),
        })
    }));
    out
}

/// A thread ready to be stored by an import, with fresh ids.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedThread {
    /// The thread (owned by the importer).
    pub thread: Thread,
    /// Its messages, parents before children.
    pub messages: Vec<Message>,
    /// Its summaries.
    pub summaries: Vec<Summary>,
    /// The id the thread had in the file.
    pub source_id: String,
}

/// What an import did with one thread of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ImportOutcome {
    /// Stored under a new id.
    Imported {
        /// The id in the file.
        source_id: String,
        /// The new thread id.
        id: ThreadId,
        /// Messages stored.
        messages: usize,
    },
    /// Not stored: the importer already has a thread with this external id (imports are
    /// repeatable without creating duplicates).
    Skipped {
        /// The id in the file.
        source_id: String,
        /// Why.
        reason: String,
    },
}

/// Storage for imports: all threads of one import in one transaction.
pub trait ImportStore: Clone + Send + Sync + 'static {
    /// Stores the threads, skipping those whose external id the owner already uses.
    fn import_threads(
        &self,
        threads: Vec<ImportedThread>,
    ) -> impl Future<Output = Result<Vec<ImportOutcome>, AppError>> + Send;
}

pub(crate) fn bad_line(line: usize, reason: impl std::fmt::Display) -> AppError {
    DomainError::invalid("import", format!("line {line}: {reason}")).into()
}

pub(crate) fn opt<T>(
    raw: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    raw.map(|s| parse(&s)).transpose()
}

/// Builds one thread from records (already grouped), validating every value and the tree.
pub(crate) struct Builder<'a> {
    who: &'a Principal,
    limits: &'a Limits,
    now: Timestamp,
}

impl Builder<'_> {
    fn thread(&self, r: ThreadRecord) -> Result<(Thread, Option<uuid::Uuid>), DomainError> {
        let org = match (opt(r.org_id, OrgId::parse)?, &self.who.org) {
            (Some(asked), Some(own)) if &asked != own => Some(own.clone()),
            (asked, own) => asked.or_else(|| own.clone()),
        };
        let created = r
            .created_at
            .map(chat_threads_domain::to_micros)
            .unwrap_or(self.now);
        let thread = Thread {
            org_id: org,
            title: Title::parse(&r.title, self.limits)?,
            product: opt(r.product, ProductName::parse)?,
            status: ThreadStatus::parse(&r.status)?,
            document_id: opt(r.document_id, DocumentId::parse)?,
            external_id: opt(r.external_id, ExternalId::parse)?,
            metadata: Metadata::parse(r.metadata, self.limits)?,
            system_prompt: r
                .system_prompt
                .map(|p| SystemPrompt::parse(p, self.limits))
                .transpose()?,
            model: opt(r.model, ModelName::parse)?,
            updated_at: r
                .updated_at
                .map(chat_threads_domain::to_micros)
                .unwrap_or(created)
                .max(created),
            deleted_at: r.deleted_at.map(chat_threads_domain::to_micros),
            expires_at: r.expires_at.map(chat_threads_domain::to_micros),
            ..Thread::new(self.who.owner(), created)
        };
        Ok((thread, r.active_leaf_id))
    }

    fn message(
        &self,
        r: MessageRecord,
        thread: &Thread,
        ids: &HashMap<uuid::Uuid, (MessageId, i32)>,
    ) -> Result<Message, String> {
        let parent = match r.parent_id {
            None => None,
            Some(p) => Some(
                *ids.get(&p)
                    .ok_or("its parent_id is not an earlier message of the thread")?,
            ),
        };
        let e = |err: DomainError| err.to_string();
        let status = match MessageStatus::parse(&r.status).map_err(e)? {
            // A generation cannot resume after an import.
            MessageStatus::Streaming => MessageStatus::Cancelled,
            s => s,
        };
        let feedback = match r.feedback {
            Some(f) => Some(Feedback {
                rating: Rating::parse(&f.rating).map_err(e)?,
                text: f
                    .text
                    .map(|t| FeedbackText::parse(&t, self.limits))
                    .transpose()
                    .map_err(e)?,
            }),
            None => None,
        };
        let created = r
            .created_at
            .map(chat_threads_domain::to_micros)
            .unwrap_or(thread.created_at);
        Ok(Message {
            id: MessageId::new(),
            thread_id: thread.id,
            parent_id: parent.map(|p| p.0),
            depth: parent.map_or(0, |p| p.1 + 1),
            role: Role::parse(&r.role).map_err(e)?,
            content: Content::parse(r.content, self.limits).map_err(e)?,
            content_type: ContentType::parse(&r.content_type).map_err(e)?,
            display_text: r
                .display_text
                .map(|d| Content::parse(d, self.limits).map(Content::into_inner))
                .transpose()
                .map_err(e)?,
            status,
            model: opt(r.model, ModelName::parse).map_err(e)?,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            feedback,
            reaction: opt(r.reaction, Reaction::parse).map_err(e)?,
            metadata: Metadata::parse(r.metadata, self.limits).map_err(e)?,
            edited_at: r.edited_at.map(chat_threads_domain::to_micros),
            created_at: created,
            updated_at: created,
            deleted_at: r.deleted_at.map(chat_threads_domain::to_micros),
        })
    }
}

/// Finishes a thread: counts, last message time, and an active leaf that is a live message.
pub(crate) fn finish(mut t: ImportedThread, requested_leaf: Option<MessageId>) -> ImportedThread {
    let live: Vec<&Message> = t.messages.iter().filter(|m| !m.is_deleted()).collect();
    t.thread.message_count = live.len() as i64;
    t.thread.last_message_at = live.iter().map(|m| m.created_at).max();
    let leaf = requested_leaf.filter(|id| live.iter().any(|m| m.id == *id));
    t.thread.active_leaf_id = leaf.or_else(|| {
        chat_threads_domain::tree::leaves(live.iter().copied())
            .first()
            .map(|m| m.id)
    });
    t
}

/// Parses an NDJSON import.
pub fn parse_ndjson(
    who: &Principal,
    body: &str,
    limits: &Limits,
    now: Timestamp,
) -> Result<Vec<ImportedThread>, AppError> {
    let b = Builder { who, limits, now };
    let mut out: Vec<ImportedThread> = Vec::new();
    // Per thread in progress: old message id -> (new id, depth); old thread id; requested leaf.
    let mut ids: HashMap<uuid::Uuid, (MessageId, i32)> = HashMap::new();
    let mut current: Option<(uuid::Uuid, Option<uuid::Uuid>)> = None;
    let mut seen_threads = HashSet::new();
    let finish_current = |out: &mut Vec<ImportedThread>,
                          ids: &HashMap<uuid::Uuid, (MessageId, i32)>,
                          cur: Option<(uuid::Uuid, Option<uuid::Uuid>)>| {
        if let (Some((_, leaf)), Some(last)) = (cur, out.pop()) {
            let leaf = leaf.and_then(|l| ids.get(&l).map(|x| x.0));
            out.push(finish(last, leaf));
        }
    };
    for (n, line) in body.lines().enumerate() {
        let n = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| bad_line(n, e))?;
        match record {
            Record::Thread(r) => {
                finish_current(&mut out, &ids, current.take());
                ids.clear();
                if !seen_threads.insert(r.id) {
                    return Err(bad_line(n, "the thread id appears twice"));
                }
                let old = r.id;
                let (thread, leaf) = b.thread(r).map_err(|e| bad_line(n, e))?;
                current = Some((old, leaf));
                out.push(ImportedThread {
                    thread,
                    messages: Vec::new(),
                    summaries: Vec::new(),
                    source_id: old.to_string(),
                });
            }
            Record::Message(r) => {
                let (Some((old_thread, _)), Some(t)) = (current, out.last_mut()) else {
                    return Err(bad_line(n, "a message before any thread"));
                };
                if r.thread_id != old_thread {
                    return Err(bad_line(
                        n,
                        "the message's thread_id is not the thread above it",
                    ));
                }
                let old_id = r.id;
                if ids.contains_key(&old_id) {
                    return Err(bad_line(n, "the message id appears twice"));
                }
                let m = b.message(r, &t.thread, &ids).map_err(|e| bad_line(n, e))?;
                ids.insert(old_id, (m.id, m.depth));
                t.messages.push(m);
            }
            Record::Summary(r) => {
                let (Some((old_thread, _)), Some(t)) = (current, out.last_mut()) else {
                    return Err(bad_line(n, "a summary before any thread"));
                };
                if r.thread_id != old_thread {
                    return Err(bad_line(
                        n,
                        "the summary's thread_id is not the thread above it",
                    ));
                }
                let covers = ids
                    .get(&r.covers_message_id)
                    .ok_or_else(|| bad_line(n, "it covers an unknown message"))?
                    .0;
                t.summaries.push(Summary {
                    id: SummaryId::new(),
                    thread_id: t.thread.id,
                    covers_message_id: covers,
                    text: Content::parse(r.text, limits).map_err(|e| bad_line(n, e))?,
                    model: opt(r.model, ModelName::parse).map_err(|e| bad_line(n, e))?,
                    created_at: r
                        .created_at
                        .map(chat_threads_domain::to_micros)
                        .unwrap_or(now),
                });
            }
        }
    }
    finish_current(&mut out, &ids, current.take());
    if out.is_empty() {
        return Err(DomainError::invalid("import", "the file holds no thread").into());
    }
    Ok(out)
}

/// Export and import use cases.
#[derive(Debug, Clone)]
pub struct TransferService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
}

/// Threads per page while exporting everything.
const EXPORT_PAGE: u32 = 50;
/// Messages per page while reading a tree for export.
const TREE_PAGE: u32 = 500;

impl<S: ThreadStore + MessageStore + SummaryStore + ImportStore, C: Clock> TransferService<S, C> {
    /// A service.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    async fn thread_lines(&self, scope: &Scope, thread: &Thread) -> Result<Vec<String>, AppError> {
        let mut messages = Vec::new();
        let mut after: Option<MessageCursor> = None;
        loop {
            let page = self
                .store
                .list_tree(
                    scope,
                    thread.id,
                    after,
                    TREE_PAGE,
                    &MessageFilter::default(),
                )
                .await?;
            let done = page.len() < TREE_PAGE as usize;
            after = page.last().map(|m| MessageCursor {
                created_at: m.created_at,
                id: m.id,
            });
            messages.extend(page);
            if done {
                break;
            }
        }
        let summaries = self.store.list_summaries(scope, thread.id).await?;
        records_of(thread, &messages, &summaries)
            .iter()
            .map(|r| serde_json::to_string(r).map_err(|e| AppError::Storage(e.to_string())))
            .collect()
    }

    /// One live thread as NDJSON lines (restore a deleted thread to export it).
    pub async fn export_thread(
        &self,
        who: &Principal,
        id: ThreadId,
    ) -> Result<Vec<String>, AppError> {
        let scope = who.scope();
        let thread = self.store.get_thread(&scope, id, false).await?;
        self.thread_lines(&scope, &thread).await
    }

    /// A page of the caller's live threads as NDJSON lines, and the cursor of the
    /// next page. Call again with the cursor until it is `None`.
    pub async fn export_page(
        &self,
        who: &Principal,
        after: Option<ThreadCursor>,
    ) -> Result<(Vec<String>, Option<ThreadCursor>), AppError> {
        let scope = who.scope();
        let query = ThreadQuery {
            scope: chat_threads_domain::Scope::of(who.owner()),
            org_id: None,
            product: None,
            status: None,
            document_id: None,
            external_id: None,
            deleted: DeletedFilter::Exclude,
            text: None,
            after,
            limit: EXPORT_PAGE,
        };
        let threads = self.store.list_threads(&query).await?;
        let next = (threads.len() == EXPORT_PAGE as usize)
            .then(|| {
                threads.last().map(|t| ThreadCursor {
                    updated_at: t.updated_at,
                    id: t.id,
                })
            })
            .flatten();
        let mut lines = Vec::new();
        for t in &threads {
            lines.extend(self.thread_lines(&scope, t).await?);
        }
        Ok((lines, next))
    }

    /// Imports NDJSON (this service's export format).
    pub async fn import_ndjson(
        &self,
        who: &Principal,
        body: &str,
    ) -> Result<Vec<ImportOutcome>, AppError> {
        let threads = parse_ndjson(who, body, &self.limits, self.clock.now())?;
        self.store.import_threads(threads).await
    }

    /// Imports ChatGPT's `conversations.json`.
    pub async fn import_chatgpt(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Vec<ImportOutcome>, AppError> {
        let threads = parse_chatgpt(who, body, &self.limits, self.clock.now())?;
        self.store.import_threads(threads).await
    }
}
