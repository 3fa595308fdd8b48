//! The request bodies of the OpenAI-compatible surface, typed. Each field says what the service
//! does with it: **honoured** (it changes the answer), **accepted** (read and ignored, because it
//! cannot change anything here), or — any field not listed — **refused** with 400
//! `validation_failed` whose `param` names it (`temperature`, `messages[2].tool_calls`), never
//! silently dropped. docs/openai.md lists the same.

use serde::Deserialize;
use serde_json::{Map, Value};

use chat_threads_application::replies::Sampling;
use chat_threads_application::replies::llm::{ToolChoice, ToolDef, ToolOffer};

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
    /// Honoured: sampling, passed to the model server.
    pub temperature: Option<f64>,
    /// Honoured.
    pub top_p: Option<f64>,
    /// Honoured: a string or up to 4.
    pub stop: Option<Stop>,
    /// Honoured.
    pub seed: Option<i64>,
    /// Honoured.
    pub presence_penalty: Option<f64>,
    /// Honoured.
    pub frequency_penalty: Option<f64>,
    /// Honoured: `text`, `json_object` or `json_schema`.
    pub response_format: Option<Value>,
    /// Honoured: function tools the model may call (the caller runs them; not with `store`).
    pub tools: Option<Vec<ToolBody>>,
    /// Honoured: `auto`, `none`, `required` or `{"type": "function", "function": {"name"}}`.
    pub tool_choice: Option<Value>,
    /// Honoured.
    pub parallel_tool_calls: Option<bool>,
    /// Accepted as false.
    pub logprobs: Option<bool>,
    /// Accepted: the model server's reasoning effort is its own default.
    #[allow(dead_code)]
    pub reasoning_effort: Option<String>,
    /// Accepted: the caller is known from the token (the model server gets a hash of it).
    #[allow(dead_code)]
    pub user: Option<String>,
    /// Accepted, like `user`.
    #[allow(dead_code)]
    pub safety_identifier: Option<String>,
    /// Accepted: the service picks the model server.
    #[allow(dead_code)]
    pub service_tier: Option<String>,
    /// Accepted: caching is the model server's.
    #[allow(dead_code)]
    pub prompt_cache_key: Option<String>,
}

/// A tool of a chat completion request: a function.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolBody {
    /// `function` (others are refused naming `tools`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: Option<FunctionBody>,
}

/// A function tool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FunctionBody {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// A JSON Schema object of its arguments (default: no arguments).
    pub parameters: Option<Value>,
    /// Whether the model must follow the schema exactly.
    pub strict: Option<bool>,
}

/// A tool call of an assistant message in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolCallBody {
    /// The call's id.
    pub id: String,
    /// `function`.
    #[serde(rename = "type")]
    #[allow(dead_code)]
    pub kind: Option<String>,
    /// The function called.
    pub function: CalledBody,
}

/// The function of a tool call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CalledBody {
    /// The tool.
    pub name: String,
    /// Its arguments, JSON text.
    pub arguments: String,
}

impl ChatCompletionBody {
    /// The tools offered to the model, checked.
    pub fn offer(&self) -> Result<ToolOffer, ApiError> {
        let choice = tool_choice(self.tool_choice.as_ref())?;
        let mut tools = Vec::new();
        for t in self.tools.iter().flatten() {
            match (t.kind.as_str(), &t.function) {
                ("function", Some(f)) => tools.push(ToolDef {
                    name: f.name.clone(),
                    description: f.description.clone(),
                    parameters: f
                        .parameters
                        .clone()
                        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
                    strict: f.strict,
                }),
                ("function", None) => return Err(bad("tools", "a function tool needs `function`")),
                (kind, _) => return Err(hosted(kind)),
            }
        }
        let offer = ToolOffer {
            tools,
            choice,
            parallel: self.parallel_tool_calls,
            servers: Vec::new(),
        };
        chat_threads_application::replies::llm::check_tools(&offer.tools, offer.choice.as_ref())?;
        Ok(offer)
    }

