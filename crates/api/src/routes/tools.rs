//! Client-side tools natively: the tools a reply may call (on chat, regenerate and resend), and
//! the results the caller sends back to a reply that called them, which continue it.

use actix_web::{HttpRequest, HttpResponse, web};
use chat_threads_application::replies::ToolResultsInput;
use chat_threads_application::replies::llm::{ToolChoice, ToolDef, ToolOffer};
use chat_threads_application::replies::mcp::McpUse;
use chat_threads_domain::Part;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::{MessagePath, SamplingDto};
use crate::error::{ApiError, ErrorBody};
use crate::routes::replies::{ReplyDto, answer, wants_stream};
use crate::state::{AppState, Deps};

/// A function the model may call. Your code runs it and sends the result back with `POST
/// .../messages/{id}/tool_results`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDto {
    /// 1-64 letters, digits, `_` or `-`; unique among the tools of a request.
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// A JSON Schema object of its arguments (default: no arguments).
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    /// Whether the model must follow the schema exactly (where the model server supports it).
    pub strict: Option<bool>,
}

/// Whether the model calls tools: `auto` (it decides; the default), `none`, `required` (at
/// least one), or `{"name": …}` (that tool).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ToolChoiceDto {
    /// `auto`, `none` or `required`.
    Mode(ToolMode),
    /// One tool, by name.
    Named(NamedTool),
}

/// How the model may use the tools.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    Auto,
    None,
    Required,
}

/// A tool the model must call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedTool {
    /// One of the request's tools.
    pub name: String,
}

/// The tools as the model port takes them (checked by the use case): the caller's, and the
/// MCP servers the service runs tools on.
pub fn offer(
    tools: Vec<ToolDto>,
    choice: Option<ToolChoiceDto>,
    parallel: Option<bool>,
    servers: Vec<String>,
) -> ToolOffer {
    ToolOffer {
        servers: servers
            .into_iter()
            .map(|server| McpUse {
                server,
                tools: None,
            })
            .collect(),
        tools: tools
            .into_iter()
            .map(|t| ToolDef {
                name: t.name,
                description: t.description,
                parameters: t
                    .parameters
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
                strict: t.strict,
            })
            .collect(),
        choice: choice.map(|c| match c {
            ToolChoiceDto::Mode(ToolMode::Auto) => ToolChoice::Auto,
            ToolChoiceDto::Mode(ToolMode::None) => ToolChoice::None,
            ToolChoiceDto::Mode(ToolMode::Required) => ToolChoice::Required,
            ToolChoiceDto::Named(n) => ToolChoice::Named(n.name),
        }),
        parallel,
    }
}

/// A tool's result.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolResultDto {
    /// The call it answers (a `tool_call` part's `call_id`).
    pub call_id: String,
    /// What the tool returned: a string, or any JSON value (sent to the model as JSON text).
    pub output: serde_json::Value,
    /// Whether the tool failed (the output says how).
    #[serde(default)]
    pub is_error: bool,
}

/// The results of a reply's tool calls, and how the reply that continues from them is made.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolResultsBody {
    /// One result per call of the reply (`status: requires_action`), all in one request.
    #[schema(min_items = 1, max_items = 128)]
    pub results: Vec<ToolResultDto>,
    /// Model of the continuation; default the calling reply's.
    pub model: Option<String>,
    /// Stream the continuation as Server-Sent Events (same as `Accept: text/event-stream`).
    pub stream: Option<bool>,
    /// Answer 202 at once (the tool message and the reply's placeholder); the reply runs on
    /// with no client (see `background` on chat).
    pub background: Option<bool>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    /// Sampling settings for the continuation.
    pub sampling: Option<SamplingDto>,
    /// Most tokens the continuation may have (at least 1).
    #[serde(default, deserialize_with = "crate::dto::token_limit")]
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub max_tokens: Option<i64>,
    /// Functions the continuation may call (send them again to keep offering them).
    #[serde(default)]
    #[schema(max_items = 64)]
    pub tools: Vec<ToolDto>,
    pub tool_choice: Option<ToolChoiceDto>,
    pub parallel_tool_calls: Option<bool>,
    /// MCP servers whose tools the continuation may call (the service runs them).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub mcp_servers: Vec<String>,
    /// Metadata of the tool message that holds the results.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

impl From<ToolResultsBody> for ToolResultsInput {
    fn from(b: ToolResultsBody) -> Self {
        Self {
            results: b
                .results
                .into_iter()
                .map(|r| Part::ToolResult {
                    call_id: r.call_id,
                    output: r.output,
                    is_error: r.is_error,
                })
                .collect(),
            model: b.model,
            language: b.language,
            timezone: b.timezone,
            max_tokens: crate::dto::token_count(b.max_tokens),
            sampling: b.sampling.unwrap_or_default().into(),
            tools: offer(b.tools, b.tool_choice, b.parallel_tool_calls, b.mcp_servers),
            metadata: b.metadata,
        }
    }
}

/// Send the results of a reply's tool calls and get the reply that continues from them. The
/// results are stored as one `tool` message under the reply (every call answered, each once:
/// else 422 `tool_result_unpaired`), and the model answers under it — whole (201) or streamed
/// (SSE). Results sent again to the same reply make another branch.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/tool_results", tag = "replies", operation_id = "submit_tool_results",
    params(MessagePath), request_body = ToolResultsBody,
    responses((status = 201, description = "The tool message (as `user_message`) and the reply", body = ReplyDto),
              (status = 202, description = "background: the reply runs on; its placeholder (status streaming)", body = crate::routes::replies::AcceptedDto),
              (status = 200, description = "SSE stream", content_type = "text/event-stream", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 402, description = "insufficient_balance (billing on)", body = ErrorBody),
              (status = 409, body = ErrorBody),
              (status = 422, description = "tool_result_unpaired (a call unanswered, unknown or answered twice), message_unusable (the reply called no tools)", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: crate::extractors::Json<ToolResultsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let stream = wants_stream(&req, body.stream);
    let background = body.background.unwrap_or(false);
    let started = state
        .replies
        .submit_tool_results(&auth.0, path.thread(), path.message(), body.into())
        .await?;
    answer(&state, &auth.0, started, stream, background).await
}
