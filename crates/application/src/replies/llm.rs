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
    /// The tools an assistant message called.
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    pub tool_call_id: Option<String>,
    /// Who speaks (OpenAI's `name`), for a thread several people write in (see
    /// [`crate::replies::prompt::messages`]).
    pub name: Option<String>,
}

/// A tool the model called: its call id, the tool's name and the arguments as JSON text (kept
/// as the model wrote them, even when they do not parse).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The call's id, which its result names.
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments, JSON text.
    pub arguments: String,
}

/// A tool the model may call: a function the caller runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolDef {
    /// `^[A-Za-z0-9_-]{1,64}$`.
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// A JSON Schema object of its arguments.
    pub parameters: serde_json::Value,
    /// Whether the model must follow the schema exactly.
    pub strict: Option<bool>,
}

/// Whether and which tools the model should call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool.
    None,
    /// At least one tool.
    Required,
    /// This tool.
    Named(String),
}

/// The tools a request offers the model, and how it may use them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolOffer {
    /// The tools.
    pub tools: Vec<ToolDef>,
    /// Whether and which to call.
    pub choice: Option<ToolChoice>,
    /// Whether several calls may come at once.
    pub parallel: Option<bool>,
    /// MCP servers whose tools the service runs for this reply (see [`crate::replies::mcp`]).
    pub servers: Vec<crate::replies::mcp::McpUse>,
}

/// Most tools one request may offer.
pub const MAX_TOOLS: usize = 64;
/// Largest tool definition (name, description and schema), bytes.
pub const MAX_TOOL_BYTES: usize = 64 * 1024;

/// Checks the tools a request offers and the choice among them, naming what is wrong.
pub fn check_tools(
    tools: &[ToolDef],
    choice: Option<&ToolChoice>,
) -> Result<(), crate::error::AppError> {
    use chat_threads_domain::DomainError;
    let bad =
        |reason: String| -> crate::error::AppError { DomainError::invalid("tools", reason).into() };
    if tools.len() > MAX_TOOLS {
        return Err(bad(format!("at most {MAX_TOOLS} tools")));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tools {
        let name_ok = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(bad(format!(
                "tool name {:?} must be 1-64 letters, digits, _ or -",
                t.name
            )));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(DomainError::inconsistent(
                "tools",
                format!("tool {} is offered twice", t.name),
            )
            .into());
        }
        if !t.parameters.is_object() {
            return Err(bad(format!(
                "tool {}: parameters must be a JSON Schema object",
                t.name
            )));
        }
        let size = t.name.len()
            + t.description.as_ref().map_or(0, String::len)
            + t.parameters.to_string().len();
        if t.description.as_ref().is_some_and(|d| d.contains('\0')) {
            return Err(bad(format!("tool {}: the description holds NUL", t.name)));
        }
        if size > MAX_TOOL_BYTES {
            return Err(DomainError::LimitExceeded {
                field: "tools",
                limit: MAX_TOOL_BYTES,
                actual: size,
            }
            .into());
        }
    }
    match choice {
        Some(ToolChoice::Required) if tools.is_empty() => Err(DomainError::inconsistent(
            "tool_choice",
            "required, but no tools are offered",
        )
        .into()),
        Some(ToolChoice::Named(name)) if !tools.iter().any(|t| &t.name == name) => Err(
            DomainError::inconsistent("tool_choice", format!("no tool named {name} is offered"))
                .into(),
        ),
        _ => Ok(()),
    }
}

impl ChatMessage {
    /// A message of text only.
    pub fn text(role: &'static str, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            ..Self::default()
        }
    }
}

/// As the OpenAI chat completions API takes it: `content` is the text, or, with images, a list
/// of content parts (the text, then one `image_url` part per image).
impl Serialize for ChatMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", self.role)?;
        if !self.tool_calls.is_empty() {
            let calls: Vec<serde_json::Value> = self
                .tool_calls
                .iter()
                .map(|c| {
                    serde_json::json!({"id": c.id, "type": "function",
                                       "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            map.serialize_entry("tool_calls", &calls)?;
        }
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        if let Some(name) = &self.name {
            map.serialize_entry("name", name)?;
        }
        if self.images.is_empty() {
            if self.content.is_empty() && !self.tool_calls.is_empty() {
                map.serialize_entry("content", &serde_json::Value::Null)?;
            } else {
                map.serialize_entry("content", &self.content)?;
            }
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
    /// Tools the model may call (the caller runs them).
    pub tools: Vec<ToolDef>,
    /// Whether and which tools to call.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools at once.
    pub parallel_tool_calls: Option<bool>,
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
            if spec.get("strict").is_some_and(|s| !s.is_boolean()) {
                return Err(bad("json_schema.strict must be true or false"));
            }
            if spec.get("description").is_some_and(|d| !d.is_string()) {
                return Err(bad("json_schema.description must be a string"));
            }
            if spec.to_string().len() > SCHEMA_BYTES {
                return Err(bad("json_schema is over 64 KiB"));
            }
            // Only what chat completions defines goes on to the model server.
            let mut kept = serde_json::Map::new();
            for key in ["name", "description", "schema", "strict"] {
                if let Some(v) = spec.get(key) {
                    kept.insert(key.to_owned(), v.clone());
                }
            }
            Ok(Some(
                serde_json::json!({"type": "json_schema", "json_schema": kept}),
            ))
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
    /// A piece of the model's reasoning, as servers that show it send it (`reasoning_content`
    /// or `reasoning` in a delta: vLLM, DeepSeek, Ollama, OpenRouter).
    Reasoning(String),
    /// A piece of a tool call: the call at `index` of this answer; its id and name come with its
    /// first piece, its arguments (JSON text) in fragments.
    ToolCall {
        /// Which call of the answer.
        index: u32,
        /// The call's id (first piece).
        id: Option<String>,
        /// The tool (first piece).
        name: Option<String>,
        /// The next fragment of its arguments.
        arguments: String,
    },
}

/// Assembles tool calls from their pieces, in index order.
#[derive(Debug, Default, Clone)]
pub struct ToolCalls(std::collections::BTreeMap<u32, ToolCall>);

impl ToolCalls {
    /// Adds a piece.
    pub fn add(&mut self, index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) {
        let call = self.0.entry(index).or_default();
        if let Some(id) = id {
            call.id = id.to_owned();
        }
        if let Some(name) = name {
            call.name.push_str(name);
        }
        call.arguments.push_str(arguments);
    }

    /// The calls, in order; a call the model gave no id gets one.
    pub fn finish(self) -> Vec<ToolCall> {
        self.0
            .into_iter()
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect()
    }

    /// Whether any call arrived.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
