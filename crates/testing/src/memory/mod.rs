//! An in-memory implementation of the storage ports, for unit tests and as the reference the
//! contract suite is checked against. It applies the same domain tree rules as the SQL stores.
//! The shared state and the small ports live here; the larger ports have a file each.

mod accounts;
mod audit;
mod billing;
mod erasure;
mod feed;
mod files;
mod histories;
mod members;
mod messages;
mod organize;
mod policies;
mod queue;
mod replies;
mod retention;
mod search;
mod shares;
mod threads;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chat_threads_domain::tree;
use chat_threads_domain::{Message, MessageId, Owner, Scope, Summary, Thread, ThreadId, Timestamp};

use chat_threads_application::AppError;
use chat_threads_application::feed::Report;
use chat_threads_application::{NewMessage, SummaryStore};

#[derive(Debug, Default)]
struct State {
    threads: HashMap<ThreadId, Thread>,
    messages: HashMap<MessageId, Message>,
    summaries: Vec<Summary>,
    usage: HashMap<(String, String), chat_threads_application::usage::Usage>,
    /// Usage per (owner, day, model).
    model_usage: std::collections::BTreeMap<
        (String, String, String),
        chat_threads_application::usage::Usage,
    >,
    /// Who writes each streaming reply: (thread, instance).
    owners: HashMap<MessageId, (ThreadId, String)>,
    /// Earlier versions of messages edited in place, oldest first.
    revisions: HashMap<MessageId, Vec<chat_threads_application::messages::MessageRevision>>,
    /// Balances, holds and the ledger.
    balances: billing::Balances,
    /// Uploaded files.
    files: files::Files,
    /// Folders of threads.
    folders: HashMap<chat_threads_domain::FolderId, chat_threads_domain::Folder>,
    /// Share links.
    shares: Vec<chat_threads_application::shares::Share>,
    /// Members of threads.
    members: Vec<chat_threads_domain::Member>,
    /// Tombstones' hidden content, as they were before the delete (until restored or erased).
    trash: HashMap<MessageId, Message>,
    /// Tombstones whose content the sweeper erased.
    erased: HashSet<MessageId>,
    /// The audit log, oldest first.
    audit: Vec<chat_threads_application::audit::AuditEntry>,
    /// Retention policies.
    policies: Vec<chat_threads_application::retention::policies::Policy>,
    /// Legal holds.
    holds: Vec<chat_threads_application::retention::policies::Hold>,
    /// Erasure jobs.
    erasures: Vec<chat_threads_application::erasure::Erasure>,
    /// The change feed, oldest first, and the highest cursor retention removed.
    feed: Vec<chat_threads_application::feed::FeedEntry>,
    feed_floor: i64,
    /// Webhooks with their lease (holder, until), and their deliveries.
    webhooks: Vec<(
        chat_threads_application::webhooks::Webhook,
        Option<(String, chat_threads_domain::Timestamp)>,
    )>,
    deliveries: Vec<chat_threads_application::webhooks::Delivery>,
    /// Calls given whole: key -> (thread, reply).
    histories: HashMap<String, (ThreadId, MessageId)>,
}

