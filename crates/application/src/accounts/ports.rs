//! What accounts and sessions need from the outside: token signing and verification, password
//! hashing, and storage of accounts, refresh tokens, sessions and secrets.

use std::future::Future;

use chat_threads_domain::{Metadata, OrgId, Principal, Timestamp};
use serde::Serialize;

use crate::error::{AppError, AuthError};

/// Verifies bearer tokens. Synchronous and object-safe: verification needs keys, not I/O.
pub trait TokenVerifier: Send + Sync + 'static {
    /// The principal a token stands for.
    fn verify(&self, token: &str) -> Result<Principal, AuthError>;
}

/// Signs tokens for principals this service vouches for (accounts, sessions, dev tokens).
pub trait TokenIssuer: Clone + Send + Sync + 'static {
    /// A signed access token for `principal`, valid until `expires_at`.
    fn issue(&self, principal: &Principal, expires_at: Timestamp) -> Result<String, AppError>;
}

/// Hashes and checks passwords (argon2id in production).
pub trait PasswordHasher: Clone + Send + Sync + 'static {
    /// A salted hash of the password. Slow on purpose: adapters run it off the request threads
    /// and may refuse with [`AppError::Overloaded`] when too many are waiting.
    fn hash(&self, password: &str) -> impl Future<Output = Result<String, AppError>> + Send;
    /// Whether the password matches the hash (same cost and refusal as `hash`).
    fn verify(
        &self,
        password: &str,
        hash: &str,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
}

/// A built-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Identity (the principal's subject).
    pub id: uuid::Uuid,
    /// Lowercased e-mail, unique.
    pub email: String,
    /// PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A stored refresh token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// Identity.
    pub id: uuid::Uuid,
    /// Whose.
    pub account_id: uuid::Uuid,
    /// Tokens rotated from one login share a family; reuse of a spent one revokes the family.
    pub family_id: uuid::Uuid,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Set once used (rotated) or logged out.
    pub revoked_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// An anonymous session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The session id (client-chosen or generated).
    pub id: String,
    /// A random key issued with the session and carried by its token: tokens of an earlier
    /// session under the same id do not match it. Empty for sessions stored before keys existed
    /// (their tokens carry none).
    pub key: String,
    /// The embedding site's own user id, if it has one.
    pub external_user_id: Option<String>,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// Creation time.
    pub created_at: Timestamp,
    /// When the session and its threads stop working and get purged.
    pub expires_at: Timestamp,
    /// The organization whose service principals and admins manage the session (and read its
    /// threads): the opener's, or `auth.sessions.org` for sessions opened without a token.
    pub org: Option<OrgId>,
}

impl Session {
    /// Whether the session still works at `now` (not expired; a deleted one is gone).
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

impl crate::paging::Weigh for Session {
    fn weigh(&self) -> usize {
        crate::paging::ITEM_OVERHEAD
            + self.id.len()
            + self.external_user_id.as_ref().map_or(0, String::len)
            + self.metadata.approx_bytes()
    }
}

/// Which sessions of an org to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// The org whose sessions are listed.
    pub org: OrgId,
    /// Only active (`true`) or only expired, not yet purged (`false`) sessions.
    pub is_active: Option<bool>,
    /// Only sessions with this external user id.
    pub external_user_id: Option<String>,
    /// Only sessions whose id or external user id contains this text (case-insensitive).
    pub search: Option<String>,
    /// The time `is_active` is judged at.
    pub now: Timestamp,
    /// Start after this position (exclusive).
    pub after: Option<SessionCursor>,
    /// At most this many.
    pub limit: u32,
}

/// A position in the session list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionCursor {
    /// Creation time of the last session seen.
    pub created_at: Timestamp,
    /// Its id.
    pub id: String,
}

/// Storage of accounts, refresh tokens, sessions and the service's own signing secret.
pub trait AuthStore: Clone + Send + Sync + 'static {
    /// Inserts an account; an e-mail already registered is [`AppError::Conflict`].
    fn insert_account(&self, account: Account)
    -> impl Future<Output = Result<(), AppError>> + Send;
    /// The account with this (lowercased) e-mail.
    fn find_account(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<Account>, AppError>> + Send;
    /// Stores a refresh token.
    fn insert_refresh(
        &self,
        token: RefreshToken,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Atomically marks the live token with this hash as used and returns it; `None` when no
    /// such token exists. A token already revoked is returned with `revoked_at` set (reuse).
    fn spend_refresh(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<RefreshToken>, AppError>> + Send;
    /// Revokes every token of a family.
    fn revoke_family(
        &self,
        family_id: uuid::Uuid,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Inserts a session; an id already in use is [`AppError::Conflict`].
    fn insert_session(&self, session: Session)
    -> impl Future<Output = Result<(), AppError>> + Send;
    /// The session with this id, expired or not.
    fn find_session(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Session>, AppError>> + Send;
    /// Sessions of an org, newest first (created_at, then id, both descending).
    fn list_sessions(
        &self,
        query: SessionQuery,
    ) -> impl Future<Output = Result<Vec<Session>, AppError>> + Send;
    /// Deletes a session with its threads (and so their messages) in one transaction.
    /// Returns whether it existed and how many threads went with it.
    fn delete_session(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<u64>, AppError>> + Send;
    /// Deletes expired sessions with their threads, and threads past their own expiry.
    /// Returns (sessions, threads) deleted.
    fn purge_expired(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<(u64, u64), AppError>> + Send;
    /// The stored value of a named secret, creating it from `generate` if absent (the first
    /// writer wins when several instances start at once).
    fn secret_or_insert(
        &self,
        name: &str,
        generate: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<String, AppError>> + Send;
}
