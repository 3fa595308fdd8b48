//! The one error type of the use cases, and the one list of error codes clients match on.

use chat_threads_domain::DomainError;
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:literal: $meaning:literal),+ $(,)?) => {
        /// Every error code the service answers with (REST, SSE, WebSocket), with its HTTP
        /// status and meaning: the one error table. Clients match on these; they never change
        /// meaning. The api takes each answer's status from here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant),+
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

            /// What it means, for documentation.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning),+
                }
            }

            /// The HTTP status of an answer with this code; `None` for a code that is never
            /// an HTTP answer (a WebSocket notice).
            pub fn status(self) -> Option<u16> {
                let status = match self {
                    $(ErrorCode::$variant => $status),+
                };
                (status != 0).then_some(status)
            }
        }
    };
}

error_codes! {
    ThreadNotFound => "thread_not_found", 404: "no such thread for this caller (also another principal's thread).",
    MessageNotFound => "message_not_found", 404: "no such message in this thread.",
    SessionNotFound => "session_not_found", 404: "no such anonymous session in your organization.",
    FileNotFound => "file_not_found", 404: "no such file for this caller (also another principal's file).",
    FolderNotFound => "folder_not_found", 404: "no such folder for this caller (also another principal's folder).",
    MemberNotFound => "member_not_found", 404: "the principal is not a member of this thread.",
    PolicyNotFound => "policy_not_found", 404: "no retention policy of your organization for this product.",
    HoldNotFound => "hold_not_found", 404: "no such legal hold in your organization.",
    ErasureNotFound => "erasure_not_found", 404: "no such erasure for this caller.",
    WebhookNotFound => "webhook_not_found", 404: "no such webhook for this caller (another principal's or organization's).",
    DeliveryNotFound => "delivery_not_found", 404: "no such delivery of this webhook.",
    WebhookUrlRefused => "webhook_url_refused", 422: "the webhook URL is not http(s), holds credentials, does not resolve, or points at an internal address (webhooks.allow_private is off); the message says which.",
    LegalHold => "legal_hold", 409: "a legal hold covers the principal or one of their threads: lift it first.",
    TagNotFound => "tag_not_found", 404: "no thread of yours carries this tag.",
    ShareNotFound => "share_not_found", 404: "no such share link (never made, revoked, its thread deleted, or not for you).",
    BalanceNotFound => "balance_not_found", 404: "no such balance for this caller (another principal's or organization's account).",
    ValidationFailed => "validation_failed", 400: "a value is invalid; `details.field` names it.",
    LimitExceeded => "limit_exceeded", 422: "a value exceeds a configured limit; `details` has field, limit and actual.",
    ParentNotFound => "parent_not_found", 422: "the parent message does not exist.",
    ParentInOtherThread => "parent_in_other_thread", 422: "the parent message is in another thread.",
    ParentDeleted => "parent_deleted", 422: "the parent message is deleted.",
    FolderUnusable => "folder_unusable", 422: "the body's folder_id is not one of your folders (also another principal's folder): a thread is filed only in its owner's folder.",
    MessageUnusable => "message_unusable", 422: "the message cannot be used for this (deleted, another thread, still streaming).",
    ThreadNotWritable => "thread_not_writable", 422: "the thread refuses the change (deleted).",
    OutOfRange => "out_of_range", 422: "a well-formed value outside a range that depends on the moment or the configuration (a session's expires_at); `details.field` names it.",
    InconsistentRequest => "inconsistent_request", 422: "values that are each valid do not fit together (a part on a role that cannot hold it, a call id twice, a tool offered twice, a tool_choice naming no offered tool); `details.field` names it.",
    ToolResultUnpaired => "tool_result_unpaired", 422: "a tool result answers no open call of the assistant message it follows, answers one twice, or leaves one unanswered; `details.call_id` names it.",
    ContentNotJson => "content_not_json", 422: "content_type is json and the content does not parse as JSON.",
    ModelNotAllowed => "model_not_allowed", 422: "the model is unknown or not allowed for you; `details.allowed` lists yours.",
    GenerationInProgress => "generation_in_progress", 409: "a reply is still being generated in this thread.",
    TokenQuotaExceeded => "token_quota_exceeded", 429: "the daily token quota is spent.",
    InsufficientBalance => "insufficient_balance", 402: "the balance cannot cover what the reply may cost; `details` has balance, held, available and required (smallest currency units).",
    ModelError => "model_error", 502: "the model server failed.",
    InvalidCursor => "invalid_cursor", 400: "a pagination cursor is not one this API issued.",
    CursorExpired => "cursor_expired", 410: "the change feed's entries after this cursor are past its retention (events.retention_days); the message says where to read from.",
    Conflict => "conflict", 409: "conflicts with the current state (a taken session id ...).",
    NotRestorable => "not_restorable", 409: "a deleted message that cannot come back: its parent is deleted too (restore that first), or the restore window passed and its content was erased.",
    StorageUnavailable => "storage_unavailable", 503: "the database is unreachable or saturated; retry.",
    Overloaded => "overloaded", 503: "too many requests are waiting for a bounded resource (password checks); retry after Retry-After.",
    InternalError => "internal_error", 500: "an unexpected failure, logged under the request id.",
    Forbidden => "forbidden", 403: "not for this caller: a feature switched off on this server, another organization, or an operation for service principals and org admins.",
    TokenMissing => "token_missing", 401: "no bearer token.",
    TokenMalformed => "token_malformed", 401: "not a readable JWT.",
    TokenUnsigned => "token_unsigned", 401: "`alg: none`.",
    TokenAlgorithmNotAllowed => "token_algorithm_not_allowed", 401: "an algorithm other than the configured one.",
    TokenSignatureInvalid => "token_signature_invalid", 401: "the signature does not verify.",
    TokenExpired => "token_expired", 401: "expired.",
    TokenNotYetValid => "token_not_yet_valid", 401: "not valid yet.",
    TokenIssuerInvalid => "token_issuer_invalid", 401: "wrong issuer.",
    TokenAudienceInvalid => "token_audience_invalid", 401: "wrong audience.",
    TokenIssuerMissing => "token_issuer_missing", 401: "an issuer is configured and the token has no `iss`.",
    TokenAudienceMissing => "token_audience_missing", 401: "an audience is configured and the token has no `aud`.",
    TokenSubjectMissing => "token_subject_missing", 401: "no subject claim.",
    TokenRevoked => "token_revoked", 401: "the token's anonymous session was ended or deleted.",
    InvalidCredentials => "invalid_credentials", 401: "login failed.",
    InvalidRefreshToken => "invalid_refresh_token", 401: "the refresh token is unknown, expired or spent.",
    RateLimited => "rate_limited", 429: "over a rate limit; see Retry-After.",
    PayloadTooLarge => "payload_too_large", 413: "the body exceeds a size limit; for an upload, `details.limit` has limits.file_bytes.",
    FileTypeNotAllowed => "file_type_not_allowed", 422: "the uploaded file's type (sniffed from its bytes) is not allowed; `details` has content_type and allowed.",
    AttachmentNotFound => "attachment_not_found", 422: "an attachment is not one of your files; `details.file_id` names it.",
    ImagesNotSupported => "images_not_supported", 422: "the message has image attachments and the model is not marked as seeing images (models.vision); `details.model` names it.",
    StorageQuotaExceeded => "storage_quota_exceeded", 422: "your files would exceed your storage quota; `details` has quota, used and size (bytes).",
    UnsupportedMediaType => "unsupported_media_type", 415: "the body is not JSON.",
    MalformedJson => "malformed_json", 400: "the JSON body does not parse.",
    MalformedBody => "malformed_body", 400: "the body cannot be read (not UTF-8, cut short).",
    MalformedRequest => "malformed_request", 400: "not valid HTTP/1.1 (a request line or header that does not parse, a URI over the limit); the connection closes.",
    HeadersTooLarge => "headers_too_large", 431: "the request head is over 128 KiB; `details.limit` has the limit; the connection closes.",
    RequestTimeout => "request_timeout", 408: "the request head did not arrive in time; the connection closes.",
    InvalidPath => "invalid_path", 400: "a path parameter is invalid (an id that is not a UUID).",
    InvalidQuery => "invalid_query", 400: "a query parameter is unknown or invalid.",
    OriginNotAllowed => "origin_not_allowed", 403: "a browser page on this origin may not use the API (server.cors.allowed_origins).",
    RouteNotFound => "route_not_found", 404: "no such route.",
    MethodNotAllowed => "method_not_allowed", 405: "the route exists for other methods; see Allow.",
    InvalidIdempotencyKey => "invalid_idempotency_key", 400: "the Idempotency-Key header is not 1-255 printable ASCII characters.",
    IdempotencyKeyReused => "idempotency_key_reused", 422: "the Idempotency-Key was used for a different request.",
    IdempotencyKeyInProgress => "idempotency_key_in_progress", 409: "the first request with this Idempotency-Key is still running.",
    EventsLost => "events_lost", 0: "A WebSocket subscriber fell behind and events were dropped; resume replies with messages.resume.",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a use case failed. `code()` gives the stable snake_case code clients match on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such thread for this principal (also returned for another principal's thread).
    #[error("thread not found")]
    ThreadNotFound,
    /// No such message in this thread.
    #[error("message not found")]
    MessageNotFound,
    /// No such session in the caller's organization.
    #[error("session not found")]
    SessionNotFound,
    /// No such file for this caller.
    #[error("file not found")]
    FileNotFound,
    /// An upload over `limits.file_bytes`.
    #[error("the file exceeds the limit of {limit} bytes (limits.file_bytes)")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// An upload whose type is not allowed.
    #[error("files of type {content_type} are not accepted")]
    FileTypeNotAllowed {
        /// The sniffed type.
        content_type: String,
        /// What is accepted.
        allowed: Vec<String>,
    },
    /// An upload over the owner's storage quota.
    #[error("the file would exceed your storage quota of {quota} bytes ({used} used)")]
    StorageQuotaExceeded {
        /// The quota.
        quota: u64,
        /// Bytes in use.
        used: u64,
        /// The file's size.
        size: u64,
    },
    /// An attachment that is not one of the caller's files.
    #[error("attachment {0} is not one of your files")]
    AttachmentNotFound(chat_threads_domain::FileId),
    /// Images sent to a model that cannot see them.
    #[error("the model {model} does not accept images (models.vision)")]
    ImagesNotSupported {
        /// The model.
        model: String,
    },
    /// No such balance for this caller.
    #[error("balance not found")]
    BalanceNotFound,
    /// No such folder for this caller.
    #[error("folder not found")]
    FolderNotFound,
    /// A folder named in a body (a thread filed in it) that is not one of the caller's.
    #[error("folder_id is not one of your folders")]
    FolderUnusable,
    /// The principal is not a member of the thread.
    #[error("member not found")]
    MemberNotFound,
    /// No such retention policy.
    #[error("retention policy not found")]
    PolicyNotFound,
    /// No such legal hold.
    #[error("legal hold not found")]
    HoldNotFound,
    /// No such erasure for this caller.
    #[error("erasure not found")]
    ErasureNotFound,
    /// No such webhook for this caller.
    #[error("webhook not found")]
    WebhookNotFound,
    /// No such delivery of this webhook.
    #[error("delivery not found")]
    DeliveryNotFound,
    /// A URL webhooks may not be sent to (the reason says why).
    #[error("the webhook URL is refused: {0}")]
    WebhookUrlRefused(String),
    /// A legal hold blocks the erasure.
    #[error("a legal hold covers the principal or one of their threads")]
    LegalHold,
    /// No thread of the caller carries this tag.
    #[error("tag not found")]
    TagNotFound,
    /// No such share link for this viewer.
    #[error("share not found")]
    ShareNotFound,
    /// Input or a tree rule was refused.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The caller is not authenticated.
    #[error(transparent)]
    Auth(#[from] AuthError),
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
    TokenQuotaExceeded {
        /// The quota.
        quota: u64,
        /// Tokens used today.
        used: u64,
    },
    /// The balance cannot cover what a reply may cost; nothing was stored.
    #[error(
        "the balance of {account} cannot cover this reply: {available} available, {required} required"
    )]
    InsufficientBalance {
        /// The paying account.
        account: String,
        /// Its balance.
        balance: i64,
        /// Held by replies still streaming.
        held: i64,
        /// Balance minus holds.
        available: i64,
        /// What the reply holds (the most it may cost).
        required: i64,
    },
    /// The model server failed.
    #[error(transparent)]
    ModelError(#[from] ModelError),
    /// A pagination cursor could not be decoded.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A change feed cursor whose next entries retention removed.
    #[error("cursor expired: {0}")]
    CursorExpired(String),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A deleted message that cannot be restored (the reason says why).
    #[error("not restorable: {0}")]
    NotRestorable(String),
    /// A bounded resource (password hashing) is saturated; retry shortly.
    #[error("too busy: {0}")]
    Overloaded(String),
    /// The database cannot be reached or is overloaded; retrying may help.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(#[source] Cause),
    /// An unexpected failure (storage, a broken invariant). The cause is for logs, never for
    /// clients.
    #[error("internal error: {0}")]
    InternalError(#[source] Cause),
}

/// What an internal failure was doing, with the error that caused it kept as its source (not
/// flattened into text), so the log shows the whole chain.
#[derive(Debug)]
pub struct Cause {
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.context)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl AppError {
    /// An internal failure described by `context`.
    pub fn internal(context: impl Into<String>) -> Self {
        Self::InternalError(Cause {
            context: context.into(),
            source: None,
        })
    }

    /// An internal failure while doing `context`, caused by `source`.
    pub fn internal_from(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::InternalError(Cause {
            context: context.into(),
            source: Some(source.into()),
        })
    }

    /// Storage that cannot be reached or is saturated (worth a retry).
    pub fn unavailable(context: impl Into<String>) -> Self {
        Self::StorageUnavailable(Cause {
            context: context.into(),
            source: None,
        })
    }

    /// Storage unavailable while doing `context`, caused by `source`.
    pub fn unavailable_from(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::StorageUnavailable(Cause {
            context: context.into(),
            source: Some(source.into()),
        })
    }

    /// The whole chain of causes, outermost first, for the log.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            let text = e.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }
}

impl AppError {
    /// The stable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ThreadNotFound => ErrorCode::ThreadNotFound,
            Self::MessageNotFound => ErrorCode::MessageNotFound,
            Self::SessionNotFound => ErrorCode::SessionNotFound,
            Self::BalanceNotFound => ErrorCode::BalanceNotFound,
            Self::FolderNotFound => ErrorCode::FolderNotFound,
            Self::FolderUnusable => ErrorCode::FolderUnusable,
            Self::MemberNotFound => ErrorCode::MemberNotFound,
            Self::PolicyNotFound => ErrorCode::PolicyNotFound,
            Self::HoldNotFound => ErrorCode::HoldNotFound,
            Self::ErasureNotFound => ErrorCode::ErasureNotFound,
            Self::WebhookNotFound => ErrorCode::WebhookNotFound,
            Self::DeliveryNotFound => ErrorCode::DeliveryNotFound,
            Self::WebhookUrlRefused(_) => ErrorCode::WebhookUrlRefused,
            Self::LegalHold => ErrorCode::LegalHold,
            Self::TagNotFound => ErrorCode::TagNotFound,
            Self::ShareNotFound => ErrorCode::ShareNotFound,
            Self::FileNotFound => ErrorCode::FileNotFound,
            Self::AttachmentNotFound(_) => ErrorCode::AttachmentNotFound,
            Self::ImagesNotSupported { .. } => ErrorCode::ImagesNotSupported,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::FileTypeNotAllowed { .. } => ErrorCode::FileTypeNotAllowed,
            Self::StorageQuotaExceeded { .. } => ErrorCode::StorageQuotaExceeded,
            Self::Domain(d) => match d {
                DomainError::ValidationFailed { .. } => ErrorCode::ValidationFailed,
                DomainError::LimitExceeded { .. } => ErrorCode::LimitExceeded,
                DomainError::ParentNotFound(_) => ErrorCode::ParentNotFound,
                DomainError::ParentInOtherThread(_) => ErrorCode::ParentInOtherThread,
                DomainError::ParentDeleted(_) => ErrorCode::ParentDeleted,
                DomainError::MessageUnusable(..) => ErrorCode::MessageUnusable,
                DomainError::ThreadNotWritable(_) => ErrorCode::ThreadNotWritable,
                DomainError::ContentNotJson => ErrorCode::ContentNotJson,
                DomainError::OutOfRange { .. } => ErrorCode::OutOfRange,
                DomainError::ToolResultUnpaired { .. } => ErrorCode::ToolResultUnpaired,
                DomainError::InconsistentRequest { .. } => ErrorCode::InconsistentRequest,
            },
            Self::Auth(a) => a.code(),
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::ModelNotAllowed { .. } => ErrorCode::ModelNotAllowed,
            Self::GenerationInProgress => ErrorCode::GenerationInProgress,
            Self::TokenQuotaExceeded { .. } => ErrorCode::TokenQuotaExceeded,
            Self::InsufficientBalance { .. } => ErrorCode::InsufficientBalance,
            Self::ModelError(_) => ErrorCode::ModelError,
            Self::InvalidCursor => ErrorCode::InvalidCursor,
            Self::CursorExpired(_) => ErrorCode::CursorExpired,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::NotRestorable(_) => ErrorCode::NotRestorable,
            Self::StorageUnavailable(_) => ErrorCode::StorageUnavailable,
            Self::Overloaded(_) => ErrorCode::Overloaded,
            Self::InternalError(_) => ErrorCode::InternalError,
        }
    }
}

