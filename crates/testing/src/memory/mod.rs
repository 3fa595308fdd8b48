//! An in-memory implementation of the storage ports, for unit tests and as the reference the
//! contract suite is checked against. It applies the same domain tree rules as the SQL stores.
//! Test code: one file per port would only add indirection to a reference implementation.

mod accounts;
mod billing;
mod files;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chat_threads_domain::tree;
use chat_threads_domain::{
    Feedback, Message, MessageId, Owner, Reaction, Scope, Summary, Thread, ThreadId, Timestamp,
};

use chat_threads_application::AppError;
use chat_threads_application::{
    Branch, DeleteOutcome, DeletedFilter, ForkMode, MessageCursor, MessageFilter, MessageStore,
    NewMessage, SearchHit, SummaryStore, ThreadPatch, ThreadQuery, ThreadStore,
};

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
        // An owner that goes (a session) takes its files along.
        s.files.forget_owners(owners);
        Ok(gone.len() as u64)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, AppError> {
        self.state
            .lock()
            .map_err(|_| AppError::Storage("memory store poisoned".into()))
    }
}

fn matches_terms(haystack: &str, text: &str) -> bool {
    chat_threads_application::messages::contains_words(haystack, text)
}

fn snippet(content: &str, text: &str) -> String {
    let lower = content.to_lowercase();
    let Some(term) = text.split_whitespace().next().map(str::to_lowercase) else {
        return content.chars().take(64).collect();
    };
    match lower.find(&term) {
        // Lowercasing can change byte lengths; fall back to a plain excerpt when it does.
        Some(pos) if lower.len() == content.len() && content.is_char_boundary(pos + term.len()) => {
            let end = pos + term.len();
            format!(
                "{}[{}]{}",
                &content[..pos],
                &content[pos..end],
                &content[end..]
            )
        }
        _ => content.chars().take(64).collect(),
    }
}

impl ThreadStore for MemoryStore {
    async fn insert_thread(&self, thread: Thread) -> Result<Thread, AppError> {
        let mut s = self.lock()?;
        if let Some(ext) = &thread.external_id {
            let taken = s
                .threads
                .values()
                .any(|t| t.owner == thread.owner && t.external_id.as_ref() == Some(ext));
            if taken {
                return Err(AppError::Conflict(
                    "external_id already used by this owner".into(),
                ));
            }
        }
        s.threads.insert(thread.id, thread.clone());
        Ok(thread)
    }

    async fn get_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        include_deleted: bool,
    ) -> Result<Thread, AppError> {
        self.lock()?.thread(scope, id, include_deleted).cloned()
    }

    async fn list_threads(&self, q: &ThreadQuery) -> Result<Vec<Thread>, AppError> {
        let s = self.lock()?;
        let mut v: Vec<Thread> = s
            .threads
            .values()
            .filter(|t| q.scope.can_read(t))
            .filter(|t| q.org_id.is_none() || t.org_id == q.org_id)
            .filter(|t| q.product.is_none() || t.product == q.product)
            .filter(|t| q.status.is_none_or(|st| t.status == st))
            .filter(|t| q.document_id.is_none() || t.document_id == q.document_id)
            .filter(|t| q.external_id.is_none() || t.external_id == q.external_id)
            .filter(|t| match q.deleted {
                DeletedFilter::Exclude => !t.is_deleted(),
                DeletedFilter::Include => true,
                DeletedFilter::Only => t.is_deleted(),
            })
            .filter(|t| {
                q.text
                    .as_deref()
                    .is_none_or(|text| matches_terms(t.title.as_str(), text))
            })
            .filter(|t| {
                q.after
                    .is_none_or(|c| (t.updated_at, t.id) < (c.updated_at, c.id))
            })
            .cloned()
            .collect();
        v.sort_by_key(|t| std::cmp::Reverse((t.updated_at, t.id)));
        v.truncate(q.limit as usize);
        Ok(v)
    }

    async fn update_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        patch: ThreadPatch,
        now: Timestamp,
    ) -> Result<Thread, AppError> {
        let mut s = self.lock()?;
        let t = s.thread_mut(scope, id)?;
        if let Some(title) = patch.title {
            t.title = title;
        }
        if let Some(status) = patch.status {
            t.status = status;
        }
        if let Some(metadata) = patch.metadata {
            t.metadata = metadata;
        }
        if let Some(p) = patch.system_prompt {
            t.system_prompt = p;
        }
        if let Some(m) = patch.model {
            t.model = m;
        }
        t.updated_at = now;
        Ok(t.clone())
    }

    async fn set_thread_deleted(
        &self,
        scope: &Scope,
        id: ThreadId,
        deleted_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Thread, AppError> {
        let mut s = self.lock()?;
        let t = s
            .threads
            .get_mut(&id)
            .filter(|t| scope.can_write(t))
            .ok_or(AppError::ThreadNotFound)?;
        t.deleted_at = deleted_at;
        t.updated_at = now;
        Ok(t.clone())
    }

    async fn purge_thread(&self, scope: &Scope, id: ThreadId) -> Result<(), AppError> {
        let mut s = self.lock()?;
        s.threads
            .get(&id)
            .filter(|t| scope.can_write(t))
            .ok_or(AppError::ThreadNotFound)?;
        s.threads.remove(&id);
        s.messages.retain(|_, m| m.thread_id != id);
        s.summaries.retain(|x| x.thread_id != id);
        Ok(())
    }
}

