//! Accounts and sessions: verifying bearer tokens, built-in accounts with rotating refresh
//! tokens, and anonymous sessions for public widgets.

use chat_threads_domain::{Metadata, OrgId, Principal, PrincipalKind, Timestamp};
use serde::Serialize;

mod ports;

pub use crate::error::AuthError;
pub use ports::{
    Account, AuthStore, PasswordHasher, RefreshToken, Session, SessionCursor, SessionQuery,
    TokenIssuer, TokenVerifier,
};

use crate::error::AppError;
use crate::system::Clock;

/// Tokens handed out at login or refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// Short-lived bearer token.
    pub access_token: String,
    /// Always "Bearer".
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use token that buys the next pair.
    pub refresh_token: String,
}

/// `[auth.accounts]` as configured: the configuration deserializes into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Built-in accounts on or off.
    pub enabled: bool,
    /// Access token lifetime, seconds.
    pub access_ttl_secs: i64,
    /// Refresh token lifetime, seconds.
    pub refresh_ttl_secs: i64,
    /// Password hashes computed at once (0: one less than the cores, at least one).
    pub hash_concurrency: usize,
    /// Password checks that may wait for a slot; more are refused with 503.
    pub hash_queue: usize,
}

/// `[auth.sessions]` as configured: the configuration deserializes into it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Anonymous sessions on or off.
    pub enabled: bool,
    /// Session lifetime when the client names none, seconds.
    pub default_ttl_secs: i64,
    /// Longest session lifetime a client may ask for, seconds.
    pub max_ttl_secs: i64,
    /// How often expired sessions are purged, seconds.
    pub purge_interval_secs: u64,
    /// The organization of sessions opened without a token (empty: none).
    pub org: String,
}

/// Account and session settings: the two sections, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Built-in accounts.
    pub accounts: AccountSettings,
    /// Anonymous sessions.
    pub sessions: SessionSettings,
}

/// Password rules: 10 to 128 characters, not only one repeated character, not the e-mail.
pub fn check_password(email: &str, password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    let bad =
        |reason: &str| Err(chat_threads_domain::DomainError::invalid("password", reason).into());
    if n < 10 {
        return bad("must be at least 10 characters");
    }
    if n > 128 {
        return bad("must be at most 128 characters");
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return bad("must not be one repeated character");
    }
    if password.eq_ignore_ascii_case(email) {
        return bad("must not be the e-mail address");
    }
    Ok(())
}

/// Normalizes and checks an e-mail address (one `@`, a dot in the domain, no spaces, ≤ 254).
pub fn normalize_email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim().to_lowercase();
    // Counted as sent, as the OpenAPI maxLength states it.
    let ok = raw.chars().count() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if !ok {
        return Err(chat_threads_domain::DomainError::invalid(
            "email",
            "is not a valid e-mail address",
        )
        .into());
    }
    Ok(email)
}

