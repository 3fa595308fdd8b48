//! The in-memory store's retention policies and legal holds.

use chat_threads_application::AppError;
use chat_threads_application::retention::policies::{Hold, Policy, PolicyOutcome, PolicyStore};
use chat_threads_domain::{OrgId, ProductName, Thread, ThreadId, Timestamp};

use super::{MemoryStore, State};

/// Whether a policy governs a thread: its organization and product (the default policy: a
/// product without its own), and no legal hold on it or on its owner in the organization.
fn governs(s: &State, p: &Policy, t: &Thread) -> bool {
    let product_ok = match &p.product {
        Some(x) => t.product.as_ref() == Some(x),
        None => t.product.as_ref().is_none_or(|x| {
            !s.policies
                .iter()
                .any(|q| q.org_id == p.org_id && q.product.as_ref() == Some(x))
        }),
    };
    t.org_id.as_ref() == Some(&p.org_id) && product_ok && !held(s, t)
}

pub(super) fn held(s: &State, t: &Thread) -> bool {
    s.holds.iter().any(|h| {
        h.thread_id == Some(t.id)
            || (h.principal.as_ref() == Some(&t.owner) && t.org_id.as_ref() == Some(&h.org_id))
    })
}

impl PolicyStore for MemoryStore {
    async fn put_policy(&self, p: Policy) -> Result<Policy, AppError> {
        let mut s = self.lock()?;
        s.policies
            .retain(|q| !(q.org_id == p.org_id && q.product == p.product));
        s.policies.push(p.clone());
        Ok(p)
    }

    async fn list_policies(&self, org: Option<&OrgId>) -> Result<Vec<Policy>, AppError> {
        let s = self.lock()?;
        Ok(s.policies
            .iter()
            .filter(|p| org.is_none_or(|o| &p.org_id == o))
            .cloned()
            .collect())
    }

    async fn delete_policy(
        &self,
        org: &OrgId,
        product: Option<&ProductName>,
    ) -> Result<bool, AppError> {
        let mut s = self.lock()?;
        let before = s.policies.len();
        s.policies
            .retain(|q| !(&q.org_id == org && q.product.as_ref() == product));
        Ok(s.policies.len() < before)
    }

    async fn add_hold(&self, h: Hold) -> Result<Hold, AppError> {
        let mut s = self.lock()?;
        if let Some(t) = h.thread_id
            && !s
                .threads
                .get(&t)
                .is_some_and(|t| t.org_id.as_ref() == Some(&h.org_id))
        {
            return Err(AppError::ThreadNotFound);
        }
        s.holds.push(h.clone());
        Ok(h)
    }

    async fn list_holds(&self, org: &OrgId) -> Result<Vec<Hold>, AppError> {
        let s = self.lock()?;
        Ok(s.holds
            .iter()
            .filter(|h| &h.org_id == org)
            .cloned()
            .collect())
    }

    async fn remove_hold(&self, org: &OrgId, id: &str) -> Result<bool, AppError> {
        let mut s = self.lock()?;
        let before = s.holds.len();
        s.holds.retain(|h| !(&h.org_id == org && h.id == id));
        Ok(s.holds.len() < before)
    }

    async fn apply_policy(
        &self,
        p: &Policy,
        now: Timestamp,
        batch: u32,
        dry_run: bool,
    ) -> Result<PolicyOutcome, AppError> {
        let mut s = self.lock()?;
        let limit = if dry_run { usize::MAX } else { batch as usize };
        let mut out = PolicyOutcome::default();
        if let Some(days) = p.delete_inactive_days {
            let cutoff = now - chrono::TimeDelta::days(i64::from(days));
            let mut ids: Vec<ThreadId> = s
                .threads
                .values()
                .filter(|t| governs(&s, p, t))
                .filter(|t| !t.is_deleted() && !t.pinned && t.updated_at < cutoff)
                .map(|t| t.id)
                .collect();
            ids.truncate(limit);
            out.threads_deleted = ids.len() as u64;
            out.sample = ids.iter().take(100).copied().collect();
            if !dry_run {
                for id in &ids {
                    if let Some(t) = s.threads.get_mut(id) {
                        t.deleted_at = Some(now);
                    }
                }
            }
        }
        if let Some(days) = p.erase_deleted_days {
            let cutoff = now - chrono::TimeDelta::days(i64::from(days));
            let scope: Vec<ThreadId> = s
                .threads
                .values()
                .filter(|t| governs(&s, p, t))
                .map(|t| t.id)
                .collect();
            let threads: Vec<ThreadId> = scope
                .iter()
                .filter(|id| s.threads[id].deleted_at.is_some_and(|d| d < cutoff))
                .copied()
                .take(limit)
                .collect();
            let messages: Vec<_> = s
                .messages
                .values()
                .filter(|m| {
                    scope.contains(&m.thread_id) && m.deleted_at.is_some_and(|d| d < cutoff)
                })
                .map(|m| m.id)
                .take(limit)
                .collect();
            let tombs: Vec<_> = s
                .messages
                .values()
                .filter(|m| {
                    scope.contains(&m.thread_id)
                        && m.tombstoned_at.is_some_and(|d| d < cutoff)
                        && !s.erased.contains(&m.id)
                })
                .map(|m| m.id)
                .take(limit)
                .collect();
            out.forgotten = (threads.len() + messages.len() + tombs.len()) as u64;
            if !dry_run {
                for id in &threads {
                    s.threads.remove(id);
                    s.messages.retain(|_, m| m.thread_id != *id);
                }
                for id in &messages {
                    s.messages.remove(id);
                }
                for id in &tombs {
                    s.trash.remove(id);
                    s.revisions.remove(id);
                    s.erased.insert(*id);
                }
            }
        }
        Ok(out)
    }
}