impl chat_threads_application::SearchStore for MemoryStore {
    async fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, AppError> {
        let s = self.lock()?;
        let mut hits: Vec<SearchHit> = s
            .messages
            .values()
            .filter(|m| !m.is_deleted() && matches_terms(m.content.as_str(), text))
            .filter(|m| after.is_none_or(|c| (m.created_at, m.id) < (c.created_at, c.id)))
            .filter_map(|m| {
                let t = s
                    .threads
                    .get(&m.thread_id)
                    .filter(|t| t.owner == scope.owner && !t.is_deleted())?;
                Some(SearchHit {
                    thread_id: t.id,
                    thread_title: t.title.to_string(),
                    message_id: m.id,
                    role: m.role,
                    snippet: snippet(m.content.as_str(), text),
                    created_at: m.created_at,
                })
            })
            .collect();
        hits.sort_by_key(|h| std::cmp::Reverse((h.created_at, h.message_id)));
        hits.truncate(limit as usize);
        Ok(hits)
    }
}

impl MessageStore for MemoryStore {
    async fn append_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        self.lock()?.place(
            scope,
            thread_id,
            chat_threads_application::Anchor::Append(parent),
            message,
        )
    }

    async fn add_sibling(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        of: MessageId,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        self.lock()?.place(
            scope,
            thread_id,
            chat_threads_application::Anchor::SiblingOf(of),
            message,
        )
    }

    async fn get_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let s = self.lock()?;
        s.thread(scope, thread_id, false)?;
        s.messages
            .get(&id)
            .filter(|m| m.thread_id == thread_id)
            .cloned()
            .ok_or(AppError::MessageNotFound)
    }

    async fn delete_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
    ) -> Result<DeleteOutcome, AppError> {
        let mut s = self.lock()?;
        let thread = s.own_thread(scope, thread_id)?.clone();
        let target = s.live_message_mut(thread_id, id)?.clone();
        let all = s.thread_messages(thread_id);
        let removed: HashSet<MessageId> = tree::subtree(id, &all)
            .into_iter()
            .filter(|m| s.messages.get(m).is_some_and(|m| !m.is_deleted()))
            .collect();
        for m in &removed {
            if let Some(msg) = s.messages.get_mut(m) {
                msg.deleted_at = Some(now);
                msg.updated_at = now;
            }
        }
        let remaining = s.thread_messages(thread_id);
        let newest_leaf = tree::leaves(&remaining).first().map(|m| m.id);
        let leaf =
            tree::active_leaf_after_delete(thread.active_leaf_id, &target, &removed, newest_leaf);
        let t = s.thread_mut(scope, thread_id)?;
        t.active_leaf_id = leaf;
        t.message_count -= removed.len() as i64;
        t.updated_at = now;
        Ok(DeleteOutcome {
            deleted: removed.len() as u64,
            active_leaf_id: leaf,
        })
    }

    async fn active_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, AppError> {
        let s = self.lock()?;
        let thread = s.thread(scope, thread_id, false)?;
        let start = match before {
            Some(b) => {
                let m = s
                    .messages
                    .get(&b)
                    .filter(|m| m.thread_id == thread_id)
                    .ok_or(AppError::InvalidCursor)?;
                m.parent_id
            }
            None => thread.active_leaf_id,
        };
        let Some(start) = start else {
            return Ok(Vec::new());
        };
        let by_id: HashMap<MessageId, Message> = s
            .thread_messages(thread_id)
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut path = tree::path_to(start, &by_id);
        let skip = path.len().saturating_sub(limit as usize);
        path.drain(..skip);
        Ok(path)
    }

    async fn list_tree(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        after: Option<MessageCursor>,
        limit: u32,
        filter: &MessageFilter,
    ) -> Result<Vec<Message>, AppError> {
        let s = self.lock()?;
        s.thread(scope, thread_id, false)?;
        let mut v: Vec<Message> = s
            .thread_messages(thread_id)
            .into_iter()
            .filter(|m| after.is_none_or(|c| (m.created_at, m.id) > (c.created_at, c.id)))
            .filter(|m| filter.role.is_none_or(|r| m.role == r))
            .filter(|m| {
                filter
                    .text
                    .as_deref()
                    .is_none_or(|t| matches_terms(m.content.as_str(), t))
            })
            .collect();
        v.truncate(limit as usize);
        Ok(v)
    }

    async fn branches(&self, scope: &Scope, thread_id: ThreadId) -> Result<Vec<Branch>, AppError> {
        let s = self.lock()?;
        let active = s.thread(scope, thread_id, false)?.active_leaf_id;
        let all = s.thread_messages(thread_id);
        Ok(tree::leaves(&all)
            .into_iter()
            .map(|m| Branch {
                leaf: m.clone(),
                active: Some(m.id) == active,
            })
            .collect())
    }

    async fn set_active_leaf(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        leaf: MessageId,
        now: Timestamp,
    ) -> Result<Thread, AppError> {
        let mut s = self.lock()?;
        let thread = s.own_thread(scope, thread_id)?.clone();
        let target = s.owned_message(&scope.owner, leaf).cloned();
        tree::check_active_leaf(&thread, leaf, target.as_ref())?;
        let t = s.thread_mut(scope, thread_id)?;
        t.active_leaf_id = Some(leaf);
        t.updated_at = now;
        Ok(t.clone())
    }

    async fn fork(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        at: MessageId,
        mode: ForkMode,
        mut new_thread: Thread,
    ) -> Result<Thread, AppError> {
        let mut s = self.lock()?;
        let thread = s.own_thread(scope, thread_id)?.clone();
        let target = s.owned_message(&scope.owner, at).cloned();
        tree::check_fork_point(&thread, at, target.as_ref())?;
        let all = s.thread_messages(thread_id);
        let by_id: HashMap<MessageId, Message> = all.iter().map(|m| (m.id, m.clone())).collect();
        let mut source = tree::path_to(at, &by_id);
        if mode == ForkMode::PathAndBranches {
            let below = tree::subtree(at, &all);
            let mut extra: Vec<Message> = all
                .iter()
                .filter(|m| m.id != at && below.contains(&m.id) && !m.is_deleted())
                .cloned()
                .collect();
            extra.sort_by_key(|m| (m.depth, m.created_at, m.id));
            source.extend(extra);
        }
        let (copies, map) = tree::copy_messages(&source, new_thread.id, new_thread.created_at);
        new_thread.active_leaf_id = map.get(&at).copied();
        new_thread.message_count = copies.len() as i64;
        new_thread.last_message_at = copies.last().map(|m| m.created_at);
        s.threads.insert(new_thread.id, new_thread.clone());
        for m in copies {
            s.messages.insert(m.id, m);
        }
        Ok(new_thread)
    }

    async fn set_feedback(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        feedback: Option<Feedback>,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let mut s = self.lock()?;
        s.own_thread(scope, thread_id)?;
        let m = s.live_message_mut(thread_id, id)?;
        m.feedback = feedback;
        m.updated_at = now;
        Ok(m.clone())
    }

    async fn revise_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        revision: chat_threads_application::messages::Revision,
    ) -> Result<Message, AppError> {
        let mut s = self.lock()?;
        s.own_thread(scope, thread_id)?;
        let current = s.live_message_mut(thread_id, id)?.clone();
        chat_threads_application::messages::check_revisable(&current, revision.from_version)?;
        s.revisions.entry(id).or_default().push(
            chat_threads_application::messages::MessageRevision::replaced(&current, revision.at),
        );
        let m = s.live_message_mut(thread_id, id)?;
        m.content = revision.content;
        m.display_text = revision.display_text;
        m.metadata = revision.metadata;
        m.version += 1;
        m.edited_at = Some(revision.at);
        m.updated_at = revision.at;
        Ok(m.clone())
    }

    async fn message_revisions(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        after_version: Option<i32>,
        limit: u32,
    ) -> Result<Vec<chat_threads_application::messages::MessageRevision>, AppError> {
        let s = self.lock()?;
        s.thread(scope, thread_id, false)?;
        if !s
            .messages
            .get(&id)
            .is_some_and(|m| m.thread_id == thread_id && !m.is_deleted())
        {
            return Err(AppError::MessageNotFound);
        }
        Ok(s.revisions
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|r| after_version.is_none_or(|a| r.version > a))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn tombstone_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
    ) -> Result<DeleteOutcome, AppError> {
        let mut s = self.lock()?;
        let outcome = DeleteOutcome {
            deleted: 1,
            active_leaf_id: s.own_thread(scope, thread_id)?.active_leaf_id,
        };
        let current = s.live_message_mut(thread_id, id)?.clone();
        if !chat_threads_application::messages::tombstone_wanted(&current)? {
            return Ok(outcome);
        }
        s.revisions.remove(&id);
        let m = s.live_message_mut(thread_id, id)?;
        m.content = chat_threads_domain::Content::from_stored(String::new());
        m.display_text = None;
        m.metadata = chat_threads_domain::Metadata::default();
        m.feedback = None;
        m.reaction = None;
        m.tombstoned_at = Some(now);
        m.attachments.clear();
        m.updated_at = now;
        if let Some(t) = s.threads.get_mut(&thread_id) {
            t.updated_at = now;
        }
        Ok(outcome)
    }

    async fn set_reaction(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        reaction: Option<Reaction>,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let mut s = self.lock()?;
        s.own_thread(scope, thread_id)?;
        let m = s.live_message_mut(thread_id, id)?;
        m.reaction = reaction;
        m.updated_at = now;
        Ok(m.clone())
    }
}

