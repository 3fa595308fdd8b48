//! The one error type of the use cases, with stable machine-readable codes.

use chat_threads_domain::DomainError;

/// Why a use case failed. `code()` gives the stable snake_case code clients match on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such thread for this principal (also returned for another principal's thread).
    #[error("thread not found")]
    ThreadNotFound,
    /// No such message in this thread.
    #[error("message not found")]
    MessageNotFound,
    /// Input or a tree rule was refused.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The caller is not authenticated.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The caller is authenticated but the server refuses the operation (a disabled feature).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The model is unknown or not allowed for this principal.
    #[error("model {model:?} is not available; allowed: {allowed:?}")]
    ModelNotAllowed {
        /// The requested model.
        model: String,
        /// The models the principal may use.
        allowed: Vec<String>,
    },
    /// A reply is still being generated in this thread.
    #[error("a reply is still being generated in this thread; wait for it or cancel it")]
    GenerationInProgress,
    /// The principal's daily token quota is spent.
    #[error("the daily token quota of {quota} is spent ({used} used)")]
    QuotaExceeded {
        /// The quota.
        quota: u64,
        /// Tokens used today.
        used: u64,
    },
    /// The model server failed.
    #[error(transparent)]
    Model(#[from] crate::llm::ModelError),
    /// A pagination cursor could not be decoded.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is overloaded; retrying may help.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// An unexpected storage failure. The message is for logs, never for clients.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl AppError {
    /// The stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ThreadNotFound => "thread_not_found",
            Self::MessageNotFound => "message_not_found",
            Self::Domain(d) => match d {
                DomainError::Invalid { .. } => "validation_failed",
                DomainError::TooLarge { .. } => "limit_exceeded",
                DomainError::UnknownParent(_) => "parent_not_found",
                DomainError::ParentInOtherThread(_) => "parent_in_other_thread",
                DomainError::DeletedParent(_) => "parent_deleted",
                DomainError::UnusableMessage(..) => "message_unusable",
                DomainError::ThreadNotWritable(_) => "thread_not_writable",
            },
            Self::Auth(a) => a.code(),
            Self::Forbidden(_) => "forbidden",
            Self::ModelNotAllowed { .. } => "model_not_allowed",
            Self::GenerationInProgress => "generation_in_progress",
            Self::QuotaExceeded { .. } => "token_quota_exceeded",
            Self::Model(_) => "model_error",
            Self::InvalidCursor => "invalid_cursor",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "storage_unavailable",
            Self::Storage(_) => "internal_error",
        }
    }
}
