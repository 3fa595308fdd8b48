//! The in-memory store's message tree: appends, siblings, the active path, branches, forks,
//! judgements, edits in place and deletes. The domain tree rules decide; this only stores.

use std::collections::{HashMap, HashSet};

use chat_threads_domain::tree;
use chat_threads_domain::{
    Feedback, Message, MessageId, Reaction, Scope, Thread, ThreadId, Timestamp,
};

use chat_threads_application::AppError;
use chat_threads_application::feed::{Report, created_entry};
use chat_threads_application::messages::{PathStamp, RestoreOutcome};
use chat_threads_application::{
    Branch, DeleteOutcome, DeletedFilter, ForkMode, MessageCursor, MessageFilter, MessageStore,
    NewMessage,
};

use super::{MemoryStore, matches_terms};

impl MessageStore for MemoryStore {
    async fn append_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        let mut s = self.lock()?;
        let placed = s.place(
            scope,
            thread_id,
            chat_threads_application::Anchor::Append(parent),
            message,
        )?;
        s.keep(&created_entry(&placed, None));
        Ok(placed)
    }

    async fn add_sibling(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        of: MessageId,
        message: NewMessage,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        self.reporting(report, message.created_at, |s| {
            let placed = s.place(
                scope,
                thread_id,
                chat_threads_application::Anchor::SiblingOf(of),
                message,
            )?;
            Ok(placed)
        })
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
        report: Report<'_, DeleteOutcome>,
    ) -> Result<DeleteOutcome, AppError> {
        self.reporting(report, now, |s| {
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
            let leaf = tree::active_leaf_after_delete(
                thread.active_leaf_id,
                &target,
                &removed,
                newest_leaf,
            );
            let t = s.thread_mut(scope, thread_id)?;
            t.active_leaf_id = leaf;
            t.message_count -= removed.len() as i64;
            t.updated_at = now;
            Ok(DeleteOutcome {
                deleted: removed.len() as u64,
                active_leaf_id: leaf,
            })
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

    async fn stamped_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> Result<(Vec<Message>, Option<PathStamp>), AppError> {
        let path = self.active_path(scope, thread_id, None, limit).await?;
        let stamp = stamp_of(&path);
        Ok((path, stamp))
    }

    async fn path_stamp(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> Result<Option<PathStamp>, AppError> {
        match self.active_path(scope, thread_id, None, limit).await {
            Ok(path) => Ok(stamp_of(&path)),
            Err(AppError::ThreadNotFound) => Ok(None),
            Err(e) => Err(e),
        }
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
            .filter(|m| match filter.deleted {
                None | Some(DeletedFilter::Include) => true,
                Some(DeletedFilter::Exclude) => !m.is_deleted(),
                Some(DeletedFilter::Only) => m.is_deleted(),
            })
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
        report: Report<'_, Thread>,
    ) -> Result<Thread, AppError> {
        self.reporting(report, now, |s| {
            let thread = s.own_thread(scope, thread_id)?.clone();
            let target = s.owned_message(&scope.owner, leaf).cloned();
            tree::check_active_leaf(&thread, leaf, target.as_ref())?;
            let t = s.thread_mut(scope, thread_id)?;
            t.active_leaf_id = Some(leaf);
            t.updated_at = now;
            Ok(t.clone())
        })
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
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        self.reporting(report, now, |s| {
            s.own_thread(scope, thread_id)?;
            let m = s.live_message_mut(thread_id, id)?;
            m.feedback = feedback;
            m.updated_at = now;
            Ok(m.clone())
        })
    }

    async fn revise_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        revision: chat_threads_application::messages::Revision,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        self.reporting(report, revision.at, |s| {
            s.own_thread(scope, thread_id)?;
            let current = s.live_message_mut(thread_id, id)?.clone();
            chat_threads_application::messages::check_revisable(&current, revision.from_version)?;
            s.revisions.entry(id).or_default().push(
                chat_threads_application::messages::MessageRevision::replaced(
                    &current,
                    revision.at,
                ),
            );
            let m = s.live_message_mut(thread_id, id)?;
            m.content = revision.content;
            m.display_text = revision.display_text;
            m.metadata = revision.metadata;
            m.version += 1;
            m.edited_at = Some(revision.at);
            m.updated_at = revision.at;
            Ok(m.clone())
        })
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
            .is_some_and(|m| m.thread_id == thread_id && !m.is_deleted() && !m.is_tombstone())
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

    async fn restore_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, RestoreOutcome>,
    ) -> Result<RestoreOutcome, AppError> {
        self.reporting(report, now, |s| {
            let thread = s.own_thread(scope, thread_id)?.clone();
            let target = s
                .messages
                .get(&id)
                .filter(|m| m.thread_id == thread_id)
                .cloned()
                .ok_or(AppError::MessageNotFound)?;
            let mut restored = 0;
            let mut leaf = thread.active_leaf_id;
            if let Some(at) = target.deleted_at {
                if let Some(p) = target.parent_id
                    && s.messages.get(&p).is_some_and(Message::is_deleted)
                {
                    return Err(AppError::NotRestorable(
                        "its parent is deleted too: restore that first".into(),
                    ));
                }
                // The message and the descendants deleted with it (at the same instant).
                let mut back = vec![id];
                let mut i = 0;
                while i < back.len() {
                    let here = back[i];
                    back.extend(
                        s.messages
                            .values()
                            .filter(|m| m.parent_id == Some(here) && m.deleted_at == Some(at))
                            .map(|m| m.id),
                    );
                    i += 1;
                }
                for m in &back {
                    if let Some(msg) = s.messages.get_mut(m) {
                        msg.deleted_at = None;
                        msg.updated_at = now;
                    }
                }
                restored = back.len() as u64;
                if thread.active_leaf_id == target.parent_id {
                    let live = s.thread_messages(thread_id);
                    let below: HashSet<MessageId> = tree::subtree(id, &live).into_iter().collect();
                    leaf = tree::leaves(&live)
                        .into_iter()
                        .find(|m| m.id == id || below.contains(&m.id))
                        .map(|m| m.id)
                        .or(leaf);
                }
                let t = s.thread_mut(scope, thread_id)?;
                t.active_leaf_id = leaf;
                t.message_count += restored as i64;
                t.updated_at = now;
            } else if target.is_tombstone() {
                if s.erased.contains(&id) {
                    return Err(AppError::NotRestorable(
                        "the restore window has passed: its content was erased".into(),
                    ));
                }
                let kept = s.trash.remove(&id).unwrap_or_else(|| target.clone());
                if let Some(m) = s.messages.get_mut(&id) {
                    *m = Message {
                        tombstoned_at: None,
                        updated_at: now,
                        deleted_at: m.deleted_at,
                        ..kept
                    };
                }
                if let Some(t) = s.threads.get_mut(&thread_id) {
                    t.updated_at = now;
                }
                restored = 1;
            }
            let message = s
                .messages
                .get(&id)
                .cloned()
                .ok_or(AppError::MessageNotFound)?;
            Ok(RestoreOutcome {
                message,
                restored,
                active_leaf_id: leaf,
            })
        })
    }

    async fn tombstone_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, DeleteOutcome>,
    ) -> Result<DeleteOutcome, AppError> {
        self.reporting(report, now, |s| {
            let outcome = DeleteOutcome {
                deleted: 1,
                active_leaf_id: s.own_thread(scope, thread_id)?.active_leaf_id,
            };
            let current = s.live_message_mut(thread_id, id)?.clone();
            if !chat_threads_application::messages::tombstone_wanted(&current)? {
                return Ok(outcome);
            }
            // The content is kept aside until a restore or the sweeper's erasure.
            s.trash.insert(id, current.clone());
            let m = s.live_message_mut(thread_id, id)?;
            *m = Message {
                tombstoned_at: Some(now),
                updated_at: now,
                ..current.hidden()
            };
            if let Some(t) = s.threads.get_mut(&thread_id) {
                t.updated_at = now;
            }
            Ok(outcome)
        })
    }

    async fn set_reaction(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        reaction: Option<Reaction>,
        now: Timestamp,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        self.reporting(report, now, |s| {
            s.own_thread(scope, thread_id)?;
            let m = s.live_message_mut(thread_id, id)?;
            m.reaction = reaction;
            m.updated_at = now;
            Ok(m.clone())
        })
    }
}

/// A path's stamp here: a digest of all its messages hold, leaf and path included (the
/// database's stamps use the thread row's version instead).
fn stamp_of(path: &[Message]) -> Option<PathStamp> {
    use std::hash::{Hash, Hasher};
    (!path.is_empty()).then(|| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{path:?}").hash(&mut h);
        PathStamp::new(h.finish() as i64)
    })
}
