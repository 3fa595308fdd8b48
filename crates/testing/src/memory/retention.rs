//! The in-memory store's sweeper.

use chat_threads_application::AppError;
use chat_threads_application::retention::{RetentionStore, Swept};
use chat_threads_domain::{MessageId, ThreadId, Timestamp};

use super::MemoryStore;

/// Whether the thread is under a legal hold (the restore window's sweep leaves it alone).
fn thread_held(s: &super::State, id: ThreadId) -> bool {
    s.threads
        .get(&id)
        .is_some_and(|t| super::policies::held(s, t))
}

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
            .filter(|m| !thread_held(&s, m.thread_id))
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
            .filter(|m| !thread_held(&s, m.thread_id))
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
            .filter(|t| !super::policies::held(&s, t))
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