/// SHA-256 of a refresh token, hex — what is stored instead of the token.
pub fn hash_refresh_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes, base64url: refresh tokens, generated secrets, session ids.
pub fn random_token() -> Result<String, AppError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal_from("no randomness", e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Built-in accounts and anonymous sessions.
#[derive(Debug, Clone)]
pub struct AuthService<S, H, I, C> {
    store: S,
    hasher: H,
    issuer: I,
    clock: C,
    policy: AuthPolicy,
    limits: chat_threads_domain::Limits,
    session_org: Option<OrgId>,
}

/// Which sessions to list (`GET /v1/sessions`).
#[derive(Debug, Clone, Default)]
pub struct ListSessions {
    /// Only active or only expired sessions.
    pub is_active: Option<bool>,
    /// Only this external user id.
    pub external_user_id: Option<String>,
    /// Text the session id or external user id contains.
    pub search: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// Input to open an anonymous session.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// Client-chosen id (1-128 of `A-Za-z0-9_-.`); generated when absent.
    pub session_id: Option<String>,
    /// The embedding site's user id.
    pub external_user_id: Option<String>,
    /// Metadata object.
    pub metadata: Option<serde_json::Value>,
    /// Lifetime in seconds (default and maximum from the policy).
    pub ttl_secs: Option<i64>,
    /// Absolute end instead of `ttl_secs` (within the same bounds).
    pub expires_at: Option<Timestamp>,
}

/// A new session and the token that reaches its threads.
#[derive(Debug, Clone, Serialize)]
pub struct SessionGrant {
    /// The session.
    pub session: Session,
    /// Bearer token for the session, expiring with it.
    pub token: String,
}

fn disabled(what: &str) -> AppError {
    AppError::Forbidden(format!("{what} are disabled on this server"))
}

impl<S: AuthStore + crate::audit::AuditStore, H: PasswordHasher, I: TokenIssuer, C: Clock>
    AuthService<S, H, I, C>
{
    /// A service.
    pub fn new(
        store: S,
        hasher: H,
        issuer: I,
        clock: C,
        policy: AuthPolicy,
        limits: chat_threads_domain::Limits,
    ) -> Self {
        Self {
            store,
            hasher,
            issuer,
            clock,
            policy,
            limits,
            session_org: None,
        }
    }

    /// Files sessions opened without a token under `org` (`auth.sessions.org`).
    #[must_use]
    pub fn with_session_org(mut self, org: Option<OrgId>) -> Self {
        self.session_org = org;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// Registers an account. Succeeds the same way whether or not the e-mail was already
    /// registered, so registration cannot be used to discover accounts; a taken e-mail simply
    /// cannot log in with the new password.
    pub async fn register(&self, email: &str, password: &str) -> Result<(), AppError> {
        if !self.policy.accounts.enabled {
            return Err(disabled("built-in accounts"));
        }
        let email = normalize_email(email)?;
        check_password(&email, password)?;
        let hash = self.hasher.hash(password).await?;
        let account = Account {
            id: uuid::Uuid::now_v7(),
            email,
            password_hash: hash,
            created_at: self.clock.now(),
        };
        match self.store.insert_account(account).await {
            Ok(()) | Err(AppError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Logs in: a short-lived access token and a refresh token.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair, AppError> {
        if !self.policy.accounts.enabled {
            return Err(disabled("built-in accounts"));
        }
        let account = match normalize_email(email) {
            Ok(email) => self.store.find_account(&email).await?,
            Err(_) => None,
        };
        // Spend the same argon2 time whether or not the account exists: an unknown e-mail's
        // password is hashed (one argon2 run with the same parameters as a verification) and
        // the hash thrown away.
        let matches = match &account {
            Some(a) => self.hasher.verify(password, &a.password_hash).await?,
            None => {
                self.hasher.hash(password).await?;
                false
            }
        };
        match account {
            Some(account) if matches => {
                self.grant(
                    &account_principal(&account),
                    account.id,
                    uuid::Uuid::now_v7(),
                )
                .await
            }
            _ => {
                let entry = crate::audit::AuditEntry {
                    seq: 0,
                    at: self.clock.now(),
                    org_id: None,
                    actor: "anonymous".into(),
                    action: crate::audit::AuditAction::SignInFailed,
                    target: "account".into(),
                    thread_id: None,
                    request_id: crate::audit::request_id(),
                    details: serde_json::json!({"email": email.trim().chars().take(254).collect::<String>()}),
                };
                if let Err(e) = self.store.append_audit(entry).await {
                    tracing::error!(cause = %e.chain(), "writing an audit entry failed");
                }
                Err(AuthError::InvalidCredentials.into())
            }
        }
    }

    /// Trades a refresh token for a new pair. The old token is spent; presenting a spent token
    /// again (a sign it was stolen) revokes every token of its login.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AppError> {
        let now = self.clock.now();
        let Some(token) = self
            .store
            .spend_refresh(&hash_refresh_token(refresh_token), now)
            .await?
        else {
            return Err(AuthError::InvalidRefreshToken.into());
        };
        if token.revoked_at.is_some() {
            self.store.revoke_family(token.family_id, now).await?;
            return Err(AuthError::InvalidRefreshToken.into());
        }
        if token.expires_at <= now {
            return Err(AuthError::InvalidRefreshToken.into());
        }
        let principal = Principal {
            subject: token.account_id.to_string(),
            org: None,
            kind: PrincipalKind::User,
            scopes: Vec::new(),
            email: None,
            name: None,
            session_key: None,
        };
        self.grant(&principal, token.account_id, token.family_id)
            .await
    }

    /// Logs out: revokes the refresh token's whole family. Unknown tokens are ignored.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        if let Some(token) = self
            .store
            .spend_refresh(&hash_refresh_token(refresh_token), now)
            .await?
        {
            self.store.revoke_family(token.family_id, now).await?;
        }
        Ok(())
    }

    async fn grant(
        &self,
        principal: &Principal,
        account_id: uuid::Uuid,
        family_id: uuid::Uuid,
    ) -> Result<TokenPair, AppError> {
        let now = self.clock.now();
        let access_expires = now + chrono::TimeDelta::seconds(self.policy.accounts.access_ttl_secs);
        let access_token = self.issuer.issue(principal, access_expires)?;
        let refresh_token = random_token()?;
        self.store
            .insert_refresh(RefreshToken {
                id: uuid::Uuid::now_v7(),
                account_id,
                family_id,
                token_hash: hash_refresh_token(&refresh_token),
                expires_at: now + chrono::TimeDelta::seconds(self.policy.accounts.refresh_ttl_secs),
                revoked_at: None,
                created_at: now,
            })
            .await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.policy.accounts.access_ttl_secs,
            refresh_token,
        })
    }

    /// Opens an anonymous session and returns a token reaching only its threads. Opened by a
    /// service principal or an org admin (`opener`), the session belongs to the opener's org;
    /// opened without a token, to `auth.sessions.org` if set.
    pub async fn open_session(
        &self,
        opener: Option<&Principal>,
        input: NewSession,
    ) -> Result<SessionGrant, AppError> {
        if !self.policy.sessions.enabled {
            return Err(disabled("anonymous sessions"));
        }
        let id = match input.session_id {
            Some(id) => {
                if !is_session_id(&id) {
                    return Err(chat_threads_domain::DomainError::invalid(
                        "session_id",
                        "must be 1-128 characters of A-Z, a-z, 0-9, '_', '-', '.'",
                    )
                    .into());
                }
                if id == "current" {
                    return Err(chat_threads_domain::DomainError::invalid(
                        "session_id",
                        "\"current\" is reserved (GET /v1/sessions/current)",
                    )
                    .into());
                }
                id
            }
            None => random_token()?,
        };
        let now = self.clock.now();
        let max = self.policy.sessions.max_ttl_secs;
        let bounds = format!("between 60 seconds and {max} seconds from now");
        let expires_at = match (input.ttl_secs, input.expires_at) {
            (Some(_), Some(_)) => {
                return Err(chat_threads_domain::DomainError::invalid(
                    "expires_at",
                    "give ttl_seconds or expires_at, not both",
                )
                .into());
            }
            (ttl, None) => {
                let ttl = ttl.unwrap_or(self.policy.sessions.default_ttl_secs);
                if !(60..=max).contains(&ttl) {
                    return Err(chat_threads_domain::DomainError::invalid(
                        "ttl_seconds",
                        format!("must be between 60 and {max}"),
                    )
                    .into());
                }
                now + chrono::TimeDelta::seconds(ttl)
            }
            (None, Some(at)) => {
                let ttl = (at - now).num_seconds();
                if !(60..=max).contains(&ttl) {
                    return Err(chat_threads_domain::DomainError::OutOfRange {
                        field: "expires_at",
                        reason: format!("must be {bounds}"),
                    }
                    .into());
                }
                // Whole seconds, as the token's `exp` has them.
                chrono::DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
            }
        };
        let org = match opener {
            Some(who) => Some(session_manager(who)?.clone()),
            None => self.session_org.clone(),
        };
        let external_user_id = match input.external_user_id {
            Some(e) => Some(chat_threads_domain::ExternalId::parse(&e)?.into_inner()),
            None => None,
        };
        let session = Session {
            id,
            key: random_token()?,
            external_user_id,
            metadata: Metadata::parse(input.metadata.unwrap_or_default(), &self.limits)?,
            created_at: now,
            expires_at,
            org,
        };
        self.store
            .insert_session(session.clone())
            .await
            .map_err(|e| match e {
                AppError::Conflict(_) => AppError::Conflict("session_id is already in use".into()),
                other => other,
            })?;
        let principal = Principal {
            subject: session.id.clone(),
            org: session.org.clone(),
            kind: PrincipalKind::Anonymous,
            scopes: Vec::new(),
            email: None,
            name: None,
            session_key: Some(session.key.clone()),
        };
        let token = self.issuer.issue(&principal, session.expires_at)?;
        Ok(SessionGrant { session, token })
    }

    /// Refuses a token whose anonymous session was deleted or ended (`token_revoked`) or has
    /// expired; other principals pass. A token is bound to the one session it was issued for (its
    /// key): a session opened later under the same id does not bring it back. One lookup by
    /// primary key, so a deletion on any instance takes effect on the next request everywhere.
    pub async fn check_live(&self, who: &Principal) -> Result<(), AppError> {
        if who.kind != PrincipalKind::Anonymous {
            return Ok(());
        }
        self.own_session(who).await.map(|_| ())
    }

    /// The session `who`'s token was issued for: `token_revoked` when it is gone or another
    /// session now holds its id, `token_expired` when it has expired.
    async fn own_session(&self, who: &Principal) -> Result<Session, AppError> {
        match self.store.find_session(&who.subject).await? {
            Some(s) if s.key != who.session_key.as_deref().unwrap_or_default() => {
                Err(AuthError::TokenRevoked.into())
            }
            None => Err(AuthError::TokenRevoked.into()),
            Some(s) if !s.is_active(self.clock.now()) => Err(AuthError::TokenExpired.into()),
            Some(s) => Ok(s),
        }
    }

    /// The caller's own session (anonymous tokens only).
    pub async fn current_session(&self, who: &Principal) -> Result<Session, AppError> {
        if who.kind != PrincipalKind::Anonymous {
            return Err(AppError::Forbidden(
                "only an anonymous session's token has a current session".into(),
            ));
        }
        self.own_session(who).await
    }

    /// Ends the caller's own session: its threads and messages are deleted and its token stops
    /// working at once.
    pub async fn end_session(&self, who: &Principal) -> Result<(), AppError> {
        let session = self.current_session(who).await?;
        self.store.delete_session(&session.id).await?;
        Ok(())
    }

    /// A session of the caller's org (service principals and org admins).
    pub async fn session(&self, who: &Principal, id: &str) -> Result<Session, AppError> {
        let org = session_manager(who)?;
        if !is_session_id(id) {
            return Err(AppError::SessionNotFound);
        }
        match self.store.find_session(id).await? {
            Some(s) if s.org.as_ref() == Some(org) => Ok(s),
            _ => Err(AppError::SessionNotFound),
        }
    }

    /// Deletes a session of the caller's org with its threads and messages; its token is
    /// refused from the next request on (`token_revoked`).
    pub async fn delete_session(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        let session = self.session(who, id).await?;
        self.store
            .delete_session(&session.id)
            .await?
            .map(|_| ())
            .ok_or(AppError::SessionNotFound)
    }

    /// Sessions of the caller's org, newest first.
    pub async fn list_sessions(
        &self,
        who: &Principal,
        input: ListSessions,
    ) -> Result<crate::paging::Page<Session>, AppError> {
        let org = session_manager(who)?.clone();
        let limit = crate::paging::page_size(input.limit, &self.limits)?;
        let external_user_id = match input.external_user_id {
            Some(e) => Some(chat_threads_domain::ExternalId::parse(&e)?.into_inner()),
            None => None,
        };
        let search = match input.search {
            Some(q) => chat_threads_domain::query_text("search", &q)?,
            None => None,
        };
        let after = input
            .cursor
            .as_deref()
            .map(crate::cursor::decode::<SessionCursor>)
            .transpose()?;
        let rows = self
            .store
            .list_sessions(SessionQuery {
                org,
                is_active: input.is_active,
                external_user_id,
                search,
                now: self.clock.now(),
                after,
                limit: limit + 1,
            })
            .await?;
        Ok(crate::paging::Page::from_rows(
            rows,
            limit,
            self.limits.page_bytes,
            |s| SessionCursor {
                created_at: s.created_at,
                id: s.id.clone(),
            },
        ))
    }

    /// Deletes expired sessions with their threads, and expired threads.
    pub async fn purge_expired(&self) -> Result<(u64, u64), AppError> {
        self.store.purge_expired(self.clock.now()).await
    }
}

/// Whether `id` has the shape of a session id: 1-128 of `A-Za-z0-9_-.`.
pub fn is_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The org whose sessions `who` manages: a service principal's or an org admin's own.
fn session_manager(who: &Principal) -> Result<&OrgId, AppError> {
    who.managed_org().ok_or_else(|| {
        AppError::Forbidden(
            "sessions are managed by service principals and org admins of an organization".into(),
        )
    })
}

fn account_principal(account: &Account) -> Principal {
    Principal {
        subject: account.id.to_string(),
        org: None,
        kind: PrincipalKind::User,
        scopes: Vec::new(),
        email: Some(account.email.clone()),
        name: None,
        session_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password("a@b.co", "correct horse").is_ok());
        assert!(check_password("a@b.co", "short").is_err());
        assert!(check_password("a@b.co", &"x".repeat(129)).is_err());
        assert!(check_password("a@b.co", "aaaaaaaaaaaa").is_err());
        assert!(check_password("longer@mail.example", "LONGER@mail.example").is_err());
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.io",
            "ann@localhost",
            "a b@x.io",
            "a@@x.io",
            "a@x.",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refresh_tokens_are_stored_hashed() {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 43);
        let h = hash_refresh_token(&t);
        assert_eq!(h.len(), 64);
        assert_ne!(h, t);
        assert_eq!(h, hash_refresh_token(&t));
    }
}
