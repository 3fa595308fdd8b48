//! The in-memory store's audit log.

use chat_threads_application::AppError;
use chat_threads_application::audit::{AuditEntry, AuditQuery, AuditStore};
use chat_threads_domain::{OrgId, Timestamp};

use super::MemoryStore;

impl AuditStore for MemoryStore {
    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditEntry, AppError> {
        let mut s = self.lock()?;
        let seq = s.audit.last().map_or(1, |e| e.seq + 1);
        let entry = AuditEntry { seq, ..entry };
        s.audit.push(entry.clone());
        Ok(entry)
    }

    async fn list_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let s = self.lock()?;
        Ok(s.audit
            .iter()
            .rev()
            .filter(|e| e.org_id.is_none() || e.org_id.as_ref() == Some(org))
            .filter(|e| query.action.is_none_or(|a| e.action == a))
            .filter(|e| query.actor.as_ref().is_none_or(|a| &e.actor == a))
            .filter(|e| query.thread_id.is_none_or(|t| e.thread_id == Some(t)))
            .filter(|e| before.is_none_or(|b| e.seq < b))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn purge_audit(&self, cutoff: Timestamp, batch: u32) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let old = s
            .audit
            .iter()
            .take_while(|e| e.at < cutoff)
            .count()
            .min(batch as usize);
        s.audit.drain(..old);
        Ok(old as u64)
    }
}
