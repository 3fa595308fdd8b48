//! The in-memory store's share links.

use chat_threads_application::AppError;
use chat_threads_application::shares::{Share, ShareStore};
use chat_threads_domain::ThreadId;

use super::MemoryStore;

impl ShareStore for MemoryStore {
    async fn insert_share(&self, share: Share) -> Result<Share, AppError> {
        let mut s = self.lock()?;
        if !s.threads.contains_key(&share.thread_id) {
            return Err(AppError::ThreadNotFound);
        }
        s.shares.push(share.clone());
        Ok(share)
    }

    async fn get_share(&self, id: &str) -> Result<Option<Share>, AppError> {
        let s = self.lock()?;
        // A purged thread takes its shares with it.
        Ok(s.shares
            .iter()
            .find(|x| x.id == id && s.threads.contains_key(&x.thread_id))
            .cloned())
    }

    async fn list_shares(&self, thread_id: ThreadId) -> Result<Vec<Share>, AppError> {
        let s = self.lock()?;
        let mut v: Vec<Share> = s
            .shares
            .iter()
            .filter(|x| x.thread_id == thread_id)
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }

    async fn refresh_share(&self, share: Share) -> Result<Share, AppError> {
        let mut s = self.lock()?;
        let stored = s
            .shares
            .iter_mut()
            .find(|x| x.id == share.id)
            .ok_or(AppError::ShareNotFound)?;
        stored.title = share.title.clone();
        stored.snapshot = share.snapshot.clone();
        stored.updated_at = share.updated_at;
        Ok(share)
    }

    async fn delete_share(&self, thread_id: ThreadId, id: &str) -> Result<bool, AppError> {
        let mut s = self.lock()?;
        let before = s.shares.len();
        s.shares
            .retain(|x| !(x.id == id && x.thread_id == thread_id));
        Ok(s.shares.len() < before)
    }
}
