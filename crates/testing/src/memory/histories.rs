//! The in-memory store's calls given whole (application/src/replies/history.rs).

use chat_threads_application::AppError;
use chat_threads_application::replies::HistoryStore;
use chat_threads_domain::{MessageId, ThreadId};

use super::MemoryStore;

impl HistoryStore for MemoryStore {
    async fn remember_history(
        &self,
        key: &str,
        thread_id: ThreadId,
        reply: MessageId,
    ) -> Result<(), AppError> {
        let mut s = self.lock()?;
        if s.messages
            .get(&reply)
            .is_some_and(|m| m.thread_id == thread_id)
        {
            s.histories.insert(key.to_owned(), (thread_id, reply));
        }
        Ok(())
    }

    async fn find_history(&self, key: &str) -> Result<Option<(ThreadId, MessageId)>, AppError> {
        let s = self.lock()?;
        // Gone with the reply, as the database's foreign keys make it.
        Ok(s.histories.get(key).copied().filter(|(thread_id, reply)| {
            s.threads.contains_key(thread_id) && s.messages.contains_key(reply)
        }))
    }
}
