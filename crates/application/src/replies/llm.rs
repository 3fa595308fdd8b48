//! The language-model port: a streaming chat call that stops when the stream is dropped.

use std::pin::Pin;
use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;

pub use crate::usage::Usage;

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// A chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    /// The model, as the provider names it.
    pub model: String,
    /// The prompt.
    pub messages: Vec<ChatMessage>,
    /// Upper bound on the reply's tokens, if any.
    pub max_tokens: Option<u32>,
}

/// What a streaming call yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// More text.
    Delta(String),
    /// The provider's usage report (usually last).
    Usage(Usage),
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

/// The stream of a call; dropping it cancels the call.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ModelError>> + Send>>;

/// A model server.
pub trait LanguageModel: Send + Sync + 'static {
    /// Starts a streaming chat completion.
    fn stream(&self, request: ChatRequest) -> ChatStream;
}

/// A shared model.
pub type SharedModel = Arc<dyn LanguageModel>;

/// Counts tokens the way models do, to fit a prompt into a budget.
pub trait TokenCounter: Send + Sync + 'static {
    /// Tokens in a text.
    fn count(&self, text: &str) -> usize;
}
