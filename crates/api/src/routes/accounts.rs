//! Built-in accounts, anonymous sessions, and who the caller is.

use actix_web::{HttpResponse, web};
use chat_threads_application::accounts::{ListSessions, NewSession, Session};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Auth, MaybeAuth};
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::extractors::OptionalJson;
use crate::state::{AppState, Deps};

/// E-mail and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    /// 10 to 128 characters, not one repeated character, not the e-mail.
    pub password: String,
}

/// Access and refresh tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPairDto {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use: trade it at /v1/auth/refresh for the next pair.
    pub refresh_token: String,
}

impl From<chat_threads_application::accounts::TokenPair> for TokenPairDto {
    fn from(p: chat_threads_application::accounts::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: p.token_type.to_owned(),
            expires_in: p.expires_in,
            refresh_token: p.refresh_token,
        }
    }
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// Register a built-in account. Answers 202 whether or not the e-mail was already registered,
/// so the endpoint cannot be used to find out who has an account; log in to use it.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", operation_id = "register_account", request_body = Credentials,
    responses((status = 202, description = "Accepted; log in next"), (status = 400, body = ErrorBody),
              (status = 403, description = "Built-in accounts are disabled", body = ErrorBody)))]
pub async fn register<D: Deps>(
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    state.auth.register(&body.email, &body.password).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"status": "accepted"})))
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", operation_id = "log_in", request_body = Credentials,
    responses((status = 200, body = TokenPairDto),
              (status = 401, description = "invalid_credentials, whatever was wrong", body = ErrorBody),
              (status = 429, description = "Too many attempts for this account (rate_limited)", body = ErrorBody),
              (status = 503, description = "Too many password checks waiting (overloaded); retry after Retry-After", body = ErrorBody)))]
pub async fn login<D: Deps>(
    state: web::Data<AppState<D>>,
    limits: web::Data<crate::rate_limit::RateLimits>,
    body: crate::extractors::Json<Credentials>,
) -> Result<web::Json<TokenPairDto>, ApiError> {
    // Guessing one account's password from many addresses is limited too.
    if let Some(limiter) = &limits.login {
        let verdict = limiter.check(&format!("login:{}", body.email.trim().to_lowercase()));
        if !verdict.allowed {
            return Err(ApiError::RateLimited(verdict));
        }
    }
    Ok(web::Json(
        state.auth.login(&body.email, &body.password).await?.into(),
    ))
}

/// Trade a refresh token for a new pair (the old one stops working; reusing it revokes the login).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", operation_id = "refresh_tokens", request_body = RefreshBody,
    responses((status = 200, body = TokenPairDto), (status = 401, body = ErrorBody)))]
pub async fn refresh<D: Deps>(
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<RefreshBody>,
) -> Result<web::Json<TokenPairDto>, ApiError> {
    Ok(web::Json(
        state.auth.refresh(&body.refresh_token).await?.into(),
    ))
}

/// Log out: revokes the refresh token and every token rotated from the same login.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", operation_id = "log_out", request_body = RefreshBody,
    responses((status = 204, description = "Logged out")))]
pub async fn logout<D: Deps>(
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The authenticated caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub subject: String,
    /// `user`, `anonymous` or `service`.
    pub kind: String,
    pub org: Option<String>,
    pub email: Option<String>,
    pub scopes: Vec<String>,
    /// The owner recorded on your threads.
    pub owner: String,
}

/// Who the token stands for.
#[utoipa::path(get, path = "/v1/whoami", tag = "auth", operation_id = "who_am_i",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn whoami<D: Deps>(auth: Auth) -> web::Json<WhoAmI> {
    web::Json(auth.0.into())
}

impl From<chat_threads_domain::Principal> for WhoAmI {
    fn from(p: chat_threads_domain::Principal) -> Self {
        let kind = match p.kind {
            chat_threads_domain::PrincipalKind::User => "user",
            chat_threads_domain::PrincipalKind::Anonymous => "anonymous",
            chat_threads_domain::PrincipalKind::Service => "service",
        };
        Self {
            owner: p.owner().into_inner(),
            subject: p.subject,
            kind: kind.to_owned(),
            org: p.org.map(|o| o.into_inner()),
            email: p.email,
            scopes: p.scopes,
        }
    }
}

