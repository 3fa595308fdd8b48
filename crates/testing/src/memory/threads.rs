//! The in-memory store's threads: create, read, list, update, delete and purge.

use chat_threads_application::feed::Report;
use chat_threads_domain::{Scope, Thread, ThreadId, Timestamp};

use chat_threads_application::AppError;
use chat_threads_application::{DeletedFilter, ThreadPatch, ThreadQuery, ThreadStore};

use super::{MemoryStore, matches_terms};

impl ThreadStore for MemoryStore {
    async fn insert_thread(&self, thread: Thread) -> Result<Thread, AppError> {
        let mut s = self.lock()?;
        if let Some(folder) = thread.folder_id {
            s.own_folder(&thread.owner, folder)?;
        }
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
            .filter(|t| match &q.shared_with {
                Some(member) => s
                    .members
                    .iter()
                    .any(|m| m.thread_id == t.id && &m.principal == member),
                None => q.scope.can_read(t),
            })
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
            .filter(|t| q.tag.as_ref().is_none_or(|tag| t.tags.contains(tag)))
            .filter(|t| q.folder_id.is_none() || t.folder_id == q.folder_id)
            .filter(|t| q.pinned.is_none_or(|p| t.pinned == p))
            .filter(|t| {
                q.creator_email.is_none()
                    || t.creator_email.as_deref() == q.creator_email.as_deref()
            })
            .filter(|t| q.include_temporary || !t.temporary)
            .filter(|t| {
                q.after
                    .is_none_or(|c| (t.pinned, t.updated_at, t.id) < (c.pinned, c.updated_at, c.id))
            })
            .cloned()
            .collect();
        v.sort_by_key(|t| std::cmp::Reverse((t.pinned, t.updated_at, t.id)));
        v.truncate(q.limit as usize);
        Ok(v)
    }

    async fn update_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        patch: ThreadPatch,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> Result<Thread, AppError> {
        self.reporting(report, now, |s| {
            if let Some(Some(folder)) = patch.folder_id {
                s.own_thread(scope, id)?;
                s.own_folder(&scope.owner, folder)?;
            }
            let only_organizes = patch.only_organizes();
            let t = s.thread_mut(scope, id)?;
            if let Some(tags) = patch.tags {
                t.tags = tags;
            }
            if let Some(folder) = patch.folder_id {
                t.folder_id = folder;
            }
            if let Some(pinned) = patch.pinned {
                t.pinned = pinned;
            }
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
            if !only_organizes {
                t.updated_at = now;
            }
            let t = t.clone();
            Ok(t)
        })
    }

    async fn set_generated_title(
        &self,
        scope: &Scope,
        id: ThreadId,
        title: chat_threads_domain::Title,
        replace: bool,
        report: Report<'_, Option<Thread>>,
    ) -> Result<Option<Thread>, AppError> {
        self.reporting(report, chrono::Utc::now(), |s| {
            let t = s.thread_mut(scope, id)?;
            if !replace && !t.title.as_str().is_empty() {
                return Ok(None);
            }
            t.title = title;
            let t = Some(t.clone());
            Ok(t)
        })
    }

    async fn set_thread_deleted(
        &self,
        scope: &Scope,
        id: ThreadId,
        deleted_at: Option<Timestamp>,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> Result<Thread, AppError> {
        self.reporting(report, now, |s| {
            let t = s
                .threads
                .get_mut(&id)
                .filter(|t| scope.can_write(t))
                .ok_or(AppError::ThreadNotFound)?;
            t.deleted_at = deleted_at;
            t.updated_at = now;
            let t = t.clone();
            Ok(t)
        })
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
        s.members.retain(|x| x.thread_id != id);
        Ok(())
    }
}
