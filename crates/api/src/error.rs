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
        code: &'static str,
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
            Self::Request { code, message, .. } => (*code, message.clone(), None),
        };
        let mut response = HttpResponse::build(status);
        if matches!(self, Self::App(AppError::Auth(_))) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Self::RateLimited(v) = self {
            response.insert_header((RETRY_AFTER, HeaderValue::from(v.retry_after_secs)));
            crate::rate_limit_headers(&mut response, v);
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
