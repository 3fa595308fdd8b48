//! Export and import: one thread or all of a caller's threads as NDJSON (the whole tree, with
//! summaries), and imports of the same format or of ChatGPT's `conversations.json`.
//!
//! NDJSON format, one JSON object per line, each thread followed by its messages (parents before
//! children) and summaries:
//! `{"type":"thread", ...}` `{"type":"message", ...}` `{"type":"summary", ...}`.
//! Imports always create new threads with new ids, owned by the importer; relations inside the
//! file (parents, the active leaf, what a summary covers) are remapped.

use std::future::Future;

use chat_threads_domain::{Limits, Message, Principal, Summary, Thread, ThreadId};
use serde::Serialize;

mod chatgpt;
mod export;
mod ndjson;
mod records;

pub use chatgpt::parse_chatgpt;
pub use export::Export;
pub use ndjson::parse_ndjson;
pub(crate) use ndjson::{Builder, finish};
pub(crate) use records::active;
pub use records::{
    FeedbackRecord, MessageRecord, Record, SummaryRecord, ThreadRecord, message_record, records_of,
    summary_record, thread_record,
};

use crate::error::AppError;
use crate::messages::MessageStore;
use crate::summaries::SummaryStore;
use crate::system::Clock;
use crate::threads::ThreadStore;

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
    /// Imports running at once (`limits.imports_at_once`): each holds its whole file.
    imports: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Threads per page while exporting everything.
const EXPORT_PAGE: u32 = 50;

impl<S: ThreadStore + MessageStore + SummaryStore + ImportStore, C: Clock> TransferService<S, C> {
    /// A service.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            imports: std::sync::Arc::new(tokio::sync::Semaphore::new(
                limits.imports_at_once.max(1),
            )),
            limits,
        }
    }

    /// A turn to import, taken before the body is read; when `limits.imports_at_once` imports
    /// are running, [`AppError::Overloaded`].
    pub fn import_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        self.imports.clone().try_acquire_owned().map_err(|_| {
            AppError::Overloaded(format!(
                "{} imports are running (limits.imports_at_once)",
                self.limits.imports_at_once
            ))
        })
    }

    /// One live thread as NDJSON, read batch by batch (restore a deleted thread to export it).
    /// An unknown thread is an error here, before anything is written.
    pub async fn export_thread(
        &self,
        who: &Principal,
        id: ThreadId,
    ) -> Result<Export<S>, AppError> {
        let scope =
            crate::access::scope_for(&self.store, who, id, crate::access::Need::Read).await?;
        let thread = self.store.get_thread(&scope, id, false).await?;
        crate::audit::admin_read(&self.store, &self.clock, who, id, "export").await;
        Ok(Export::of_thread(
            self.store.clone(),
            scope,
            thread,
            self.limits.page_bytes,
        ))
    }

    /// All the caller's live threads as NDJSON, read batch by batch.
    pub fn export_all(&self, who: &Principal) -> Export<S> {
        Export::of_threads(
            self.store.clone(),
            who.scope(),
            chat_threads_domain::Scope::of(who.owner()),
            self.limits.page_bytes,
        )
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