/// Why a request was not authenticated. Every variant is a 401 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("a bearer token is required")]
    TokenMissing,
    /// Not a JWT, or its claims cannot be read.
    #[error("the token is malformed")]
    TokenMalformed,
    /// The token declares `alg: none`.
    #[error("unsigned tokens are not accepted")]
    TokenUnsigned,
    /// The token's algorithm is not the one configured for its issuer (e.g. HS256 where RS256
    /// is expected: the HS/RS confusion attack).
    #[error("the token's algorithm is not allowed")]
    TokenAlgorithmNotAllowed,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    TokenSignatureInvalid,
    /// Past `exp` (beyond the leeway).
    #[error("the token has expired")]
    TokenExpired,
    /// Before `nbf` (beyond the leeway).
    #[error("the token is not valid yet")]
    TokenNotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token's issuer is not accepted")]
    TokenIssuerInvalid,
    /// `aud` does not include the configured audience.
    #[error("the token's audience is not accepted")]
    TokenAudienceInvalid,
    /// An issuer is configured and the token has no `iss`.
    #[error("the token has no issuer (iss), and one is required")]
    TokenIssuerMissing,
    /// An audience is configured and the token has no `aud`.
    #[error("the token has no audience (aud), and one is required")]
    TokenAudienceMissing,
    /// The token lacks a subject (under the configured claim name).
    #[error("the token has no subject")]
    TokenSubjectMissing,
    /// Login failed. Deliberately says nothing about which part was wrong.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// A refresh token that is unknown, expired or revoked.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// The token's anonymous session was ended or deleted.
    #[error("the session of this token was ended or deleted")]
    TokenRevoked,
}

