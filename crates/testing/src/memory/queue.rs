//! The in-memory store's queued follow-ups.

use chat_threads_application::AppError;
use chat_threads_application::feed::Report;
use chat_threads_application::replies::QueueStore;
use chat_threads_application::{Anchor, NewMessage};
use chat_threads_domain::{Message, MessageId, MessageStatus, Scope, ThreadId, Timestamp};

use super::{MemoryStore, State};

impl State {
    /// The thread's queued messages, oldest first.
    fn queued(&self, thread_id: ThreadId) -> Vec<Message> {
        let mut q: Vec<Message> = self
            .messages
            .values()
            .filter(|m| {
                m.thread_id == thread_id && m.status == MessageStatus::Queued && !m.is_deleted()
            })
            .cloned()
            .collect();
        q.sort_by_key(|m| (m.created_at, m.id));
        q
    }
}

impl QueueStore for MemoryStore {
    async fn queue_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        reply: MessageId,
        message: NewMessage,
        report: Report<'_, Option<Message>>,
    ) -> Result<Option<Message>, AppError> {
        self.reporting(report, chrono::Utc::now(), |s| {
            s.own_thread(scope, thread_id)?;
            let streaming = s
                .messages
                .get(&reply)
                .is_some_and(|r| r.thread_id == thread_id && r.status == MessageStatus::Streaming);
            if !streaming {
                return Ok(None);
            }
            s.place(scope, thread_id, Anchor::Append(Some(reply)), message)
                .map(Some)
        })
    }

    async fn first_queued(&self, thread_id: ThreadId) -> Result<Option<Message>, AppError> {
        Ok(self.lock()?.queued(thread_id).into_iter().next())
    }

    async fn start_queued(
        &self,
        instance: &str,
        scope: &Scope,
        thread_id: ThreadId,
        queued: MessageId,
        busy_since: Timestamp,
        reply: NewMessage,
        report: Report<'_, Option<(Message, Message)>>,
    ) -> Result<Option<(Message, Message)>, AppError> {
        self.reporting(report, chrono::Utc::now(), |s| {
            s.own_thread(scope, thread_id)?;
            let busy = s.reply_running(thread_id, busy_since);
            let waiting = s
                .messages
                .get(&queued)
                .is_some_and(|q| q.status == MessageStatus::Queued && !q.is_deleted());
            if busy || !waiting {
                return Ok(None);
            }
            let now = reply.created_at;
            let user = {
                let Some(q) = s.messages.get_mut(&queued) else {
                    return Ok(None);
                };
                q.status = MessageStatus::Complete;
                q.updated_at = now;
                q.clone()
            };
            let placed = s.place(scope, thread_id, Anchor::Append(Some(queued)), reply)?;
            let others: Vec<MessageId> = s.queued(thread_id).iter().map(|m| m.id).collect();
            for id in &others {
                if let Some(m) = s.messages.get_mut(id) {
                    m.parent_id = Some(placed.id);
                    m.depth = placed.depth + 1;
                }
            }
            if let Some(newest) = others.last()
                && let Some(t) = s.threads.get_mut(&thread_id)
            {
                t.active_leaf_id = Some(*newest);
            }
            s.owners.insert(placed.id, (thread_id, instance.to_owned()));
            // The placeholder opens the reply's log (1).
            s.keep(&chat_threads_application::feed::created_entry(
                &placed,
                Some((placed.id, 1)),
            ));
            Ok(Some((user, placed)))
        })
    }

    async fn end_queued(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        status: MessageStatus,
        now: Timestamp,
        report: Report<'_, Option<Message>>,
    ) -> Result<Option<Message>, AppError> {
        self.reporting(report, now, |s| {
            let ended = match s.messages.get_mut(&id) {
                Some(m) if m.thread_id == thread_id && m.status == MessageStatus::Queued => {
                    m.status = status;
                    m.updated_at = now;
                    m.clone()
                }
                _ => return Ok(None),
            };
            let next_leaf = s.queued(thread_id).last().map(|m| m.id).or(ended.parent_id);
            if let Some(t) = s.threads.get_mut(&thread_id)
                && t.active_leaf_id == Some(id)
            {
                t.active_leaf_id = next_leaf;
            }
            Ok(Some(ended))
        })
    }

    async fn stalled_queues(&self) -> Result<Vec<ThreadId>, AppError> {
        let s = self.lock()?;
        let mut threads: Vec<ThreadId> = s
            .messages
            .values()
            .filter(|m| m.status == MessageStatus::Queued && !m.is_deleted())
            .map(|m| m.thread_id)
            .collect();
        threads.sort_by_key(|t| t.as_uuid());
        threads.dedup();
        threads.retain(|t| {
            !s.messages
                .values()
                .any(|m| m.thread_id == *t && m.status == MessageStatus::Streaming)
        });
        Ok(threads)
    }
}