    /// The sampling settings, and a refusal of what cannot be honoured.
    pub fn sampling(&self) -> Result<Sampling, ApiError> {
        if self.logprobs == Some(true) {
            return Err(bad("logprobs", "log probabilities are not supported"));
        }
        Ok(Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            stop: self.stop.clone().map(Stop::into_vec),
            seed: self.seed,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            response_format: self.response_format.clone(),
        })
    }
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Stop {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Stop {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `tool_choice` as chat completions and Responses write it: `auto`, `none`, `required`, or a
/// function by name (`name` flat in Responses, under `function` in chat completions).
fn tool_choice(choice: Option<&Value>) -> Result<Option<ToolChoice>, ApiError> {
    let refuse = || bad("tool_choice", "must be auto, none, required or a function");
    Ok(match choice {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(match c.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => return Err(refuse()),
        }),
        Some(v) if v["type"] == "function" => {
            let name = v["name"]
                .as_str()
                .or_else(|| v.pointer("/function/name").and_then(Value::as_str));
            Some(ToolChoice::Named(name.ok_or_else(refuse)?.to_owned()))
        }
        Some(_) => return Err(refuse()),
    })
}

/// An `mcp` tool of Responses: a configured MCP server named by `server_label`, optionally
/// narrowed by `allowed_tools` (a list of names, or `{"tool_names": [...]}`). A server given by
/// URL or connector, headers, and approvals other than `never` are refused: the service runs
/// only the servers its configuration names, without asking.
fn mcp_use(t: &Value) -> Result<chat_threads_application::replies::mcp::McpUse, ApiError> {
    let refuse = |why: &str| bad("tools", format!("mcp tool: {why}"));
    let Some(server) = t["server_label"].as_str() else {
        return Err(refuse("server_label names the configured server to use"));
    };
    for key in ["server_url", "connector_id", "headers", "authorization"] {
        if t.get(key).is_some_and(|v| !v.is_null()) {
            return Err(refuse(&format!(
                "{key} is not taken: name a configured server by server_label"
            )));
        }
    }
    match &t["require_approval"] {
        Value::Null => {}
        Value::String(s) if s == "never" => {}
        _ => {
            return Err(refuse(
                "require_approval must be never (approvals are not supported)",
            ));
        }
    }
    let known = [
        "type",
        "server_label",
        "server_description",
        "allowed_tools",
        "require_approval",
        "server_url",
        "connector_id",
        "headers",
        "authorization",
    ];
    if let Some(key) = t
        .as_object()
        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
    {
        return Err(refuse(&format!("unknown field {key}")));
    }
    let names = |v: &Value| -> Result<Vec<String>, ApiError> {
        v.as_array()
            .ok_or_else(|| refuse("allowed_tools must list tool names"))?
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| refuse("allowed_tools must list tool names"))
            })
            .collect()
    };
    let tools = match &t["allowed_tools"] {
        Value::Null => None,
        Value::Array(_) => Some(names(&t["allowed_tools"])?),
        Value::Object(o) => match o.get("tool_names") {
            Some(v) => Some(names(v)?),
            None => None,
        },
        _ => return Err(refuse("allowed_tools must list tool names")),
    };
    Ok(chat_threads_application::replies::mcp::McpUse {
        server: server.to_owned(),
        tools,
    })
}

/// A tool of a kind that runs at OpenAI (web search, file search, code interpreter, computer
/// use, image generation …): refused naming it, since nothing here can run it.
fn hosted(kind: &str) -> ApiError {
    bad(
        "tools",
        format!(
            "{kind} tools run at OpenAI and are not supported here (function tools are; see docs/openai.md)"
        ),
    )
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
    /// Honoured when unstored (letters, digits, `_`, `-`, at most 64): a participant's name,
    /// passed to the model; otherwise accepted and not kept.
    pub name: Option<String>,
    /// Honoured (assistant messages): the tools it called.
    pub tool_calls: Option<Vec<ToolCallBody>>,
    /// Honoured (`tool` messages): the call this result answers.
    pub tool_call_id: Option<String>,
    /// Accepted: an assistant's refusal text.
    #[allow(dead_code)]
    pub refusal: Option<String>,
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
    /// Honoured: sampling, passed to the model server.
    pub temperature: Option<f64>,
    /// Honoured.
    pub top_p: Option<f64>,
    /// Honoured: `text.format` (`text`, `json_object` or `json_schema`).
    pub text: Option<TextOptions>,
    /// Honoured: function tools (`{"type": "function", "name", "description"?, "parameters"?,
    /// "strict"?}`); hosted tools are refused naming their type.
    pub tools: Option<Vec<Value>>,
    /// Honoured: `auto`, `none`, `required` or `{"type": "function", "name"}`.
    pub tool_choice: Option<Value>,
    /// Honoured.
    pub parallel_tool_calls: Option<bool>,
    /// Accepted: what the output includes is always the same (message items with text).
    #[allow(dead_code)]
    pub include: Option<Vec<String>>,
    /// Accepted: the model server's reasoning settings are its own.
    #[allow(dead_code)]
    pub reasoning: Option<Value>,
    /// Accepted as `disabled` or `auto`: the context always fits `replies.context_tokens`.
    pub truncation: Option<String>,
    /// Honoured: the response is answered at once (`queued`) and runs on with no client;
    /// poll `GET /responses/{id}` (`queued`, `in_progress`, then how it ended) or cancel it.
    /// Needs `store`.
    pub background: Option<bool>,
    /// Accepted: the caller is known from the token (the model server gets a hash of it).
    #[allow(dead_code)]
    pub user: Option<String>,
    /// Accepted, like `user`.
    #[allow(dead_code)]
    pub safety_identifier: Option<String>,
    /// Accepted: the service picks the model server.
    #[allow(dead_code)]
    pub service_tier: Option<String>,
    /// Accepted: caching is the model server's.
    #[allow(dead_code)]
    pub prompt_cache_key: Option<String>,
}