impl AuthError {
    /// The stable code.
    pub fn code(self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::TokenMissing => C::TokenMissing,
            Self::TokenMalformed => C::TokenMalformed,
            Self::TokenUnsigned => C::TokenUnsigned,
            Self::TokenAlgorithmNotAllowed => C::TokenAlgorithmNotAllowed,
            Self::TokenSignatureInvalid => C::TokenSignatureInvalid,
            Self::TokenExpired => C::TokenExpired,
            Self::TokenNotYetValid => C::TokenNotYetValid,
            Self::TokenIssuerInvalid => C::TokenIssuerInvalid,
            Self::TokenAudienceInvalid => C::TokenAudienceInvalid,
            Self::TokenIssuerMissing => C::TokenIssuerMissing,
            Self::TokenAudienceMissing => C::TokenAudienceMissing,
            Self::TokenSubjectMissing => C::TokenSubjectMissing,
            Self::InvalidCredentials => C::InvalidCredentials,
            Self::InvalidRefreshToken => C::InvalidRefreshToken,
            Self::TokenRevoked => C::TokenRevoked,
        }
    }
}

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The provider is rate limiting (HTTP 429).
    #[error("the model server is rate limiting requests")]
    RateLimited,
    /// The provider failed (HTTP 5xx) or could not be reached.
    #[error("the model server failed: {0}")]
    Unavailable(String),
    /// No data arrived within the read timeout.
    #[error("the model server stopped answering")]
    Timeout,
    /// The provider refused the request (HTTP 4xx other than 429): bad key, unknown model ...
    #[error("the model server refused the request: {0}")]
    Refused(String),
    /// The response could not be understood.
    #[error("the model server sent something unexpected: {0}")]
    Protocol(String),
}

