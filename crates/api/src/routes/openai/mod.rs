//! The OpenAI-compatible surface under `/openai/v1`, for code written against the OpenAI SDKs:
//! an SDK passes the service's bearer token as its API key. Models and chat completions here;
//! Responses and Conversations over threads in their own modules; every error of the scope in
//! OpenAI's error shape (so the SDKs' exceptions fire). See docs/openai.md.

mod bodies;
mod conversations;
mod items;
mod response_events;
mod responses;

use std::sync::OnceLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use chat_threads_application::replies::llm::{ToolCall, ToolOffer};

use crate::auth::Auth;
use crate::error::{ApiError, ErrorCode};
use crate::state::{AppState, Deps};

/// Registers the scope's routes.
pub fn routes<D: Deps>(cfg: &mut web::ServiceConfig) {
    cfg.route("/models", web::get().to(list_models::<D>))
        .route("/models/{model}", web::get().to(get_model::<D>))
        .route("/chat/completions", web::post().to(chat_completions::<D>))
        .route("/responses", web::post().to(responses::create::<D>))
        .route("/responses/{id}", web::get().to(responses::get::<D>))
        .route("/responses/{id}", web::delete().to(responses::delete::<D>))
        .route(
            "/responses/{id}/cancel",
            web::post().to(responses::cancel::<D>),
        )
        .route(
            "/responses/{id}/input_items",
            web::get().to(responses::input_items_list::<D>),
        )
        .route("/conversations", web::post().to(conversations::create::<D>))
        .route(
            "/conversations/{id}",
            web::get().to(conversations::get::<D>),
        )
        .route(
            "/conversations/{id}",
            web::post().to(conversations::update::<D>),
        )
        .route(
            "/conversations/{id}",
            web::delete().to(conversations::delete::<D>),
        )
        .route(
            "/conversations/{id}/items",
            web::get().to(conversations::list_items::<D>),
        )
        .route(
            "/conversations/{id}/items",
            web::post().to(conversations::create_items::<D>),
        )
        .route(
            "/conversations/{id}/items/{item}",
            web::get().to(conversations::get_item::<D>),
        )
        .route(
            "/conversations/{id}/items/{item}",
            web::delete().to(conversations::delete_item::<D>),
        );
}

/// A model as OpenAI lists it.
#[derive(Debug, Serialize)]
struct Model {
    id: String,
    object: &'static str,
    /// Seconds since the epoch; the catalog has no dates, so the time this process started.
    created: i64,
    owned_by: String,
}

fn started() -> i64 {
    static STARTED: OnceLock<i64> = OnceLock::new();
    *STARTED.get_or_init(|| chrono::Utc::now().timestamp())
}

fn model(m: chat_threads_application::replies::models::ModelInfo) -> Model {
    Model {
        id: m.id,
        object: "model",
        created: started(),
        owned_by: m.provider,
    }
}

/// `GET /openai/v1/models`: the models the caller may use.
pub async fn list_models<D: Deps>(auth: Auth, state: web::Data<AppState<D>>) -> HttpResponse {
    let data: Vec<Model> = state
        .replies
        .catalog()
        .allowed(&auth.0)
        .into_iter()
        .map(model)
        .collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

/// `GET /openai/v1/models/{model}`: one of them; any other is 404 `model_not_found`.
pub async fn get_model<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let wanted = path.into_inner();
    let found = state
        .replies
        .catalog()
        .allowed(&auth.0)
        .into_iter()
        .find(|m| m.id == wanted);
    match found {
        Some(m) => Ok(HttpResponse::Ok().json(model(m))),
        None => Err(ApiError::Request {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::ModelNotAllowed,
            message: format!(
                "The model `{wanted}` does not exist or you do not have access to it."
            ),
        }),
    }
}

/// The route is not part of the OpenAI-compatible surface (yet): 404 in OpenAI's shape.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::Request {
        status: StatusCode::NOT_FOUND,
        code: ErrorCode::RouteNotFound,
        message: format!(
            "{} {} is not supported by this OpenAI-compatible API (see docs/openai.md)",
            req.method(),
            req.path()
        ),
    })
}

/// OpenAI's `type` for a status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

