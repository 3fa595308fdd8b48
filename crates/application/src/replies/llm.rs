//! The language-model port: a streaming chat call that stops when the stream is dropped.

use std::pin::Pin;
use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;

pub use crate::error::ModelError;
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
