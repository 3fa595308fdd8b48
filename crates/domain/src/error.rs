//! Refusals raised by the domain rules.

use crate::ids::MessageId;

/// Why a value or a tree operation was refused. Each variant maps to a stable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value failed validation; `field` names the input, `reason` says what is wrong.
    #[error("invalid {field}: {reason}")]
    ValidationFailed {
        /// The input that failed.
        field: &'static str,
        /// A human-readable reason.
        reason: String,
    },
    /// A value exceeded a configured limit.
    #[error("{field} is too large: {actual} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The input that is too large.
        field: &'static str,
        /// The configured limit.
        limit: usize,
        /// The measured size.
        actual: usize,
    },
    /// The requested parent message does not exist in this thread.
    #[error("parent message {0} does not exist")]
    ParentNotFound(MessageId),
    /// The requested parent message belongs to another thread.
    #[error("parent message {0} belongs to another thread")]
    ParentInOtherThread(MessageId),
    /// The requested parent message is deleted.
    #[error("parent message {0} is deleted")]
    ParentDeleted(MessageId),
    /// The message cannot be used as the target of this operation (deleted, other thread).
    #[error("message {0} cannot be used here: {1}")]
    MessageUnusable(MessageId, &'static str),
    /// `content_type` is `json` and the content does not parse as JSON.
    #[error("content_type is json and the content is not valid JSON")]
    ContentNotJson,
    /// The thread is deleted or archived and refuses the change.
    #[error("thread does not accept this change: {0}")]
    ThreadNotWritable(&'static str),
    /// A tool result that answers no open call on its path, or results that leave a call of
    /// the message they answer unanswered.
    #[error("tool result for call {call_id:?}: {reason}")]
    ToolResultUnpaired {
        /// The call named (or left open).
        call_id: String,
        /// What is wrong.
        reason: String,
    },
    /// Values that are each valid and do not fit together: a part on a role that cannot hold
    /// it, a call id twice, a tool offered twice, a `tool_choice` naming no offered tool.
    #[error("invalid {field}: {reason}")]
    InconsistentRequest {
        /// The input that does not fit.
        field: &'static str,
        /// What does not fit.
        reason: String,
    },
    /// A well-formed value outside a range that depends on the moment or the configuration
    /// (a session's `expires_at`), which a schema cannot state.
    #[error("{field} is out of range: {reason}")]
    OutOfRange {
        /// The input.
        field: &'static str,
        /// The range it must be in.
        reason: String,
    },
}

impl DomainError {
    /// Shorthand for an [`DomainError::ValidationFailed`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::ValidationFailed {
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for an [`DomainError::InconsistentRequest`].
    pub fn inconsistent(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InconsistentRequest {
            field,
            reason: reason.into(),
        }
    }
}