/// Rewrites every error answer of the scope from the service's shape
/// (`{"error": {"code", "message", "details"}}`) into OpenAI's
/// (`{"error": {"message", "type", "param", "code"}}`), keeping the status and headers.
pub async fn errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let ours: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let e = &ours["error"];
    // Values that do not fit together are a bad request for OpenAI (400), as its SDKs expect.
    let status = if e["code"] == "inconsistent_request" {
        *head.status_mut() = StatusCode::BAD_REQUEST;
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let openai = json!({"error": {
        "message": e["message"].as_str().unwrap_or_else(|| status.canonical_reason().unwrap_or("error")),
        "type": error_type(status),
        "param": e["details"]["field"].as_str(),
        "code": e["code"].as_str(),
    }});
    let body = serde_json::to_vec(&openai).unwrap_or_default();
    head.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    head.headers_mut().remove(CONTENT_LENGTH);
    let res = head.set_body(BoxBody::new(body));
    Ok(ServiceResponse::new(req, res))
}

/// A 400 naming the parameter (OpenAI's `param`).
pub(crate) fn bad(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::App(chat_threads_domain::DomainError::invalid(field, message.into()).into())
}

/// A request message's content as text, and its images (`image_url` parts).
fn content_of(content: &Value) -> Result<(String, Vec<String>), ApiError> {
    match content {
        Value::String(s) => Ok((s.clone(), Vec::new())),
        Value::Array(parts) => {
            let mut text = String::new();
            let mut images = Vec::new();
            for p in parts {
                match p["type"].as_str() {
                    Some("text") => text.push_str(p["text"].as_str().unwrap_or_default()),
                    Some("image_url") => match p["image_url"]["url"].as_str() {
                        Some(url) => images.push(url.to_owned()),
                        None => return Err(bad("messages", "an image_url part needs a url")),
                    },
                    _ => {
                        return Err(bad(
                            "messages",
                            "content parts may be text or image_url (audio and files are not supported)",
                        ));
                    }
                }
            }
            Ok((text, images))
        }
        Value::Null => Ok((String::new(), Vec::new())),
        _ => Err(bad(
            "messages",
            "content must be a string or a list of parts",
        )),
    }
}

/// The prompt of a `chat/completions` request.
fn chat_messages(
    list: &[bodies::ChatMessageBody],
    limits: &chat_threads_domain::Limits,
) -> Result<Vec<chat_threads_application::replies::llm::ChatMessage>, ApiError> {
    if list.is_empty() {
        return Err(bad("messages", "must be a non-empty list"));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut bytes = 0;
    for m in list {
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" => "tool",
            other => {
                return Err(bad("messages", format!("role {other:?} is not supported")));
            }
        };
        let (content, images) = content_of(&m.content)?;
        let tool_calls: Vec<ToolCall> = m
            .tool_calls
            .iter()
            .flatten()
            .map(|c| ToolCall {
                id: c.id.clone(),
                name: c.function.name.clone(),
                arguments: c.function.arguments.clone(),
            })
            .collect();
        if !tool_calls.is_empty() && role != "assistant" {
            return Err(bad("messages", "only assistant messages carry tool_calls"));
        }
        if (role == "tool") != m.tool_call_id.is_some() {
            return Err(bad(
                "messages",
                "a tool message answers a call: it needs tool_call_id (and only it does)",
            ));
        }
        bytes += content.len()
            + images.iter().map(String::len).sum::<usize>()
            + tool_calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments.len())
                .sum::<usize>();
        if bytes > limits.body_bytes {
            return Err(bad("messages", "the messages exceed the body limit"));
        }
        out.push(chat_threads_application::replies::llm::ChatMessage {
            role,
            content,
            images,
            tool_calls,
            tool_call_id: m.tool_call_id.clone(),
            // A participant's name goes to the model when it is one a model takes.
            name: m.name.clone().filter(|n| {
                (1..=64).contains(&n.len())
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }),
        });
    }
    Ok(out)
}

/// The request's parameters, checked.
struct ChatParams {
    model: String,
    stream: bool,
    include_usage: bool,
    max_tokens: Option<u32>,
    store: bool,
    sampling: chat_threads_application::replies::Sampling,
    offer: ToolOffer,
}

impl ChatParams {
    fn of(body: &bodies::ChatCompletionBody, store: bool) -> Result<Self, ApiError> {
        if body.model.is_empty() {
            return Err(bad("model", "is required"));
        }
        if body.n.is_some_and(|n| n != 1) {
            return Err(bad("n", "only n = 1 is supported"));
        }
        let max_tokens = match body.max_completion_tokens {
            Some(n) => bodies::positive("max_completion_tokens", Some(n))?,
            None => bodies::positive("max_tokens", body.max_tokens)?,
        };
        Ok(Self {
            offer: body.offer()?,
            sampling: body.sampling()?,
            model: body.model.clone(),
            stream: body.stream.unwrap_or(false),
            include_usage: body
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            max_tokens,
            store: body.store.unwrap_or(store),
        })
    }
}

