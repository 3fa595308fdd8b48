//! One error shape for every response: `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chat_threads_application::AppError;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for machines (`code`) and people (`message`).
#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human-readable explanation; never internals.
    pub message: String,
}

/// An [`AppError`] on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use chat_threads_domain::DomainError as D;
        match &self.0 {
            AppError::ThreadNotFound | AppError::MessageNotFound => StatusCode::NOT_FOUND,
            AppError::Domain(D::TooLarge { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Domain(D::Invalid { .. }) | AppError::InvalidCursor => {
                StatusCode::BAD_REQUEST
            }
            AppError::Domain(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = match &self.0 {
            // Internal details go to the log, never to the client.
            AppError::Storage(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error".to_owned()
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "storage unavailable");
                "the service is temporarily unavailable; retry shortly".to_owned()
            }
            other => other.to_string(),
        };
        HttpResponse::build(status).json(ErrorBody {
            error: ErrorDetail {
                code: self.0.code(),
                message,
            },
        })
    }
}
