//! The in-memory store's erasure jobs.

use chat_threads_application::AppError;
use chat_threads_application::erasure::{Erasure, ErasureCounts, ErasureStatus, ErasureStore};

use super::MemoryStore;

impl ErasureStore for MemoryStore {
    async fn start_erasure(&self, e: Erasure) -> Result<Erasure, AppError> {
        let mut s = self.lock()?;
        if let Some(running) = s.erasures.iter().find(|x| {
            x.principal == e.principal && x.org_id == e.org_id && x.status == ErasureStatus::Running
        }) {
            return Ok(running.clone());
        }
        s.erasures.push(e.clone());
        Ok(e)
    }

    async fn get_erasure(&self, id: &str) -> Result<Option<Erasure>, AppError> {
        Ok(self.lock()?.erasures.iter().find(|e| e.id == id).cloned())
    }

    async fn stalled_erasures(
        &self,
        before: chat_threads_domain::Timestamp,
    ) -> Result<Vec<Erasure>, AppError> {
        Ok(self
            .lock()?
            .erasures
            .iter()
            .filter(|e| e.status == ErasureStatus::Running && e.updated_at < before)
            .cloned()
            .collect())
    }

    async fn erasure_held(&self, e: &Erasure) -> Result<bool, AppError> {
        let s = self.lock()?;
        let in_scope = |org: Option<&chat_threads_domain::OrgId>| {
            e.org_id.is_none() || org == e.org_id.as_ref()
        };
        Ok(s.holds.iter().any(|h| {
            (h.principal.as_ref() == Some(&e.principal) && in_scope(Some(&h.org_id)))
                || h.thread_id.is_some_and(|t| {
                    s.threads
                        .get(&t)
                        .is_some_and(|t| t.owner == e.principal && in_scope(t.org_id.as_ref()))
                })
        }))
    }

    async fn erase_batch(
        &self,
        e: &Erasure,
        batch: u32,
    ) -> Result<(ErasureCounts, bool), AppError> {
        let mut s = self.lock()?;
        let in_scope = |t: &chat_threads_domain::Thread| e.org_id.is_none() || t.org_id == e.org_id;
        let mine: Vec<_> = s
            .threads
            .values()
            .filter(|t| t.owner == e.principal && in_scope(t))
            .map(|t| t.id)
            .take(batch as usize)
            .collect();
        if !mine.is_empty() {
            for id in &mine {
                s.threads.remove(id);
                s.messages.retain(|_, m| m.thread_id != *id);
                s.summaries.retain(|x| x.thread_id != *id);
                s.members.retain(|x| x.thread_id != *id);
            }
            let counts = ErasureCounts {
                threads: mine.len() as u64,
                ..ErasureCounts::default()
            };
            return Ok((counts, false));
        }
        let mut c = ErasureCounts::default();
        let scoped: Vec<_> = s
            .threads
            .values()
            .filter(|t| in_scope(t))
            .map(|t| t.id)
            .collect();
        // Their threads' change feed entries and the deliveries made of them; their webhooks.
        let owner = e.principal.as_str().to_owned();
        let fed: Vec<_> = s
            .feed
            .iter()
            .filter(|f| f.owner == owner && (e.org_id.is_none() || f.org_id == e.org_id))
            .map(|f| f.thread_id)
            .collect();
        s.deliveries.retain(|d| !fed.contains(&d.thread_id));
        s.feed
            .retain(|f| !(f.owner == owner && (e.org_id.is_none() || f.org_id == e.org_id)));
        let hooks: Vec<uuid::Uuid> = s
            .webhooks
            .iter()
            .filter(|(h, _)| {
                h.scope == chat_threads_application::feed::FeedScope::Owner(owner.clone())
            })
            .map(|(h, _)| h.id)
            .collect();
        s.deliveries.retain(|d| !hooks.contains(&d.webhook_id));
        s.webhooks.retain(|(h, _)| !hooks.contains(&h.id));
        let before = s.members.len();
        s.members
            .retain(|m| !(m.principal == e.principal && scoped.contains(&m.thread_id)));
        c.memberships = (before - s.members.len()) as u64;
        for m in s.messages.values_mut() {
            if scoped.contains(&m.thread_id)
                && m.author
                    .as_ref()
                    .is_some_and(|a| a.id == e.principal.as_str())
            {
                m.author = Some(chat_threads_domain::Author {
                    id: "erased".into(),
                    name: None,
                });
                c.authored_messages += 1;
            }
        }
        Ok((c, true))
    }

    async fn save_erasure(&self, e: &Erasure) -> Result<(), AppError> {
        let mut s = self.lock()?;
        if let Some(x) = s.erasures.iter_mut().find(|x| x.id == e.id) {
            *x = e.clone();
        }
        Ok(())
    }
}
