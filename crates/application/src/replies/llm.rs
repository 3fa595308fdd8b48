//! The language-model port: a streaming chat call that stops when the stream is dropped.

use std::pin::Pin;
use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;

pub use crate::error::ModelError;
pub use crate::usage::Usage;

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// The text.
    pub content: String,
    /// Images sent with the text (`data:` URLs), for models that see images.
    pub images: Vec<String>,
}

impl ChatMessage {
    /// A message of text only.
    pub fn text(role: &'static str, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            images: Vec::new(),
        }
    }
}

/// As the OpenAI chat completions API takes it: `content` is the text, or, with images, a list
/// of content parts (the text, then one `image_url` part per image).
impl Serialize for ChatMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("role", self.role)?;
        if self.images.is_empty() {
            map.serialize_entry("content", &self.content)?;
        } else {
            let mut parts = vec![serde_json::json!({"type": "text", "text": self.content})];
            parts.extend(
                self.images
                    .iter()
                    .map(|url| serde_json::json!({"type": "image_url", "image_url": {"url": url}})),
            );
            map.serialize_entry("content", &parts)?;
        }
        map.end()
    }
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