impl State {
    /// A thread the scope may read.
    fn thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        include_deleted: bool,
    ) -> Result<&Thread, AppError> {
        self.threads
            .get(&id)
            .filter(|t| scope.can_read(t) && (include_deleted || !t.is_deleted()))
            .ok_or(AppError::ThreadNotFound)
    }

    /// Whether a reply of the thread streams, touched after `since` (the one-reply check).
    fn reply_running(&self, thread_id: ThreadId, since: chat_threads_domain::Timestamp) -> bool {
        self.messages.values().any(|m| {
            m.thread_id == thread_id
                && m.status == chat_threads_domain::MessageStatus::Streaming
                && m.updated_at > since
                && !m.is_deleted()
        })
    }

    /// A live thread the scope may change.
    fn own_thread(&self, scope: &Scope, id: ThreadId) -> Result<&Thread, AppError> {
        self.threads
            .get(&id)
            .filter(|t| scope.can_write(t) && !t.is_deleted())
            .ok_or(AppError::ThreadNotFound)
    }

    fn thread_mut(&mut self, scope: &Scope, id: ThreadId) -> Result<&mut Thread, AppError> {
        self.threads
            .get_mut(&id)
            .filter(|t| scope.can_write(t) && !t.is_deleted())
            .ok_or(AppError::ThreadNotFound)
    }

    /// A message of any of the owner's threads (how a parent is looked up).
    fn owned_message(&self, owner: &Owner, id: MessageId) -> Option<&Message> {
        self.messages.get(&id).filter(|m| {
            self.threads
                .get(&m.thread_id)
                .is_some_and(|t| &t.owner == owner)
        })
    }

    fn thread_messages(&self, thread_id: ThreadId) -> Vec<Message> {
        let mut v: Vec<Message> = self
            .messages
            .values()
            .filter(|m| m.thread_id == thread_id)
            .cloned()
            .collect();
        v.sort_by_key(|m| (m.created_at, m.id));
        v
    }

    fn insert_placed(&mut self, thread_id: ThreadId, msg: Message) -> Message {
        let at = msg.created_at;
        self.messages.insert(msg.id, msg.clone());
        if let Some(t) = self.threads.get_mut(&thread_id) {
            t.active_leaf_id = Some(msg.id);
            t.message_count += 1;
            t.last_message_at = Some(at);
            t.updated_at = at;
        }
        msg
    }

    /// Places a message by an anchor in the scope's live thread (the tree rules decide).
    fn place(
        &mut self,
        scope: &Scope,
        thread_id: ThreadId,
        anchor: chat_threads_application::Anchor,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        let thread = self.own_thread(scope, thread_id)?.clone();
        let placement = match anchor {
            chat_threads_application::Anchor::Append(parent) => {
                let found = parent
                    .or(thread.active_leaf_id)
                    .and_then(|id| self.owned_message(&scope.owner, id))
                    .cloned();
                tree::place_append(&thread, parent, found.as_ref())?
            }
            chat_threads_application::Anchor::SiblingOf(of) => {
                let original = self.owned_message(&scope.owner, of).cloned();
                tree::place_sibling(&thread, of, original.as_ref())?
            }
        };
        let msg = message.into_message(thread_id, placement.parent_id, placement.depth);
        Ok(self.insert_placed(thread_id, msg))
    }

    fn live_message_mut(
        &mut self,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<&mut Message, AppError> {
        self.messages
            .get_mut(&id)
            .filter(|m| m.thread_id == thread_id && !m.is_deleted())
            .ok_or(AppError::MessageNotFound)
    }
}

/// The in-memory store. Cloning shares the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    pub(crate) accounts: Arc<Mutex<accounts::Accounts>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes the threads of these owners and threads expired by `now`; how many.
    pub(crate) fn purge_threads(&self, owners: &[String], now: Timestamp) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let gone: HashSet<ThreadId> = s
            .threads
            .values()
            .filter(|t| {
                owners.contains(&t.owner.to_string()) || t.expires_at.is_some_and(|e| e <= now)
            })
            .map(|t| t.id)
            .collect();
        s.threads.retain(|id, _| !gone.contains(id));
        s.messages.retain(|_, m| !gone.contains(&m.thread_id));
        s.summaries.retain(|x| !gone.contains(&x.thread_id));
        s.members.retain(|x| !gone.contains(&x.thread_id));
        // An owner that goes (a session) takes its files along.
        s.files.forget_owners(owners);
        Ok(gone.len() as u64)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, AppError> {
        self.state
            .lock()
            .map_err(|_| AppError::internal("memory store poisoned"))
    }
}

fn matches_terms(haystack: &str, text: &str) -> bool {
    chat_threads_application::messages::contains_words(haystack, text)
}