pub(crate) type Usage = chat_threads_application::usage::Usage;

/// The objects one completion is answered with: the whole `chat.completion`, or its
/// `chat.completion.chunk` events. A stored completion carries its thread's id as `thread_id`.
struct Frames {
    id: String,
    created: i64,
    model: String,
    thread_id: Option<chat_threads_domain::ThreadId>,
}

impl Frames {
    fn new(id: String, model: String, thread_id: Option<chat_threads_domain::ThreadId>) -> Self {
        Self {
            id,
            created: chrono::Utc::now().timestamp(),
            model,
            thread_id,
        }
    }

    fn usage(u: Usage) -> Value {
        json!({
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u64::from(u.prompt_tokens) + u64::from(u.completion_tokens),
        })
    }

    /// An object of this completion with `fields` added (and `thread_id` when stored).
    fn object(&self, object: &str, fields: Value) -> Value {
        let mut v =
            json!({"id": self.id, "object": object, "created": self.created, "model": self.model});
        if let Some(t) = self.thread_id {
            v["thread_id"] = json!(t);
        }
        if let (Some(map), Value::Object(more)) = (v.as_object_mut(), fields) {
            map.extend(more);
        }
        v
    }

    /// The whole answer.
    fn whole(&self, text: &str, calls: &[ToolCall], usage: Usage) -> HttpResponse {
        let mut message = json!({"role": "assistant", "content": text, "refusal": null});
        if !calls.is_empty() {
            message["tool_calls"] = calls.iter().map(call_json).collect();
            if text.is_empty() {
                message["content"] = Value::Null;
            }
        }
        let finish = if calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        HttpResponse::Ok().json(self.object(
            "chat.completion",
            json!({
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
                "usage": Self::usage(usage),
            }),
        ))
    }

    /// One SSE chunk.
    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let c = self.object(
            "chat.completion.chunk",
            json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]}),
        );
        format!("data: {c}\n\n")
    }

    /// The end of a stream: the final chunk, the usage chunk (when asked for), `[DONE]`.
    fn end(&self, usage: Option<Usage>, finish: &str) -> String {
        let mut out = self.chunk(json!({}), Some(finish));
        if let Some(u) = usage {
            let c = self.object(
                "chat.completion.chunk",
                json!({"choices": [], "usage": Self::usage(u)}),
            );
            out.push_str(&format!("data: {c}\n\n"));
        }
        out.push_str("data: [DONE]\n\n");
        out
    }

    /// A model that failed mid-stream, in OpenAI's error shape.
    fn failed(message: &str) -> String {
        let err = json!({"error": {"message": message, "type": "server_error",
                                   "param": null, "code": "model_error"}});
        format!("data: {err}\n\n")
    }

    /// A stream of chunks: the assistant's role first, then `rest`.
    fn sse(&self, rest: impl futures_util::Stream<Item = String> + 'static) -> HttpResponse {
        let first = self.chunk(json!({"role": "assistant", "content": ""}), None);
        let events = futures_util::stream::once(std::future::ready(first))
            .chain(rest)
            .map(|s| Ok::<_, actix_web::Error>(web::Bytes::from(s)));
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .streaming(events)
    }
}

/// A tool call as chat completions writes it.
fn call_json(c: &ToolCall) -> Value {
    json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
}

