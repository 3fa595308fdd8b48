//! The in-memory store's sweeper.

use chat_threads_application::AppError;
use chat_threads_application::retention::{RetentionStore, Swept};
use chat_threads_domain::{MessageId, ThreadId, Timestamp};

use super::MemoryStore;

impl RetentionStore for MemoryStore {
    async fn sweep_deleted(
        &self,
        cutoff: Timestamp,
        _now: Timestamp,
        batch: u32,
    ) -> Result<Swept, AppError> {
        let mut s = self.lock()?;
        let batch = batch as usize;
        let mut erase: Vec<MessageId> = s
            .messages
            .values()
            .filter(|m| m.tombstoned_at.is_some_and(|t| t < cutoff) && !s.erased.contains(&m.id))
            .map(|m| m.id)
            .collect();
        erase.truncate(batch);
        for id in &erase {
            s.trash.remove(id);
            s.revisions.remove(id);
            s.erased.insert(*id);
        }
        let mut gone: Vec<MessageId> = s
            .messages
            .values()
            .filter(|m| m.deleted_at.is_some_and(|t| t < cutoff))
            .map(|m| m.id)
            .collect();
        gone.truncate(batch);
        for id in &gone {
            s.messages.remove(id);
            s.trash.remove(id);
            s.revisions.remove(id);
        }
        let mut threads: Vec<ThreadId> = s
            .threads
            .values()
            .filter(|t| t.deleted_at.is_some_and(|d| d < cutoff))
            .map(|t| t.id)
            .collect();
        threads.truncate(batch);
        for id in &threads {
            s.threads.remove(id);
            s.messages.retain(|_, m| m.thread_id != *id);
            s.summaries.retain(|x| x.thread_id != *id);
            s.members.retain(|x| x.thread_id != *id);
        }
        Ok(Swept {
            erased: erase.len() as u64,
            messages: gone.len() as u64,
            threads: threads.len() as u64,
        })
    }
}
