//! One error shape for every response:
//! `{"error": {"code": "...", "message": "...", "details": ...}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use chat_threads_application::AppError;
use chat_threads_domain::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::verdict::Verdict;

pub use chat_threads_application::error::ErrorCode;

/// The OpenAPI schema of [`ErrorCode`]: a string enum listing every code with its meaning.
#[derive(Debug)]
pub struct ErrorCodeSchema;

impl utoipa::PartialSchema for ErrorCodeSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let meanings: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| match c.status() {
                Some(status) => format!("- `{}` ({status}): {}", c.as_str(), c.meaning()),
                None => format!("- `{}`: {}", c.as_str(), c.meaning()),
            })
            .collect();
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some(format!(
                "Every error code the API answers with. Clients match on these; they never \
                 change meaning.\n\n{}",
                meanings.join("\n")
            )))
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCodeSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }
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
    #[schema(value_type = ErrorCodeSchema)]
    pub code: ErrorCode,
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
    /// An argument that is unknown, missing or of the wrong type (a WebSocket operation's):
    /// `400 validation_failed` naming it in `details.field`.
    Argument {
        /// The argument (a path such as `attachments[0]` for nested ones).
        field: String,
        /// Explanation.
        message: String,
    },
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<chat_threads_application::accounts::AuthError> for ApiError {
    fn from(e: chat_threads_application::accounts::AuthError) -> Self {
        Self::App(AppError::Auth(e))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::App(e) => e.fmt(f),
            Self::RateLimited(_) => f.write_str("too many requests"),
            Self::Request { message, .. } | Self::Argument { message, .. } => f.write_str(message),
        }
    }
}

/// The status of a use case's refusal: its code's, from the one error table.
fn app_status(e: &AppError) -> StatusCode {
    e.code()
        .status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn details(e: &AppError) -> Option<serde_json::Value> {
    match e {
        AppError::Domain(
            DomainError::ValidationFailed { field, .. }
            | DomainError::OutOfRange { field, .. }
            | DomainError::InconsistentRequest { field, .. },
        ) => Some(serde_json::json!({ "field": field })),
        AppError::Domain(DomainError::LimitExceeded {
            field,
            limit,
            actual,
        }) => Some(serde_json::json!({ "field": field, "limit": limit, "actual": actual })),
        AppError::ModelNotAllowed { model, allowed } => {
            Some(serde_json::json!({ "model": model, "allowed": allowed }))
        }
        AppError::TokenQuotaExceeded { quota, used } => {
            Some(serde_json::json!({ "quota": quota, "used": used }))
        }
        AppError::PayloadTooLarge { limit } => Some(serde_json::json!({ "limit": limit })),
        AppError::Domain(DomainError::ToolResultUnpaired { call_id, .. }) => {
            Some(serde_json::json!({ "call_id": call_id }))
        }
        AppError::AttachmentNotFound(id) => Some(serde_json::json!({ "file_id": id })),
        AppError::ImagesNotSupported { model } => Some(serde_json::json!({ "model": model })),
        AppError::FileTypeNotAllowed {
            content_type,
            allowed,
        } => Some(serde_json::json!({ "content_type": content_type, "allowed": allowed })),
        AppError::StorageQuotaExceeded { quota, used, size } => {
            Some(serde_json::json!({ "quota": quota, "used": used, "size": size }))
        }
        AppError::InsufficientBalance {
            account,
            balance,
            held,
            available,
            required,
        } => Some(serde_json::json!({
            "account": account, "balance": balance, "held": held,
            "available": available, "required": required,
        })),
        _ => None,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::App(e) => app_status(e),
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Request { status, .. } => *status,
            Self::Argument { .. } => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::App(AppError::Auth(_))) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, Self::App(AppError::Overloaded(_))) {
            response.insert_header((RETRY_AFTER, HeaderValue::from(1)));
        }
        if let Self::RateLimited(v) = self {
            response.insert_header((RETRY_AFTER, HeaderValue::from(v.retry_after_secs)));
            for header in v.headers() {
                response.insert_header(header);
            }
        }
        response.json(ErrorBody {
            error: self.detail(),
        })
    }
}

impl ApiError {
    /// The error as every transport sends it (REST's `error`, a WebSocket response's `error`);
    /// internal causes go to the log, never to the client.
    pub fn detail(&self) -> ErrorDetail {
        let (code, message, details) = match self {
            // Internal details go to the log, never to the client.
            Self::App(e @ AppError::InternalError(_)) => {
                tracing::error!(cause = %e.chain(), "internal error");
                (ErrorCode::InternalError, "internal error".to_owned(), None)
            }
            Self::App(e @ AppError::StorageUnavailable(_)) => {
                tracing::warn!(cause = %e.chain(), "storage unavailable");
                (
                    ErrorCode::StorageUnavailable,
                    "the service is temporarily unavailable; retry shortly".to_owned(),
                    None,
                )
            }
            Self::App(e) => (e.code(), e.to_string(), details(e)),
            Self::RateLimited(v) => (
                ErrorCode::RateLimited,
                "too many requests; retry later".to_owned(),
                Some(serde_json::json!({ "retry_after_secs": v.retry_after_secs })),
            ),
            Self::Request { code, message, .. } => (*code, message.clone(), None),
            Self::Argument { field, message } => (
                ErrorCode::ValidationFailed,
                message.clone(),
                Some(serde_json::json!({ "field": field })),
            ),
        };
        ErrorDetail {
            code,
            message,
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_schema_lists_every_code_once() {
        let schema =
            serde_json::to_value(<ErrorCodeSchema as utoipa::PartialSchema>::schema()).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "no code twice");
        assert_eq!(
            serde_json::to_value(ErrorCode::ThreadNotFound).unwrap(),
            "thread_not_found",
            "serialized as the wire form"
        );
    }
}