impl SummaryStore for MemoryStore {
    async fn add_summary(
        &self,
        scope: &Scope,
        summary: Summary,
        report: Report<'_, Summary>,
    ) -> Result<Summary, AppError> {
        self.reporting(report, summary.created_at, |s| {
            s.own_thread(scope, summary.thread_id)?;
            let covered = s.messages.get(&summary.covers_message_id);
            if covered.is_none_or(|m| m.thread_id != summary.thread_id) {
                return Err(AppError::MessageNotFound);
            }
            s.summaries.push(summary.clone());
            Ok(summary)
        })
    }

    async fn list_summaries(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
    ) -> Result<Vec<Summary>, AppError> {
        let s = self.lock()?;
        s.thread(scope, thread_id, false)?;
        let mut v: Vec<Summary> = s
            .summaries
            .iter()
            .filter(|x| x.thread_id == thread_id)
            .cloned()
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(v)
    }
}

impl chat_threads_application::transfer::ImportStore for MemoryStore {
    async fn import_threads(
        &self,
        threads: Vec<chat_threads_application::transfer::ImportedThread>,
    ) -> Result<Vec<chat_threads_application::transfer::ImportOutcome>, AppError> {
        use chat_threads_application::transfer::ImportOutcome;
        let mut s = self.lock()?;
        let mut out = Vec::with_capacity(threads.len());
        for t in threads {
            let taken = t.thread.external_id.as_ref().is_some_and(|ext| {
                s.threads
                    .values()
                    .any(|x| x.owner == t.thread.owner && x.external_id.as_ref() == Some(ext))
            });
            if taken {
                out.push(ImportOutcome::Skipped {
                    source_id: t.source_id,
                    reason: "a thread with this external_id already exists".into(),
                });
                continue;
            }
            out.push(ImportOutcome::Imported {
                source_id: t.source_id,
                id: t.thread.id,
                messages: t.messages.len(),
            });
            let mut thread = t.thread;
            if thread
                .folder_id
                .is_some_and(|f| s.folders.get(&f).is_none_or(|f| f.owner != thread.owner))
            {
                thread.folder_id = None;
            }
            s.threads.insert(thread.id, thread);
            for m in t.messages {
                s.messages.insert(m.id, m);
            }
            s.summaries.extend(t.summaries);
        }
        Ok(out)
    }
}

impl chat_threads_application::usage::UsageStore for MemoryStore {
    async fn add_usage(
        &self,
        owner: &Owner,
        day: &str,
        model: &str,
        usage: chat_threads_application::usage::Usage,
        charge: Option<&chat_threads_application::billing::Charge>,
    ) -> Result<(), AppError> {
        let mut s = self.lock()?;
        if let Some(charge) = charge {
            s.debit(charge, model, usage);
        }
        let by_model = s
            .model_usage
            .entry((owner.to_string(), day.to_owned(), model.to_owned()))
            .or_default();
        by_model.prompt_tokens += usage.prompt_tokens;
        by_model.completion_tokens += usage.completion_tokens;
        let entry = s
            .usage
            .entry((owner.to_string(), day.to_owned()))
            .or_default();
        entry.prompt_tokens += usage.prompt_tokens;
        entry.completion_tokens += usage.completion_tokens;
        Ok(())
    }

    async fn usage_on(
        &self,
        owner: &Owner,
        day: &str,
    ) -> Result<chat_threads_application::usage::Usage, AppError> {
        let s = self.lock()?;
        Ok(s.usage
            .get(&(owner.to_string(), day.to_owned()))
            .copied()
            .unwrap_or_default())
    }

    async fn usage_by_model(
        &self,
        owner: &Owner,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<chat_threads_application::usage::ModelUsage>, AppError> {
        let s = self.lock()?;
        let owner = owner.to_string();
        Ok(s.model_usage
            .iter()
            .filter(|((o, d, _), _)| {
                *o == owner && d.as_str() >= first_day && d.as_str() <= last_day
            })
            .map(
                |((_, day, model), usage)| chat_threads_application::usage::ModelUsage {
                    day: day.clone(),
                    model: model.clone(),
                    usage: *usage,
                },
            )
            .collect())
    }
}