impl SummaryStore for MemoryStore {
    async fn add_summary(&self, scope: &Scope, summary: Summary) -> Result<Summary, AppError> {
        let mut s = self.lock()?;
        s.own_thread(scope, summary.thread_id)?;
        let covered = s.messages.get(&summary.covers_message_id);
        if covered.is_none_or(|m| m.thread_id != summary.thread_id) {
            return Err(AppError::MessageNotFound);
        }
        s.summaries.push(summary.clone());
        Ok(summary)
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
            s.threads.insert(t.thread.id, t.thread);
            for m in t.messages {
                s.messages.insert(m.id, m);
            }
            s.summaries.extend(t.summaries);
        }
        Ok(out)
    }
}

impl chat_threads_application::replies::ReplyStore for MemoryStore {
    async fn update_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        content: &str,
        status: chat_threads_domain::MessageStatus,
        usage: Option<chat_threads_application::usage::Usage>,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let mut s = self.lock()?;
        let m = s
            .messages
            .get_mut(&id)
            .filter(|m| m.thread_id == thread_id)
            .ok_or(AppError::MessageNotFound)?;
        m.content = chat_threads_domain::Content::from_stored(content.to_owned());
        m.status = status;
        m.prompt_tokens = usage.map(|u| i32::try_from(u.prompt_tokens).unwrap_or(i32::MAX));
        m.completion_tokens = usage.map(|u| i32::try_from(u.completion_tokens).unwrap_or(i32::MAX));
        m.updated_at = now;
        let out = m.clone();
        if status != chat_threads_domain::MessageStatus::Streaming {
            s.owners.remove(&id);
            if let Some(t) = s.threads.get_mut(&thread_id) {
                t.updated_at = now;
            }
        }
        Ok(out)
    }

    async fn begin_reply(
        &self,
        instance: &str,
        scope: &Scope,
        thread_id: ThreadId,
        start: chat_threads_application::replies::ReplyStart,
    ) -> Result<(Option<Message>, Message), AppError> {
        let chat_threads_application::replies::ReplyStart {
            busy_since,
            user,
            reply,
            hold,
        } = start;
        let mut s = self.lock()?;
        s.own_thread(scope, thread_id)?;
        let busy = s.messages.values().any(|m| {
            m.thread_id == thread_id
                && m.status == chat_threads_domain::MessageStatus::Streaming
                && m.updated_at > busy_since
                && !m.is_deleted()
        });
        if busy {
            return Err(AppError::GenerationInProgress);
        }
        // Validate both placements before writing either, so a refusal stores nothing.
        let snapshot = (s.threads.clone(), s.messages.clone());
        let result = (|| {
            let user = user
                .map(|(anchor, m)| s.place(scope, thread_id, anchor, m))
                .transpose()?;
            let anchor = reply.0.unwrap_or(chat_threads_application::Anchor::Append(
                user.as_ref().map(|u| u.id),
            ));
            let reply = s.place(scope, thread_id, anchor, reply.1)?;
            if let Some(hold) = &hold {
                s.place_hold(hold, reply.id)?;
            }
            Ok((user, reply))
        })();
        match &result {
            Ok((_, reply)) => {
                s.owners.insert(reply.id, (thread_id, instance.to_owned()));
            }
            Err(_) => (s.threads, s.messages) = snapshot,
        }
        result
    }

    async fn orphaned_replies(
        &self,
        me: &str,
        thread_id: Option<ThreadId>,
    ) -> Result<Vec<(ThreadId, MessageId)>, AppError> {
        // One process: every writer but `me` is gone.
        let s = self.lock()?;
        Ok(s.owners
            .iter()
            .filter(|(id, (t, who))| {
                who != me
                    && thread_id.is_none_or(|x| x == *t)
                    && s.messages
                        .get(id)
                        .is_some_and(|m| m.status == chat_threads_domain::MessageStatus::Streaming)
            })
            .map(|(id, (t, _))| (*t, *id))
            .collect())
    }

    async fn release_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        status: chat_threads_domain::MessageStatus,
        now: Timestamp,
    ) -> Result<Option<Message>, AppError> {
        let mut s = self.lock()?;
        s.owners.remove(&id);
        let Some(m) = s.messages.get_mut(&id).filter(|m| {
            m.thread_id == thread_id && m.status == chat_threads_domain::MessageStatus::Streaming
        }) else {
            return Ok(None);
        };
        m.status = status;
        m.updated_at = now;
        Ok(Some(m.clone()))
    }

    async fn recover_stale(&self, before: Timestamp) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let mut n = 0;
        for m in s.messages.values_mut() {
            if m.status == chat_threads_domain::MessageStatus::Streaming && m.updated_at < before {
                m.status = chat_threads_domain::MessageStatus::Failed;
                n += 1;
            }
        }
        Ok(n)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snippet_marks_the_first_term() {
        assert_eq!(snippet("Hello World", "world"), "Hello [World]");
        assert_eq!(snippet("no match here", "zebra"), "no match here");
    }
}