/// `text` of a Responses request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TextOptions {
    /// Honoured: `{"type": "text"}`, `{"type": "json_object"}` or `{"type": "json_schema",
    /// "name", "schema", "strict"?, "description"?}`.
    pub format: Option<Value>,
    /// Accepted: the model server's default.
    #[allow(dead_code)]
    pub verbosity: Option<String>,
}

impl ResponseBody {
    /// The function tools offered to the model (Responses' flat shape), checked.
    pub fn offer(&self) -> Result<ToolOffer, ApiError> {
        let mut tools = Vec::new();
        let mut servers = Vec::new();
        for t in self.tools.iter().flatten() {
            match t["type"].as_str() {
                Some("function") => {
                    let text = |key: &str| t[key].as_str().map(str::to_owned);
                    let Some(name) = text("name") else {
                        return Err(bad("tools", "a function tool needs a name"));
                    };
                    if t.get("description")
                        .is_some_and(|d| !d.is_string() && !d.is_null())
                        || t.get("strict")
                            .is_some_and(|d| !d.is_boolean() && !d.is_null())
                    {
                        return Err(bad(
                            "tools",
                            format!(
                                "tool {name}: description must be a string, strict true or false"
                            ),
                        ));
                    }
                    let known = ["type", "name", "description", "parameters", "strict"];
                    if let Some(key) = t
                        .as_object()
                        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
                    {
                        return Err(bad("tools", format!("tool {name}: unknown field {key}")));
                    }
                    tools.push(ToolDef {
                        name,
                        description: text("description"),
                        parameters: match &t["parameters"] {
                            Value::Null => serde_json::json!({"type": "object", "properties": {}}),
                            p => p.clone(),
                        },
                        strict: t["strict"].as_bool(),
                    });
                }
                Some("mcp") => servers.push(mcp_use(t)?),
                Some(kind) => return Err(hosted(kind)),
                None => return Err(bad("tools", "every tool needs a type")),
            }
        }
        let offer = ToolOffer {
            tools,
            choice: tool_choice(self.tool_choice.as_ref())?,
            parallel: self.parallel_tool_calls,
            servers,
        };
        chat_threads_application::replies::llm::check_tools(&offer.tools, offer.choice.as_ref())?;
        Ok(offer)
    }

    /// The sampling settings, and a refusal of what cannot be honoured.
    pub fn sampling(&self) -> Result<Sampling, ApiError> {
        if let Some(t) = &self.truncation
            && t != "disabled"
            && t != "auto"
        {
            return Err(bad("truncation", "must be disabled or auto"));
        }
        // Responses' flat `text.format` is chat completions' `response_format`.
        let response_format = match self.text.as_ref().and_then(|t| t.format.as_ref()) {
            Some(f) if f["type"] == "json_schema" => {
                let mut spec = serde_json::Map::new();
                for key in ["name", "schema", "strict", "description"] {
                    if let Some(v) = f.get(key) {
                        spec.insert(key.to_owned(), v.clone());
                    }
                }
                Some(serde_json::json!({"type": "json_schema", "json_schema": spec}))
            }
            other => other.cloned(),
        };
        Ok(Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            response_format,
            ..Sampling::default()
        })
    }
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
