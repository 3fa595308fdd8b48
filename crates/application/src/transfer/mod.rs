//! Export and import: one thread or all of a caller's threads as NDJSON (the whole tree, with
//! summaries), and imports of the same format or of ChatGPT's `conversations.json`.
//!
//! NDJSON format, one JSON object per line, each thread followed by its messages (parents before
//! children) and summaries:
//! `{"type":"thread", ...}` `{"type":"message", ...}` `{"type":"summary", ...}`.
//! Imports always create new threads with new ids, owned by the importer; relations inside the
//! file (parents, the active leaf, what a summary covers) are remapped.

use std::future::Future;

use chat_threads_domain::{Limits, Message, Principal, Scope, Summary, Thread, ThreadId};
use serde::Serialize;

mod chatgpt;
mod ndjson;
mod records;

pub use chatgpt::parse_chatgpt;
pub use ndjson::parse_ndjson;
pub(crate) use ndjson::{Builder, finish};
pub(crate) use records::active;
pub use records::{FeedbackRecord, MessageRecord, Record, SummaryRecord, ThreadRecord, records_of};

use crate::error::AppError;
use crate::messages::{MessageCursor, MessageFilter, MessageStore};
use crate::summaries::SummaryStore;
use crate::system::Clock;
use crate::threads::{DeletedFilter, ThreadCursor, ThreadQuery, ThreadStore};

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
