//! The `Auth` extractor: a verified principal from `Authorization: Bearer <token>`, rate-limited
//! per principal.

use futures_util::future::{BoxFuture, LocalBoxFuture};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use chat_threads_application::AppError;
use chat_threads_application::accounts::AuthError;
use chat_threads_domain::Principal;

use crate::error::ApiError;
use crate::rate_limit::RateLimits;

use std::sync::Arc;

use chat_threads_application::accounts::TokenVerifier;

/// The token verifier, shared by the [`crate::auth::Auth`] extractor.
#[derive(Clone)]
pub struct Verifier(pub Arc<dyn TokenVerifier>);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

/// The token of an `Authorization: Bearer <token>` header: `None` without the header, an error
/// for a header that is unreadable (`token_malformed`) or not a non-empty bearer token
/// (`token_missing`). The REST extractor, the idempotency middleware and the WebSocket upgrade
/// all read the header through this.
pub fn bearer_token(
    headers: &actix_web::http::header::HeaderMap,
) -> Result<Option<&str>, AuthError> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = header
        .to_str()
        .map_err(|_| AuthError::TokenMalformed)?
        .trim();
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthError::TokenMissing),
    }
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<Verifier>>()
        .ok_or_else(|| ApiError::App(AppError::internal("no token verifier configured")))?;
    let from_query;
    let token = match bearer_token(req.headers())? {
        Some(token) => token,
        // Browsers' EventSource cannot set headers: SSE streams also take `?access_token=`.
        None if req.path().ends_with("/stream") => {
            from_query = web::Query::<TokenQuery>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.into_inner().access_token)
                .ok_or(AuthError::TokenMissing)?;
            from_query.as_str()
        }
        None => return Err(AuthError::TokenMissing.into()),
    };
    let principal = verifier.0.verify(token)?;
    if let Some(limiter) = req
        .app_data::<web::Data<RateLimits>>()
        .and_then(|l| l.principal.clone())
    {
        let key = principal.owner();
        let verdict = limiter.check(key.as_str());
        if !verdict.allowed {
            return Err(ApiError::RateLimited(verdict));
        }
    }
    Ok(principal)
}

/// Whether a verified principal may still act: an anonymous session's token stops working when
/// the session is ended or deleted, which a signature cannot tell.
pub trait LiveCheck: Send + Sync + 'static {
    /// `Err(token_revoked)` (or `token_expired`) for a session that is gone. The future owns
    /// what it needs, so it can run as its own task.
    fn check(&self, who: Principal) -> BoxFuture<'static, Result<(), AppError>>;
}

impl<S, H, I, C> LiveCheck for chat_threads_application::accounts::AuthService<S, H, I, C>
where
    S: chat_threads_application::accounts::AuthStore + chat_threads_application::audit::AuditStore,
    H: chat_threads_application::accounts::PasswordHasher,
    I: chat_threads_application::accounts::TokenIssuer,
    C: chat_threads_application::system::Clock,
{
    fn check(&self, who: Principal) -> BoxFuture<'static, Result<(), AppError>> {
        let service = self.clone();
        Box::pin(async move { service.check_live(&who).await })
    }
}

/// The [`LiveCheck`] the extractors use (app data).
#[derive(Clone)]
pub struct SessionGate(pub Arc<dyn LiveCheck>);

impl std::fmt::Debug for SessionGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionGate")
    }
}

/// Verifies the request's token, then (for an anonymous session) that the session still exists.
fn authenticate_live(req: &HttpRequest) -> LocalBoxFuture<'static, Result<Principal, ApiError>> {
    let verified = authenticate(req);
    let gate = req.app_data::<web::Data<SessionGate>>().cloned();
    Box::pin(async move {
        let principal = verified?;
        crate::observe::record_principal_kind(principal.kind.as_str());
        if principal.kind == chat_threads_domain::PrincipalKind::Anonymous
            && let Some(gate) = gate
        {
            // Its own task: when another extractor of the request fails first, actix drops this
            // future, and a database query dropped half-way must not be (SQLite's connection
            // wrapper blocks to finish it, which a single-threaded worker cannot).
            actix_web::rt::spawn(gate.0.check(principal.clone()))
                .await
                .map_err(|e| AppError::internal_from("session check failed", e))??;
        }
        Ok(principal)
    })
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate_live(req);
        Box::pin(async move { principal.await.map(Auth) })
    }
}

/// An optional caller: `None` without an `Authorization` header; a token that is sent must be
/// valid (never silently ignored).
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequest for MaybeAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if !req.headers().contains_key(AUTHORIZATION) {
            return Box::pin(std::future::ready(Ok(Self(None))));
        }
        let principal = authenticate_live(req);
        Box::pin(async move { principal.await.map(|p| Self(Some(p))) })
    }
}

/// When an already verified token expires (its `exp`), read from its payload.
pub fn token_expiry(token: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    chrono::DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderMap, HeaderValue};

    fn with(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_read_one_way_everywhere() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer_token(&with(b"Bearer abc")), Ok(Some("abc")));
        assert_eq!(bearer_token(&with(b"bearer  abc ")), Ok(Some("abc")));
        assert_eq!(
            bearer_token(&with(b"Basic abc")),
            Err(AuthError::TokenMissing)
        );
        assert_eq!(
            bearer_token(&with(b"Bearer ")),
            Err(AuthError::TokenMissing)
        );
        assert_eq!(bearer_token(&with(b"abc")), Err(AuthError::TokenMissing));
        assert_eq!(
            bearer_token(&with(b"Bearer \xff")),
            Err(AuthError::TokenMalformed)
        );
    }
}
