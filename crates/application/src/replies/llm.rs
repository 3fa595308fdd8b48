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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model, as the provider names it.
    pub model: String,
    /// The prompt.
    pub messages: Vec<ChatMessage>,
    /// Upper bound on the reply's tokens, if any.
    pub max_tokens: Option<u32>,
    /// How to sample, as the caller asked; unset fields leave the model server's defaults.
    pub sampling: Sampling,
    /// Who is asking, for the model server's abuse monitoring: a stable hash of the principal
    /// (OpenAI's `user`), never the principal itself.
    pub user: Option<String>,
}

/// Sampling settings a caller may set for a reply, passed to the model server as OpenAI's chat
/// completions name them. Absent means the model server's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Sampling {
    /// 0 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Above 0, at most 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Up to 4 sequences, each 1 to 64 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// For reproducible sampling where the model server supports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// -2 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// -2 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Structured output: `{"type": "json_object"}` or `{"type": "json_schema", "json_schema":
    /// {"name", "schema", "strict"?}}` (`{"type": "text"}` is the default and is dropped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

impl Sampling {
    /// Checks every setting is in range, naming the one that is not.
    pub fn check(self) -> Result<Self, crate::error::AppError> {
        use chat_threads_domain::DomainError;
        let range = |field: &'static str, v: Option<f64>, lo: f64, hi: f64, open_lo: bool| match v {
            Some(x) if !x.is_finite() || x > hi || x < lo || (open_lo && x <= lo) => Err(
                DomainError::invalid(field, format!("must be between {lo} and {hi}")),
            ),
            _ => Ok(()),
        };
        range("temperature", self.temperature, 0.0, 2.0, false)?;
        range("top_p", self.top_p, 0.0, 1.0, true)?;
        range("presence_penalty", self.presence_penalty, -2.0, 2.0, false)?;
        range(
            "frequency_penalty",
            self.frequency_penalty,
            -2.0,
            2.0,
            false,
        )?;
        if let Some(stop) = &self.stop
            && (stop.len() > 4
                || stop
                    .iter()
                    .any(|s| s.is_empty() || s.chars().count() > 64 || s.contains('\0')))
        {
            return Err(DomainError::invalid(
                "stop",
                "at most 4 sequences of 1 to 64 characters, without NUL",
            )
            .into());
        }
        let response_format = match self.response_format {
            None => None,
            Some(format) => check_format(format)?,
        };
        Ok(Self {
            response_format,
            ..self
        })
    }
}

/// The principal as OpenAI's `user` field: a stable, one-way hash of who owns the request
/// (`u_` and 32 hex digits), so the model server can tell callers apart without learning who
/// they are.
pub fn user_id(who: &chat_threads_domain::Principal) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(who.owner().as_str().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("u_{hex}")
}

/// Largest JSON schema a structured-output request may carry.
const SCHEMA_BYTES: usize = 64 * 1024;

/// A `response_format`: `text` (dropped: it is the default), `json_object`, or `json_schema`
/// with a name and an object schema.
fn check_format(
    format: serde_json::Value,
) -> Result<Option<serde_json::Value>, crate::error::AppError> {
    use chat_threads_domain::DomainError;
    let bad = |reason: &str| -> crate::error::AppError {
        DomainError::invalid("response_format", reason.to_owned()).into()
    };
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(serde_json::json!({"type": "json_object"}))),
        Some("json_schema") => {
            let spec = &format["json_schema"];
            let name_ok = spec["name"].as_str().is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= 64
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
            if !name_ok {
                return Err(bad("json_schema.name must be 1-64 letters, digits, _ or -"));
            }
            if !spec["schema"].is_object() {
                return Err(bad("json_schema.schema must be a JSON Schema object"));
            }
            if spec.to_string().len() > SCHEMA_BYTES {
                return Err(bad("json_schema is over 64 KiB"));
            }
            Ok(Some(format))
        }
        _ => Err(bad("type must be text, json_object or json_schema")),
    }
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
