//! The in-memory store's streamed replies: starting one (with its user message and hold),
//! updating it, and the replies whose writer is gone.

use chat_threads_domain::{Message, MessageId, Scope, ThreadId, Timestamp};

use chat_threads_application::AppError;
use chat_threads_application::feed::{Report, created_entry};

use super::MemoryStore;

impl chat_threads_application::replies::ReplyStore for MemoryStore {
    async fn set_reply_metadata(
        &self,
        thread_id: chat_threads_domain::ThreadId,
        id: chat_threads_domain::MessageId,
        metadata: serde_json::Value,
    ) -> Result<(), AppError> {
        let mut s = self.lock()?;
        let m = s
            .messages
            .get_mut(&id)
            .filter(|m| m.thread_id == thread_id)
            .ok_or(AppError::MessageNotFound)?;
        if let serde_json::Value::Object(map) = metadata {
            m.metadata = chat_threads_domain::Metadata::from_stored(map);
        }
        Ok(())
    }

    async fn update_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        update: chat_threads_application::replies::ReplyUpdate<'_>,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let chat_threads_application::replies::ReplyUpdate {
            content,
            parts,
            status,
            usage,
            entry,
        } = update;
        let mut s = self.lock()?;
        let m = s
            .messages
            .get_mut(&id)
            .filter(|m| m.thread_id == thread_id)
            .ok_or(AppError::MessageNotFound)?;
        m.content = chat_threads_domain::Content::from_stored(content.to_owned());
        m.status = status;
        m.parts = parts.to_vec();
        m.prompt_tokens = usage.map(|u| i32::try_from(u.prompt_tokens).unwrap_or(i32::MAX));
        m.completion_tokens = usage.map(|u| i32::try_from(u.completion_tokens).unwrap_or(i32::MAX));
        m.updated_at = now;
        let out = m.clone();
        if status != chat_threads_domain::MessageStatus::Streaming {
            s.owners.remove(&id);
            if let Some(t) = s.threads.get_mut(&thread_id) {
                t.updated_at = now;
            }
            if let Some(entry) = entry {
                s.keep(entry);
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
        if s.reply_running(thread_id, busy_since) {
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
                s.place_hold(hold, reply.id.as_uuid(), None)?;
            }
            Ok((user, reply))
        })();
        match &result {
            Ok((user, reply)) => {
                s.owners.insert(reply.id, (thread_id, instance.to_owned()));
                // The reply's log numbers the user message 1 and the placeholder after it.
                for (seq, m) in (1..).zip(user.iter().chain([reply])) {
                    s.keep(&created_entry(m, Some((reply.id, seq))));
                }
            }
            Err(_) => (s.threads, s.messages) = snapshot,
        }
        result
    }

    async fn running_replies(&self, thread_id: ThreadId) -> Result<Vec<MessageId>, AppError> {
        let s = self.lock()?;
        Ok(s.owners
            .iter()
            .filter(|(id, (t, _))| {
                *t == thread_id
                    && s.messages
                        .get(id)
                        .is_some_and(|m| m.status == chat_threads_domain::MessageStatus::Streaming)
            })
            .map(|(id, _)| *id)
            .collect())
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
        report: Report<'_, Option<Message>>,
    ) -> Result<Option<Message>, AppError> {
        self.reporting(report, now, |s| {
            s.owners.remove(&id);
            let Some(m) = s.messages.get_mut(&id).filter(|m| {
                m.thread_id == thread_id
                    && m.status == chat_threads_domain::MessageStatus::Streaming
            }) else {
                return Ok(None);
            };
            m.status = status;
            m.updated_at = now;
            Ok(Some(m.clone()))
        })
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
