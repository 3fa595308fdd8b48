//! The in-memory store's accounts, sessions, secrets and idempotency keys, and readiness: enough
//! to run the whole API in-process over memory.

use std::collections::HashMap;

use chat_threads_application::AppError;
use chat_threads_application::accounts::{Account, AuthStore, RefreshToken, Session, SessionQuery};
use chat_threads_application::idempotency::{Begin, IdempotencyStore, StoredResponse};
use chat_threads_domain::{Owner, Timestamp};

use super::MemoryStore;

#[derive(Debug, Default)]
pub(crate) struct Accounts {
    accounts: HashMap<String, Account>,
    refresh: HashMap<String, RefreshToken>,
    sessions: HashMap<String, Session>,
    secrets: HashMap<String, String>,
    keys: HashMap<(String, String), Key>,
}

#[derive(Debug)]
struct Key {
    request_hash: String,
    response: Option<StoredResponse>,
    expires_at: Timestamp,
    claimed_at: Timestamp,
}

impl MemoryStore {
    fn accounts(&self) -> Result<std::sync::MutexGuard<'_, Accounts>, AppError> {
        self.accounts
            .lock()
            .map_err(|_| AppError::internal("memory store poisoned"))
    }
}

impl AuthStore for MemoryStore {
    async fn insert_account(&self, account: Account) -> Result<(), AppError> {
        let mut a = self.accounts()?;
        if a.accounts.contains_key(&account.email) {
            return Err(AppError::Conflict("the e-mail is registered".into()));
        }
        a.accounts.insert(account.email.clone(), account);
        Ok(())
    }

    async fn find_account(&self, email: &str) -> Result<Option<Account>, AppError> {
        Ok(self.accounts()?.accounts.get(email).cloned())
    }

    async fn insert_refresh(&self, token: RefreshToken) -> Result<(), AppError> {
        self.accounts()?
            .refresh
            .insert(token.token_hash.clone(), token);
        Ok(())
    }

    async fn spend_refresh(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<RefreshToken>, AppError> {
        let mut a = self.accounts()?;
        let Some(t) = a.refresh.get_mut(token_hash) else {
            return Ok(None);
        };
        let was = t.clone();
        if t.revoked_at.is_none() {
            t.revoked_at = Some(now);
        }
        Ok(Some(was))
    }

    async fn revoke_family(&self, family_id: uuid::Uuid, now: Timestamp) -> Result<(), AppError> {
        for t in self.accounts()?.refresh.values_mut() {
            if t.family_id == family_id && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
            }
        }
        Ok(())
    }

    async fn insert_session(&self, session: Session) -> Result<(), AppError> {
        let mut a = self.accounts()?;
        if a.sessions.contains_key(&session.id) {
            return Err(AppError::Conflict("session_id is taken".into()));
        }
        a.sessions.insert(session.id.clone(), session);
        Ok(())
    }

    async fn find_session(&self, id: &str) -> Result<Option<Session>, AppError> {
        Ok(self.accounts()?.sessions.get(id).cloned())
    }

    async fn list_sessions(&self, q: SessionQuery) -> Result<Vec<Session>, AppError> {
        let a = self.accounts()?;
        let search = q.search.as_ref().map(|t| t.to_lowercase());
        let mut found: Vec<Session> = a
            .sessions
            .values()
            .filter(|s| s.org.as_ref() == Some(&q.org))
            .filter(|s| {
                q.is_active
                    .is_none_or(|active| s.is_active(q.now) == active)
            })
            .filter(|s| {
                q.external_user_id
                    .as_ref()
                    .is_none_or(|e| s.external_user_id.as_ref() == Some(e))
            })
            .filter(|s| {
                search.as_ref().is_none_or(|t| {
                    s.id.to_lowercase().contains(t)
                        || s.external_user_id
                            .as_ref()
                            .is_some_and(|e| e.to_lowercase().contains(t))
                })
            })
            .filter(|s| {
                q.after
                    .as_ref()
                    .is_none_or(|c| (s.created_at, &s.id) < (c.created_at, &c.id))
            })
            .cloned()
            .collect();
        found.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
        found.truncate(q.limit as usize);
        Ok(found)
    }

    async fn delete_session(&self, id: &str) -> Result<Option<u64>, AppError> {
        if self.accounts()?.sessions.remove(id).is_none() {
            return Ok(None);
        }
        // Only the session's threads: no thread's own expiry is before the start of time.
        let threads = self.purge_threads(
            &[format!("anon:{id}")],
            chrono::DateTime::<chrono::Utc>::MIN_UTC,
        )?;
        Ok(Some(threads))
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<(u64, u64), AppError> {
        let expired: Vec<String> = {
            let mut a = self.accounts()?;
            let ids: Vec<String> = a
                .sessions
                .values()
                .filter(|s| s.expires_at <= now)
                .map(|s| s.id.clone())
                .collect();
            a.sessions.retain(|_, s| s.expires_at > now);
            ids
        };
        let owners: Vec<String> = expired.iter().map(|id| format!("anon:{id}")).collect();
        let threads = self.purge_threads(&owners, now)?;
        Ok((expired.len() as u64, threads))
    }

    async fn secret_or_insert(
        &self,
        name: &str,
        generate: String,
        _now: Timestamp,
    ) -> Result<String, AppError> {
        Ok(self
            .accounts()?
            .secrets
            .entry(name.to_owned())
            .or_insert(generate)
            .clone())
    }
}

impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        owner: &Owner,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
        abandoned_before: Timestamp,
    ) -> Result<Begin, AppError> {
        let mut a = self.accounts()?;
        let id = (owner.to_string(), key.to_owned());
        match a.keys.get(&id) {
            Some(k)
                if k.expires_at > now
                    && (k.response.is_some() || k.claimed_at > abandoned_before) =>
            {
                Ok(if k.request_hash != request_hash {
                    Begin::Mismatch
                } else {
                    k.response.clone().map_or(Begin::InProgress, Begin::Replay)
                })
            }
            _ => {
                a.keys.insert(
                    id,
                    Key {
                        request_hash: request_hash.to_owned(),
                        response: None,
                        expires_at,
                        claimed_at: now,
                    },
                );
                Ok(Begin::Fresh)
            }
        }
    }

    async fn complete(
        &self,
        owner: &Owner,
        key: &str,
        response: StoredResponse,
    ) -> Result<(), AppError> {
        if let Some(k) = self
            .accounts()?
            .keys
            .get_mut(&(owner.to_string(), key.to_owned()))
        {
            k.response = Some(response);
        }
        Ok(())
    }

    async fn abandon(&self, owner: &Owner, key: &str) -> Result<(), AppError> {
        self.accounts()?
            .keys
            .remove(&(owner.to_string(), key.to_owned()));
        Ok(())
    }

    async fn purge_idempotency(&self, now: Timestamp) -> Result<u64, AppError> {
        let mut a = self.accounts()?;
        let before = a.keys.len();
        a.keys.retain(|_, k| k.expires_at > now);
        Ok((before - a.keys.len()) as u64)
    }
}

impl chat_threads_application::Readiness for MemoryStore {
    async fn check(&self) -> Result<(), AppError> {
        self.accounts().map(|_| ())
    }
}
