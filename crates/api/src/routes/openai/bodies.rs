//! The request bodies of the OpenAI-compatible surface, typed. Each field says what the service
//! does with it: **honoured** (it changes the answer), **accepted** (read and ignored, because it
//! cannot change anything here), or — any field not listed — **refused** with 400
//! `validation_failed` whose `param` names it (`temperature`, `messages[2].tool_calls`), never
//! silently dropped. docs/openai.md lists the same.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::bad;
use crate::error::ApiError;

/// `POST /openai/v1/chat/completions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatCompletionBody {
    /// Honoured: the model, one of `GET /openai/v1/models`.
    pub model: String,
    /// Honoured: the conversation; the last message is answered.
    pub messages: Vec<ChatMessageBody>,
    /// Honoured: stream `chat.completion.chunk` events.
    pub stream: Option<bool>,
    /// Honoured: `include_usage` adds a usage chunk to a stream.
    pub stream_options: Option<StreamOptions>,
    /// Honoured: the most tokens the reply may take (capped by `replies.max_tokens`).
    pub max_tokens: Option<u32>,
    /// Honoured: the same, under its newer name (wins over `max_tokens`).
    pub max_completion_tokens: Option<u32>,
    /// Honoured: keep the exchange as a thread (default false).
    pub store: Option<bool>,
    /// Honoured with `store`: the thread's metadata.
    pub metadata: Option<Map<String, Value>>,
    /// Honoured: only 1.
    pub n: Option<u32>,
    /// Accepted: the caller is known from the token.
    #[allow(dead_code)]
    pub user: Option<String>,
}

/// A message of a chat completion request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatMessageBody {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// A string, or a list of `text` and `image_url` parts.
    #[serde(default)]
    pub content: Value,
    /// Accepted: a participant's name.
    #[allow(dead_code)]
    pub name: Option<String>,
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamOptions {
    /// Honoured.
    pub include_usage: Option<bool>,
}

/// `POST /openai/v1/responses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResponseBody {
    /// Honoured: the model; default the thread's, else the server's.
    pub model: Option<String>,
    /// Honoured: a string, or a list of message items ending with the user's.
    pub input: Value,
    /// Honoured: the thread's system prompt.
    pub instructions: Option<String>,
    /// Honoured: continue (or branch) after this response.
    pub previous_response_id: Option<String>,
    /// Honoured: append to this conversation (an id, or `{"id": …}`).
    pub conversation: Option<ConversationRef>,
    /// Honoured: keep the response (default true).
    pub store: Option<bool>,
    /// Honoured: kept with the response.
    pub metadata: Option<Map<String, Value>>,
    /// Honoured: the most tokens the reply may take.
    pub max_output_tokens: Option<u32>,
    /// Honoured: stream the response's events.
    pub stream: Option<bool>,
    /// Accepted: the caller is known from the token.
    #[allow(dead_code)]
    pub user: Option<String>,
}

/// A conversation named by id or as `{"id": …}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ConversationRef {
    /// `"conv_…"`.
    Id(String),
    /// `{"id": "conv_…"}`.
    Object {
        /// The id.
        id: String,
    },
}

impl ConversationRef {
    /// The id.
    pub fn id(self) -> String {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

/// `POST /openai/v1/conversations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConversationBody {
    /// Honoured: the first items, stored in order.
    pub items: Option<Value>,
    /// Honoured: the conversation's (thread's) metadata.
    pub metadata: Option<Map<String, Value>>,
}

/// `POST /openai/v1/conversations/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConversationUpdateBody {
    /// Honoured: replaces the metadata.
    pub metadata: Map<String, Value>,
}

/// `POST /openai/v1/conversations/{id}/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemsBody {
    /// Honoured: the items, appended in order.
    pub items: Value,
}

/// A token limit, which must be at least 1.
pub(super) fn positive(field: &'static str, n: Option<u32>) -> Result<Option<u32>, ApiError> {
    match n {
        Some(0) => Err(bad(field, "must be a positive whole number")),
        n => Ok(n),
    }
}

/// Reads a body of the scope, naming what is refused.
pub(super) fn read<T: serde::de::DeserializeOwned>(body: Value, what: &str) -> Result<T, ApiError> {
    if !body.is_object() {
        return Err(bad("body", "must be a JSON object"));
    }
    crate::extractors::typed(body, what)
}