impl ModelError {
    /// Whether retrying (before any token arrived) may help.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use chat_threads_domain::{FileId, MessageId};

    use super::*;

    /// `FooBar { .. }` / `FooBar(..)` -> `foo_bar`.
    fn snake(debug: &str) -> String {
        let name: String = debug
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    #[test]
    fn every_variant_is_named_after_its_code_and_has_a_status() {
        let m = MessageId::new();
        let domain = [
            DomainError::invalid("x", "y"),
            DomainError::LimitExceeded {
                field: "x",
                limit: 1,
                actual: 2,
            },
            DomainError::ParentNotFound(m),
            DomainError::ParentInOtherThread(m),
            DomainError::ParentDeleted(m),
            DomainError::MessageUnusable(m, "x"),
            DomainError::ThreadNotWritable("x"),
            DomainError::ContentNotJson,
            DomainError::OutOfRange {
                field: "x",
                reason: "y".into(),
            },
            DomainError::ToolResultUnpaired {
                call_id: "c".into(),
                reason: "y".into(),
            },
            DomainError::InconsistentRequest {
                field: "x",
                reason: "y".into(),
            },
        ];
        let auth = [
            AuthError::TokenMissing,
            AuthError::TokenMalformed,
            AuthError::TokenUnsigned,
            AuthError::TokenAlgorithmNotAllowed,
            AuthError::TokenSignatureInvalid,
            AuthError::TokenExpired,
            AuthError::TokenNotYetValid,
            AuthError::TokenIssuerInvalid,
            AuthError::TokenAudienceInvalid,
            AuthError::TokenIssuerMissing,
            AuthError::TokenAudienceMissing,
            AuthError::TokenSubjectMissing,
            AuthError::InvalidCredentials,
            AuthError::InvalidRefreshToken,
            AuthError::TokenRevoked,
        ];
        let mut errors: Vec<AppError> = vec![
            AppError::ThreadNotFound,
            AppError::MessageNotFound,
            AppError::SessionNotFound,
            AppError::FileNotFound,
            AppError::PayloadTooLarge { limit: 1 },
            AppError::FileTypeNotAllowed {
                content_type: "x".into(),
                allowed: vec![],
            },
            AppError::StorageQuotaExceeded {
                quota: 1,
                used: 1,
                size: 1,
            },
            AppError::AttachmentNotFound(FileId::new()),
            AppError::ImagesNotSupported { model: "x".into() },
            AppError::BalanceNotFound,
            AppError::FolderNotFound,
            AppError::FolderUnusable,
            AppError::MemberNotFound,
            AppError::PolicyNotFound,
            AppError::HoldNotFound,
            AppError::ErasureNotFound,
            AppError::WebhookNotFound,
            AppError::DeliveryNotFound,
            AppError::WebhookUrlRefused("x".into()),
            AppError::LegalHold,
            AppError::TagNotFound,
            AppError::ShareNotFound,
            AppError::Forbidden("x".into()),
            AppError::ModelNotAllowed {
                model: "x".into(),
                allowed: vec![],
            },
            AppError::GenerationInProgress,
            AppError::TokenQuotaExceeded { quota: 1, used: 2 },
            AppError::InsufficientBalance {
                account: "x".into(),
                balance: 0,
                held: 0,
                available: 0,
                required: 1,
            },
            AppError::ModelError(ModelError::Timeout),
            AppError::InvalidCursor,
            AppError::CursorExpired("x".into()),
            AppError::Conflict("x".into()),
            AppError::NotRestorable("x".into()),
            AppError::Overloaded("x".into()),
            AppError::unavailable("x"),
            AppError::internal_from("x", "y"),
        ];
        errors.extend(domain.into_iter().map(AppError::Domain));
        errors.extend(auth.into_iter().map(AppError::Auth));
        for e in &errors {
            let name = match e {
                AppError::Domain(d) => format!("{d:?}"),
                AppError::Auth(a) => format!("{a:?}"),
                other => format!("{other:?}"),
            };
            assert_eq!(snake(&name), e.code().as_str(), "{e:?}");
            assert!(e.code().status().is_some(), "{e:?} has no HTTP status");
        }
    }

    #[test]
    fn an_internal_error_keeps_its_cause() {
        let io = std::io::Error::other("disk on fire");
        let e = AppError::internal_from("storing a reply", io);
        assert_eq!(e.to_string(), "internal error: storing a reply");
        assert_eq!(e.chain(), "internal error: storing a reply: disk on fire");
        assert_eq!(e.code(), ErrorCode::InternalError);
        assert_eq!(ErrorCode::EventsLost.status(), None);
        assert_eq!(ErrorCode::ThreadNotFound.status(), Some(404));
    }
}
