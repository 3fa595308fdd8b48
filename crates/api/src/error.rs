//! One error shape for every response:
//! `{"error": {"code": "...", "message": "...", "details": ...}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use chat_threads_application::AppError;
use chat_threads_domain::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::rate_limit::Verdict;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal),+ $(,)?) => {
        /// Every error code the API answers with. Clients match on these; they never change meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant),+
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code),+
                }
            }
        }
    };
}

error_codes! {
    /// 404: no such thread for this caller (also another principal's thread).
    ThreadNotFound => "thread_not_found",
    /// 404: no such message in this thread.
    MessageNotFound => "message_not_found",
    /// 400: a value is invalid; `details.field` names it.
    ValidationFailed => "validation_failed",
    /// 422: a value exceeds a configured limit; `details` has field, limit and actual.
    LimitExceeded => "limit_exceeded",
    /// 422: the parent message does not exist.
    ParentNotFound => "parent_not_found",
    /// 422: the parent message is in another thread.
    ParentInOtherThread => "parent_in_other_thread",
    /// 422: the parent message is deleted.
    ParentDeleted => "parent_deleted",
    /// 422: the message cannot be used for this (deleted, another thread, still streaming).
    MessageUnusable => "message_unusable",
    /// 422: the thread refuses the change (deleted).
    ThreadNotWritable => "thread_not_writable",
    /// 422: the model is unknown or not allowed for you; `details.allowed` lists yours.
    ModelNotAllowed => "model_not_allowed",
    /// 409: a reply is still being generated in this thread.
    GenerationInProgress => "generation_in_progress",
    /// 429: the daily token quota is spent.
    TokenQuotaExceeded => "token_quota_exceeded",
    /// 502: the model server failed.
    ModelError => "model_error",
    /// 400: a pagination cursor is not one this API issued.
    InvalidCursor => "invalid_cursor",
    /// 409: conflicts with the current state (a taken session id ...).
    Conflict => "conflict",
    /// 503: the database is unreachable or saturated; retry.
    StorageUnavailable => "storage_unavailable",
    /// 500: an unexpected failure, logged under the request id.
    InternalError => "internal_error",
    /// 403: the feature is switched off on this server.
    Forbidden => "forbidden",
    /// 401: no bearer token.
    TokenMissing => "token_missing",
    /// 401: not a readable JWT.
    TokenMalformed => "token_malformed",
    /// 401: `alg: none`.
    TokenUnsigned => "token_unsigned",
    /// 401: an algorithm other than the configured one.
    TokenAlgorithmNotAllowed => "token_algorithm_not_allowed",
    /// 401: the signature does not verify.
    TokenSignatureInvalid => "token_signature_invalid",
    /// 401: expired.
    TokenExpired => "token_expired",
    /// 401: not valid yet.
    TokenNotYetValid => "token_not_yet_valid",
    /// 401: wrong issuer.
    TokenIssuerInvalid => "token_issuer_invalid",
    /// 401: wrong audience.
    TokenAudienceInvalid => "token_audience_invalid",
    /// 401: no subject claim.
    TokenSubjectMissing => "token_subject_missing",
    /// 401: login failed.
    InvalidCredentials => "invalid_credentials",
    /// 401: the refresh token is unknown, expired or spent.
    InvalidRefreshToken => "invalid_refresh_token",
    /// 429: over a rate limit; see Retry-After.
    RateLimited => "rate_limited",
    /// 413: the body exceeds a size limit.
    PayloadTooLarge => "payload_too_large",
    /// 415: the body is not JSON.
    UnsupportedMediaType => "unsupported_media_type",
    /// 400: the JSON body does not parse.
    MalformedJson => "malformed_json",
    /// 400: the body cannot be read (not UTF-8, cut short).
    MalformedBody => "malformed_body",
    /// 400: a path parameter is invalid (an id that is not a UUID).
    InvalidPath => "invalid_path",
    /// 400: a query parameter is unknown or invalid.
    InvalidQuery => "invalid_query",
    /// 403: a browser page on this origin may not use the API (server.cors.allowed_origins).
    OriginNotAllowed => "origin_not_allowed",
    /// 404: no such route.
    RouteNotFound => "route_not_found",
    /// 405: the route exists for other methods; see Allow.
    MethodNotAllowed => "method_not_allowed",
    /// 400: the Idempotency-Key header is not 1-255 printable ASCII characters.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// 422: the Idempotency-Key was used for a different request.
    IdempotencyKeyReused => "idempotency_key_reused",
    /// 409: the first request with this Idempotency-Key is still running.
    IdempotencyKeyInProgress => "idempotency_key_in_progress",
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for machines (`code`) and people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code.
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// Human-readable explanation; never internals.
    pub message: String,
    /// Structured context (the field or limit at fault), when there is any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// A use case refused.
    App(AppError),
    /// Too many requests.
    RateLimited(Verdict),
    /// The request itself is unusable (bad JSON, wrong content type, bad path id ...).
    Request {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<chat_threads_application::auth::AuthError> for ApiError {
    fn from(e: chat_threads_application::auth::AuthError) -> Self {
        Self::App(AppError::Auth(e))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::App(e) => e.fmt(f),
            Self::RateLimited(_) => f.write_str("too many requests"),
            Self::Request { message, .. } => f.write_str(message),
        }
    }
}

fn app_status(e: &AppError) -> StatusCode {
    match e {
        AppError::ThreadNotFound | AppError::MessageNotFound => StatusCode::NOT_FOUND,
        AppError::Auth(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Domain(DomainError::Invalid { .. }) | AppError::InvalidCursor => {
            StatusCode::BAD_REQUEST
        }
        AppError::Domain(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::ModelNotAllowed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::GenerationInProgress => StatusCode::CONFLICT,
        AppError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Model(_) => StatusCode::BAD_GATEWAY,
        AppError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn details(e: &AppError) -> Option<serde_json::Value> {
    match e {
        AppError::Domain(DomainError::Invalid { field, .. }) => {
            Some(serde_json::json!({ "field": field }))
        }
        AppError::Domain(DomainError::TooLarge {
            field,
            limit,
            actual,
        }) => Some(serde_json::json!({ "field": field, "limit": limit, "actual": actual })),
        AppError::ModelNotAllowed { model, allowed } => {
            Some(serde_json::json!({ "model": model, "allowed": allowed }))
        }
        AppError::QuotaExceeded { quota, used } => {
            Some(serde_json::json!({ "quota": quota, "used": used }))
        }
        _ => None,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::App(e) => app_status(e),
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Request { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (code, message, details) = match self {
            // Internal details go to the log, never to the client.
            Self::App(AppError::Storage(cause)) => {
                tracing::error!(%cause, "internal error");
                ("internal_error", "internal error".to_owned(), None)
            }
            Self::App(AppError::Unavailable(cause)) => {
                tracing::warn!(%cause, "storage unavailable");
                (
                    "storage_unavailable",
                    "the service is temporarily unavailable; retry shortly".to_owned(),
                    None,
                )
            }
            Self::App(e) => (e.code(), e.to_string(), details(e)),
            Self::RateLimited(_) => (
                "rate_limited",
                "too many requests; retry later".to_owned(),
                None,
            ),
            Self::Request { code, message, .. } => (code.as_str(), message.clone(), None),
        };
        let mut response = HttpResponse::build(status);
        if matches!(self, Self::App(AppError::Auth(_))) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Self::RateLimited(v) = self {
            response.insert_header((RETRY_AFTER, HeaderValue::from(v.retry_after_secs)));
            for header in v.headers() {
                response.insert_header(header);
            }
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code,
                message,
                details,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_threads_application::auth::AuthError;
    use chat_threads_domain::MessageId;

    #[test]
    fn every_code_the_use_cases_produce_is_documented() {
        let documented: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let id = MessageId::new();
        let mut produced = vec![
            AppError::ThreadNotFound,
            AppError::MessageNotFound,
            AppError::Domain(DomainError::invalid("x", "y")),
            AppError::Domain(DomainError::TooLarge {
                field: "x",
                limit: 1,
                actual: 2,
            }),
            AppError::Domain(DomainError::UnknownParent(id)),
            AppError::Domain(DomainError::ParentInOtherThread(id)),
            AppError::Domain(DomainError::DeletedParent(id)),
            AppError::Domain(DomainError::UnusableMessage(id, "x")),
            AppError::Domain(DomainError::ThreadNotWritable("x")),
            AppError::InvalidCursor,
            AppError::Conflict("x".into()),
            AppError::Unavailable("x".into()),
            AppError::Storage("x".into()),
            AppError::Forbidden("x".into()),
            AppError::ModelNotAllowed {
                model: "m".into(),
                allowed: vec![],
            },
            AppError::GenerationInProgress,
            AppError::QuotaExceeded { quota: 1, used: 1 },
            AppError::Model(chat_threads_application::llm::ModelError::Timeout),
        ];
        produced.extend(
            [
                AuthError::Missing,
                AuthError::Malformed,
                AuthError::Unsigned,
                AuthError::AlgorithmNotAllowed,
                AuthError::SignatureInvalid,
                AuthError::Expired,
                AuthError::NotYetValid,
                AuthError::IssuerInvalid,
                AuthError::AudienceInvalid,
                AuthError::SubjectMissing,
                AuthError::InvalidCredentials,
                AuthError::InvalidRefreshToken,
            ]
            .map(AppError::Auth),
        );
        for e in produced {
            assert!(
                documented.contains(&e.code()),
                "{} is not in ErrorCode",
                e.code()
            );
        }
        let schema = serde_json::to_value(<ErrorCode as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema["enum"].as_array().unwrap().len(),
            ErrorCode::ALL.len(),
            "the OpenAPI schema lists every code"
        );
    }
}
