//! The in-memory store's thread members.

use chat_threads_application::AppError;
use chat_threads_application::feed::Report;
use chat_threads_application::members::MemberStore;
use chat_threads_domain::{Member, Owner, ThreadAccess, ThreadId};

use super::MemoryStore;

impl MemberStore for MemoryStore {
    async fn thread_access(
        &self,
        thread_id: ThreadId,
        principal: &Owner,
    ) -> Result<Option<ThreadAccess>, AppError> {
        let s = self.lock()?;
        Ok(s.threads.get(&thread_id).map(|t| ThreadAccess {
            owner: t.owner.clone(),
            role: s
                .members
                .iter()
                .find(|m| m.thread_id == thread_id && &m.principal == principal)
                .map(|m| m.role),
        }))
    }

    async fn put_member(
        &self,
        owner: &Owner,
        member: Member,
        report: Report<'_, (Member, bool)>,
    ) -> Result<(Member, bool), AppError> {
        self.reporting(report, member.added_at, |s| {
            s.threads
                .get(&member.thread_id)
                .filter(|t| &t.owner == owner && !t.is_deleted())
                .ok_or(AppError::ThreadNotFound)?;
            let existing = s
                .members
                .iter_mut()
                .find(|m| m.thread_id == member.thread_id && m.principal == member.principal);
            let out = match existing {
                Some(m) => {
                    *m = member.clone();
                    (member, false)
                }
                None => {
                    s.members.push(member.clone());
                    (member, true)
                }
            };
            Ok(out)
        })
    }

    async fn remove_member(
        &self,
        owner: &Owner,
        thread_id: ThreadId,
        principal: &Owner,
        report: Report<'_, bool>,
    ) -> Result<bool, AppError> {
        self.reporting(report, chrono::Utc::now(), |s| {
            s.threads
                .get(&thread_id)
                .filter(|t| &t.owner == owner)
                .ok_or(AppError::ThreadNotFound)?;
            let before = s.members.len();
            s.members
                .retain(|m| !(m.thread_id == thread_id && &m.principal == principal));
            let removed = s.members.len() < before;
            Ok(removed)
        })
    }

    async fn list_members(&self, thread_id: ThreadId) -> Result<Vec<Member>, AppError> {
        let s = self.lock()?;
        let mut v: Vec<Member> = s
            .members
            .iter()
            .filter(|m| m.thread_id == thread_id)
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            (a.added_at, a.principal.as_str()).cmp(&(b.added_at, b.principal.as_str()))
        });
        Ok(v)
    }
}