/// A new anonymous session.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionBody {
    /// Your own session id (1-128 of `A-Za-z0-9_-.`, not `current`); generated when absent.
    /// 409 if taken.
    pub session_id: Option<String>,
    /// The embedding site's own user id.
    pub external_user_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Lifetime in seconds (default 24 h, configurable; at least 60). Not with `expires_at`.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    pub ttl_seconds: Option<i64>,
    /// When the session ends, instead of `ttl_seconds` (same bounds; whole seconds).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An anonymous session as its owner and its organization's managers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfoDto {
    pub session_id: String,
    pub external_user_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The organization whose service principals and admins manage the session; its threads
    /// are filed under it.
    pub org_id: Option<String>,
    /// Not expired (a deleted session is gone: 404, and its token 401 `token_revoked`).
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The token and the session's threads stop working then, and are purged.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<Session> for SessionInfoDto {
    fn from(s: Session) -> Self {
        Self {
            is_active: s.is_active(chrono::Utc::now()),
            session_id: s.id,
            external_user_id: s.external_user_id,
            metadata: s.metadata.into_value(),
            org_id: s.org.map(|o| o.into_inner()),
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

/// An opened session and its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub session_id: String,
    /// Send as `Authorization: Bearer <token>`; reaches only this session's threads.
    pub token: String,
    pub external_user_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub org_id: Option<String>,
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The token and the session's threads stop working then, and are purged.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Open an anonymous session (for public widgets; no sign-in). Without a token the session
/// belongs to `auth.sessions.org` (if set); opened with a service principal's or an org admin's
/// token, to that organization, whose managers can then list, read and delete it.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", operation_id = "open_session", request_body = NewSessionBody,
    responses((status = 201, body = SessionDto), (status = 400, body = ErrorBody),
              (status = 401, description = "A token was sent and is not valid", body = ErrorBody),
              (status = 403, description = "Anonymous sessions are disabled, or the token is not a service principal's or an org admin's", body = ErrorBody),
              (status = 409, description = "session_id already in use", body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security((), ("bearer" = [])))]
pub async fn open_session<D: Deps>(
    opener: MaybeAuth,
    state: web::Data<AppState<D>>,
    body: OptionalJson<NewSessionBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let grant = state
        .auth
        .open_session(
            opener.0.as_ref(),
            NewSession {
                session_id: b.session_id,
                external_user_id: b.external_user_id,
                metadata: b.metadata,
                ttl_secs: b.ttl_seconds,
                expires_at: b.expires_at,
            },
        )
        .await?;
    let info = SessionInfoDto::from(grant.session);
    Ok(HttpResponse::Created().json(SessionDto {
        session_id: info.session_id,
        token: grant.token,
        external_user_id: info.external_user_id,
        metadata: info.metadata,
        org_id: info.org_id,
        is_active: info.is_active,
        created_at: info.created_at,
        expires_at: info.expires_at,
    }))
}

/// Your own session (an anonymous session's token).
#[utoipa::path(get, path = "/v1/sessions/current", tag = "sessions", operation_id = "get_current_session",
    responses((status = 200, body = SessionInfoDto), (status = 401, body = ErrorBody),
              (status = 403, description = "The token is not an anonymous session's (forbidden)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn current_session<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<web::Json<SessionInfoDto>, ApiError> {
    Ok(web::Json(state.auth.current_session(&auth.0).await?.into()))
}

/// End your own session: its threads and messages are deleted and its token stops working.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", operation_id = "end_current_session",
    responses((status = 204, description = "Ended"), (status = 401, body = ErrorBody),
              (status = 403, description = "The token is not an anonymous session's (forbidden)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn end_current_session<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<HttpResponse, ApiError> {
    state.auth.end_session(&auth.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Filters of the session list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
    /// `true`: only sessions that have not expired; `false`: only expired ones not yet purged.
    pub is_active: Option<bool>,
    /// Only sessions of this external user id.
    pub external_user_id: Option<String>,
    /// Text the session id or the external user id contains (case-insensitive).
    pub search: Option<String>,
}

/// List your organization's anonymous sessions, newest first (service principals and org
/// admins).
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", operation_id = "list_sessions", params(ListSessionsQuery),
    responses((status = 200, body = PageDto<SessionInfoDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "Not a service principal or org admin of an organization (forbidden)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_sessions<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<ListSessionsQuery>,
) -> Result<web::Json<PageDto<SessionInfoDto>>, ApiError> {
    let q = query.into_inner();
    let page = state
        .auth
        .list_sessions(
            &auth.0,
            ListSessions {
                is_active: q.is_active,
                external_user_id: q.external_user_id,
                search: q.search,
                cursor: q.cursor,
                limit: q.limit,
            },
        )
        .await?;
    Ok(web::Json(page.into()))
}

/// Path parameter of a session.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionPath {
    /// The session id.
    #[param(pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub session_id: String,
}

/// One of your organization's sessions (service principals and org admins).
#[utoipa::path(get, path = "/v1/sessions/{session_id}", tag = "sessions", operation_id = "get_session", params(SessionPath),
    responses((status = 200, body = SessionInfoDto), (status = 401, body = ErrorBody),
              (status = 403, description = "Not a service principal or org admin of an organization (forbidden)", body = ErrorBody),
              (status = 404, description = "No such session in your organization (session_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_session<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<SessionPath>,
) -> Result<web::Json<SessionInfoDto>, ApiError> {
    Ok(web::Json(
        state.auth.session(&auth.0, &path.session_id).await?.into(),
    ))
}

/// Delete one of your organization's sessions with its threads and messages; its token is
/// refused from the next request on (`token_revoked`), on every instance.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}", tag = "sessions", operation_id = "delete_session", params(SessionPath),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
              (status = 403, description = "Not a service principal or org admin of an organization (forbidden)", body = ErrorBody),
              (status = 404, description = "No such session in your organization (session_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_session<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    state.auth.delete_session(&auth.0, &path.session_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
