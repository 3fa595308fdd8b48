//! An export read a little at a time: each call of [`Export::next_chunk`] reads one small batch
//! from the store and gives back its NDJSON lines, so a client that reads slowly (or not at all)
//! holds one batch in memory, whatever the size of its threads.

use std::collections::{HashMap, HashSet, VecDeque};

use chat_threads_domain::{Message, MessageId, Scope, Thread};

use super::records::{message_record, summary_record, thread_record};
use super::{EXPORT_PAGE, Record};
use crate::error::AppError;
use crate::messages::{MessageCursor, MessageFilter, MessageStore};
use crate::summaries::SummaryStore;
use crate::threads::{DeletedFilter, ThreadCursor, ThreadQuery, ThreadStore};

/// Messages read from the store at a time: the first batch, and the most. The batch halves
/// while batches come out over the page byte budget and doubles while they are small, so a
/// batch holds about `limits.page_bytes` whatever the size of the messages.
const FIRST_BATCH: u32 = 4;
const MAX_BATCH: u32 = 128;

/// Where the next thread page starts.
#[derive(Debug)]
enum Threads {
    /// Another page of the owner's live threads follows this cursor (`None`: the first page).
    More(Option<ThreadCursor>),
    /// No more pages.
    Done,
}

/// The thread being exported.
#[derive(Debug)]
struct Current {
    thread: Thread,
    after: Option<MessageCursor>,
    messages_done: bool,
    /// Messages written so far (their children may follow).
    written: HashSet<MessageId>,
    /// Messages read before their parent (only possible with imported timestamps), by parent.
    held: HashMap<MessageId, Vec<Message>>,
}

/// An export in progress.
#[derive(Debug)]
pub struct Export<S> {
    store: S,
    scope: Scope,
    owner_scope: Scope,
    queue: VecDeque<Thread>,
    threads: Threads,
    current: Option<Current>,
    batch: u32,
    budget: usize,
}

fn line(record: &Record, out: &mut String) -> Result<(), AppError> {
    let text = serde_json::to_string(record).map_err(|e| AppError::internal(e.to_string()))?;
    out.push_str(&text);
    out.push('\n');
    Ok(())
}

impl<S: ThreadStore + MessageStore + SummaryStore> Export<S> {
    pub(super) fn of_threads(store: S, scope: Scope, owner_scope: Scope, budget: usize) -> Self {
        Self {
            store,
            scope,
            owner_scope,
            queue: VecDeque::new(),
            threads: Threads::More(None),
            current: None,
            batch: FIRST_BATCH,
            budget,
        }
    }

    pub(super) fn of_thread(store: S, scope: Scope, thread: Thread, budget: usize) -> Self {
        Self {
            owner_scope: scope.clone(),
            queue: VecDeque::from([thread]),
            threads: Threads::Done,
            ..Self::of_threads(store, scope.clone(), scope, budget)
        }
    }

    /// The next lines (each ending in a newline), or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, AppError> {
        loop {
            let mut out = String::new();
            if let Some(current) = &mut self.current {
                if current.messages_done {
                    // Anything still held lost its parent: write it rather than drop it.
                    for m in current.held.drain().flat_map(|(_, v)| v) {
                        line(&message_record(&m), &mut out)?;
                    }
                    let summaries = self
                        .store
                        .list_summaries(&self.scope, current.thread.id)
                        .await?;
                    for s in &summaries {
                        line(&summary_record(s), &mut out)?;
                    }
                    self.current = None;
                } else {
                    let page = self
                        .store
                        .list_tree(
                            &self.scope,
                            current.thread.id,
                            current.after,
                            self.batch,
                            &MessageFilter::default(),
                        )
                        .await?;
                    current.messages_done = page.len() < self.batch as usize;
                    current.after = page.last().map(|m| MessageCursor {
                        created_at: m.created_at,
                        id: m.id,
                    });
                    for m in page {
                        current.place(m, &mut out)?;
                    }
                    self.batch = if out.len() > self.budget {
                        (self.batch / 2).max(1)
                    } else if out.len() < self.budget / 4 {
                        (self.batch * 2).min(MAX_BATCH)
                    } else {
                        self.batch
                    };
                }
            } else if let Some(thread) = self.queue.pop_front() {
                line(&thread_record(&thread), &mut out)?;
                self.current = Some(Current {
                    thread,
                    after: None,
                    messages_done: false,
                    written: HashSet::new(),
                    held: HashMap::new(),
                });
            } else if let Threads::More(after) = self.threads {
                let page = self.store.list_threads(&self.query(after)).await?;
                self.threads = match page.last() {
                    Some(t) if page.len() == EXPORT_PAGE as usize => {
                        Threads::More(Some(ThreadCursor {
                            pinned: t.pinned,
                            updated_at: t.updated_at,
                            id: t.id,
                        }))
                    }
                    _ => Threads::Done,
                };
                self.queue.extend(page);
            } else {
                return Ok(None);
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// Every remaining line (tests and small exports).
    pub async fn lines(mut self) -> Result<Vec<String>, AppError> {
        let mut lines = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            lines.extend(chunk.lines().map(str::to_owned));
        }
        Ok(lines)
    }

    fn query(&self, after: Option<ThreadCursor>) -> ThreadQuery {
        ThreadQuery {
            scope: self.owner_scope.clone(),
            org_id: None,
            product: None,
            status: None,
            document_id: None,
            external_id: None,
            deleted: DeletedFilter::Exclude,
            text: None,
            tag: None,
            folder_id: None,
            pinned: None,
            creator_email: None,
            // Temporary threads are never exported.
            include_temporary: false,
            shared_with: None,
            after,
            limit: EXPORT_PAGE,
        }
    }
}

impl Current {
    /// Writes a message once its parent is written (parents always come first in the file),
    /// then any of its children that were waiting for it.
    fn place(&mut self, m: Message, out: &mut String) -> Result<(), AppError> {
        if let Some(parent) = m.parent_id.filter(|p| !self.written.contains(p)) {
            self.held.entry(parent).or_default().push(m);
            return Ok(());
        }
        let mut ready = vec![m];
        while let Some(m) = ready.pop() {
            line(&message_record(&m), out)?;
            self.written.insert(m.id);
            if let Some(children) = self.held.remove(&m.id) {
                ready.extend(children.into_iter().rev());
            }
        }
        Ok(())
    }
}