/// A chunk's `delta` with a piece of a tool call, as chat completions streams it: the id, type
/// and name with a call's first piece, its arguments in fragments.
fn call_delta(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
    let mut call = json!({"index": index, "function": {"arguments": arguments}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    json!({"tool_calls": [call]})
}

/// `POST /openai/v1/chat/completions`: through the service's catalog, allowlists, quota and
/// balance; not stored, or stored as a thread with `store: true`. Whole, or streamed as
/// `chat.completion.chunk` events ending with `data: [DONE]` (and a usage chunk with
/// `stream_options.include_usage`).
pub async fn chat_completions<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: bodies::ChatCompletionBody = bodies::read(body.into_inner(), "chat.completions")?;
    let params = ChatParams::of(&body, state.openai.chat_completions_store)?;
    let messages = chat_messages(&body.messages, &state.limits)?;
    if params.store {
        return stored_completion(&state, &auth.0, &params, body.metadata, messages).await;
    }
    let mut completion = state
        .replies
        .complete_unstored(
            &auth.0,
            Some(&params.model),
            messages,
            params.max_tokens,
            params.sampling.clone(),
            params.offer.clone(),
        )
        .await?;
    let frames = Frames::new(
        format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
        completion.model.clone(),
        None,
    );
    if !params.stream {
        let (text, calls, reported) = completion
            .collect()
            .await
            .map_err(|e| ApiError::App(e.into()))?;
        let spoken = chat_threads_application::replies::direct::spoken(&text, &calls);
        let usage = completion.finish(&spoken, reported).await;
        return Ok(frames.whole(&text, &calls, usage));
    }
    // A delta per piece of text, then the end; a model that fails mid-way ends the stream
    // with an error event.
    use chat_threads_application::replies::direct::Piece;
    let frames = std::rc::Rc::new(frames);
    let chunks = frames.clone();
    let include_usage = params.include_usage;
    let rest = completion.pieces().map(move |piece| match piece {
        Piece::Text(d) => chunks.chunk(json!({"content": d}), None),
        // Reasoning as the servers that show it stream it (DeepSeek, vLLM, OpenRouter).
        Piece::Reasoning(r) => chunks.chunk(json!({"reasoning_content": r}), None),
        Piece::ToolCall {
            index,
            id,
            name,
            arguments,
        } => chunks.chunk(
            call_delta(index, id.as_deref(), name.as_deref(), &arguments),
            None,
        ),
        Piece::End { error: Some(e), .. } => Frames::failed(&e.to_string()),
        Piece::End {
            usage, tool_calls, ..
        } => {
            let finish = if tool_calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            chunks.end(include_usage.then_some(usage), finish)
        }
    });
    Ok(frames.sse(rest))
}

/// Tokens as a stored message or a `message.completed` event records them.
fn usage_of(prompt: Option<i64>, completion: Option<i64>) -> Usage {
    let tokens = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Usage {
        prompt_tokens: tokens(prompt),
        completion_tokens: tokens(completion),
    }
}

/// The tool calls of an assistant message or the result of a `tool` message, as parts.
fn turn_parts(
    m: &chat_threads_application::replies::llm::ChatMessage,
) -> Vec<chat_threads_domain::Part> {
    use chat_threads_domain::Part;
    let mut parts: Vec<Part> = m
        .tool_calls
        .iter()
        .map(|c| Part::ToolCall {
            call_id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
            server: None,
        })
        .collect();
    if let Some(call_id) = &m.tool_call_id {
        parts.push(Part::ToolResult {
            call_id: call_id.clone(),
            output: Value::String(m.content.clone()),
            is_error: false,
        });
    }
    parts
}

/// A chat completion with `store: true`: a new thread (the request's `metadata` on it, system
/// messages as its system prompt), the earlier messages appended, and the last one — a user
/// message, or the results of the calls of the assistant message before them — sent to the
/// model like the native chat (or tool results), so the reply is stored and streams from
/// the reply's log. A refusal after the thread was made (quota, balance) removes it again.
async fn stored_completion<D: Deps>(
    state: &AppState<D>,
    who: &chat_threads_domain::Principal,
    params: &ChatParams,
    metadata: Option<serde_json::Map<String, Value>>,
    messages: Vec<chat_threads_application::replies::llm::ChatMessage>,
) -> Result<HttpResponse, ApiError> {
    use chat_threads_application::replies::{NewThread, SendInput, ToolResultsInput, Turn};
    if messages.iter().any(|m| !m.images.is_empty()) {
        return Err(bad(
            "messages",
            "stored completions take text only (upload images with POST /v1/files and attach them natively)",
        ));
    }
    // Trailing tool messages are the results the reply continues from.
    let results = messages
        .iter()
        .rev()
        .take_while(|m| m.role == "tool")
        .count();
    let (history, last) = match (results, messages.split_last()) {
        (0, Some((last, history))) if last.role == "user" => (history, Some(last)),
        (n, _) if n > 0 => (&messages[..messages.len() - n], None),
        _ => {
            return Err(bad(
                "messages",
                "the last message of a stored completion must be the user's, or tool results",
            ));
        }
    };
    let results: Vec<chat_threads_domain::Part> = messages[history.len()..]
        .iter()
        .filter(|m| m.role == "tool")
        .flat_map(turn_parts)
        .collect();
    let system: Vec<&str> = history
        .iter()
        .filter(|m| m.role == "system")
        .map(|m| m.content.as_str())
        .collect();
    let turns = history
        .iter()
        .filter(|m| m.role != "system")
        .map(|m| {
            Ok(Turn {
                role: chat_threads_domain::Role::parse(m.role)?,
                // A result's output lives in its part.
                content: if m.tool_call_id.is_some() {
                    String::new()
                } else {
                    m.content.clone()
                },
                parts: turn_parts(m),
            })
        })
        .collect::<Result<Vec<_>, chat_threads_domain::DomainError>>()
        .map_err(chat_threads_application::AppError::from)?;
    let thread = NewThread {
        metadata: metadata.map(Value::Object),
        system_prompt: (!system.is_empty()).then(|| system.join("\n\n")),
        model: Some(params.model.clone()),
        continue_earlier: state.openai.continue_histories,
    };
    let (thread, started) = match last {
        Some(last) => {
            let send = SendInput {
                content: last.content.clone(),
                model: Some(params.model.clone()),
                max_tokens: params.max_tokens,
                sampling: params.sampling.clone(),
                tools: params.offer.clone(),
                ..Default::default()
            };
            state
                .replies
                .send_with_history(who, thread, turns, send)
                .await?
        }
        None => {
            let input = ToolResultsInput {
                results,
                model: Some(params.model.clone()),
                max_tokens: params.max_tokens,
                sampling: params.sampling.clone(),
                tools: params.offer.clone(),
                ..Default::default()
            };
            state
                .replies
                .results_with_history(who, thread, turns, input)
                .await?
        }
    };
    let frames = Frames::new(
        format!(
            "chatcmpl-{}",
            started.assistant_message.id.as_uuid().simple()
        ),
        params.model.clone(),
        Some(thread.id),
    );
    if !params.stream {
        let reply = state.replies.finished(who, &started).await?;
        if reply.status == chat_threads_domain::MessageStatus::Failed {
            return Err(ApiError::App(
                chat_threads_application::AppError::ModelError(
                    chat_threads_application::error::ModelError::Unavailable(
                        "the model failed; the partial reply is stored".into(),
                    ),
                ),
            ));
        }
        let usage = usage_of(
            reply.prompt_tokens.map(i64::from),
            reply.completion_tokens.map(i64::from),
        );
        let calls: Vec<ToolCall> = reply
            .tool_calls()
            .map(|(id, name, arguments)| ToolCall {
                id: id.to_owned(),
                name: name.to_owned(),
                arguments: arguments.to_owned(),
            })
            .collect();
        return Ok(frames.whole(reply.content.as_str(), &calls, usage));
    }
    let include_usage = params.include_usage;
    let frames = std::rc::Rc::new(frames);
    let chunks = frames.clone();
    // Calls of tools the service ran (MCP) are its own business: they stay out of the chunks.
    let mut served = std::collections::HashSet::new();
    let rest = started.log.follow(0).filter_map(move |e| {
        use chat_threads_application::events::Event;
        let out = match e.data {
            Event::ToolCallStarted {
                index,
                server: Some(_),
                ..
            } => {
                served.insert(index);
                None
            }
            Event::ToolCallDelta { index, .. } if served.contains(&index) => None,
            Event::MessageDelta { delta } => Some(chunks.chunk(json!({"content": delta}), None)),
            Event::ReasoningDelta { delta } => {
                Some(chunks.chunk(json!({"reasoning_content": delta}), None))
            }
            Event::ToolCallStarted {
                index,
                call_id,
                name,
                server: None,
            } => Some(chunks.chunk(call_delta(index, Some(&call_id), Some(&name), ""), None)),
            Event::ToolCallDelta { index, arguments } => {
                Some(chunks.chunk(call_delta(index, None, None, &arguments), None))
            }
            Event::MessageCompleted { usage, .. } | Event::MessageCancelled { usage, .. } => {
                Some(chunks.end(include_usage.then_some(usage.unwrap_or_default()), "stop"))
            }
            Event::MessageRequiresAction { usage, .. } => Some(chunks.end(
                include_usage.then_some(usage.unwrap_or_default()),
                "tool_calls",
            )),
            Event::MessageFailed { error, .. } => Some(Frames::failed(&error.message)),
            _ => None,
        };
        std::future::ready(out)
    });
    Ok(frames.sse(rest))
}
