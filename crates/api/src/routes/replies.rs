//! Assistant replies: send and get the reply (whole or streamed over SSE), regenerate, edit and
//! resend, resume a stream, cancel; the models you may use and your token usage.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::ACCEPT;
use actix_web::{HttpRequest, HttpResponse, web};
use chat_threads_application::AppError;
use chat_threads_application::replies::{
    Follower, OnBusy, RegenerateInput, SendInput, Sent, Started,
};
use chat_threads_domain::{MessageId, MessageStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::{MessageDto, MessagePath, PageDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::OptionalJson;
use crate::keepalive::KeepAliveClock;
use crate::observe::Live;
use crate::routes::tools::{ToolChoiceDto, ToolDto, offer};
use crate::state::{AppState, Deps};

/// A model you may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDto {
    /// Pass as `model`.
    pub id: String,
    /// The provider serving it.
    pub provider: String,
    /// Used when neither the request nor the thread names a model.
    pub default: bool,
    /// Its prices (models.prices); `null` for a free model.
    pub pricing: Option<PriceDto>,
    /// Whether attached images reach it (models.vision).
    pub vision: bool,
}

impl ModelDto {
    /// A catalog entry as listed, prices in `currency`.
    pub fn new(m: chat_threads_application::replies::models::ModelInfo, currency: &str) -> Self {
        Self {
            id: m.id,
            provider: m.provider,
            default: m.default,
            vision: m.vision,
            pricing: m.pricing.map(|p| PriceDto {
                currency: currency.to_owned(),
                input_per_million: p.input_per_million,
                output_per_million: p.output_per_million,
            }),
        }
    }
}

/// A model's prices, in the smallest unit of billing.currency per million tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceDto {
    /// ISO 4217 code.
    pub currency: String,
    /// Per million prompt tokens.
    pub input_per_million: u64,
    /// Per million completion tokens.
    pub output_per_million: u64,
}

/// The models this caller may use.
#[utoipa::path(get, path = "/v1/models", tag = "replies", operation_id = "list_models",
    responses((status = 200, description = "Every model you may use (one page)", body = PageDto<ModelDto>),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn models<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> web::Json<PageDto<ModelDto>> {
    let list = state.replies.catalog().allowed(&auth.0);
    let currency = &state.balances.settings().currency;
    web::Json(PageDto::complete(
        list.into_iter().map(|m| ModelDto::new(m, currency)),
    ))
}

/// Your token usage: today's totals (what the quota counts), and per day and model.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDto {
    /// Today (UTC).
    pub day: String,
    /// Today's prompt tokens, every model.
    pub prompt_tokens: u32,
    /// Today's completion tokens, every model.
    pub completion_tokens: u32,
    /// The daily quota (prompt + completion), if any.
    pub quota: Option<u64>,
    /// The last `days` days that had usage, oldest first, each with its models.
    pub days: Vec<UsageDayDto>,
}

/// One day's usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDayDto {
    /// The UTC day.
    pub day: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Per model: replies, summaries, and messages stored with their token counts.
    pub models: Vec<ModelUsageDto>,
}

/// One model's usage on a day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelUsageDto {
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Which days of usage.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// How many days back, today included (1-366, default 1).
    pub days: Option<u32>,
}

/// Your token usage: today's totals and quota, and per day and model.
#[utoipa::path(get, path = "/v1/usage", tag = "replies", operation_id = "get_usage",
    params(UsageQuery),
    responses((status = 200, body = UsageDto), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn usage<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<UsageQuery>,
) -> Result<web::Json<UsageDto>, ApiError> {
    let (used, quota) = state.replies.usage_today(&auth.0).await?;
    let rows = state
        .replies
        .usage_by_model(&auth.0, query.days.unwrap_or(1))
        .await?;
    let mut days: Vec<UsageDayDto> = Vec::new();
    for row in rows {
        if days.last().is_none_or(|d| d.day != row.day) {
            days.push(UsageDayDto {
                day: row.day.clone(),
                prompt_tokens: 0,
                completion_tokens: 0,
                models: Vec::new(),
            });
        }
        if let Some(day) = days.last_mut() {
            day.prompt_tokens += u64::from(row.usage.prompt_tokens);
            day.completion_tokens += u64::from(row.usage.completion_tokens);
            day.models.push(ModelUsageDto {
                model: row.model,
                prompt_tokens: row.usage.prompt_tokens,
                completion_tokens: row.usage.completion_tokens,
            });
        }
    }
    Ok(web::Json(UsageDto {
        day: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        prompt_tokens: used.prompt_tokens,
        completion_tokens: used.completion_tokens,
        quota,
        days,
    }))
}

/// What a send does while a reply runs in the thread.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBusyDto {
    Reject,
    Queue,
    Interrupt,
}

impl From<OnBusyDto> for OnBusy {
    fn from(o: OnBusyDto) -> Self {
        match o {
            OnBusyDto::Reject => OnBusy::Reject,
            OnBusyDto::Queue => OnBusy::Queue,
            OnBusyDto::Interrupt => OnBusy::Interrupt,
        }
    }
}

/// A message accepted without its reply yet: queued behind a running reply (`assistant_message`
/// null) or answered in the background (`assistant_message` the placeholder, status streaming).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedDto {
    /// The user message stored (status `queued` when it waits for a running reply).
    pub user_message: Option<MessageDto>,
    /// The reply's placeholder, or null when the message is queued.
    pub assistant_message: Option<MessageDto>,
}

/// A message to reply to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    /// The user's message.
    pub content: String,
    /// Parent of the user message; default the thread's active leaf.
    pub parent_id: Option<uuid::Uuid>,
    /// Model; default the thread's, else the server's default (see /v1/models).
    pub model: Option<String>,
    /// Metadata of the user message.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Stream the reply as Server-Sent Events (same as `Accept: text/event-stream`).
    pub stream: Option<bool>,
    /// Answer 202 at once with the stored user message and the reply's placeholder (status
    /// `streaming`); the reply runs to the end with no client. Follow it with
    /// `GET .../messages/{id}`, its SSE stream, the change feed or a webhook. With `stream`
    /// too, the reply is streamed (it runs on if the client goes away, as any reply).
    pub background: Option<bool>,
    /// While a reply runs in the thread: `reject` (default, 409 `generation_in_progress`),
    /// `queue` (202: the message is stored `queued` under the running reply and answered when
    /// it ends — with the thread's settings and the `model` given here; cancel it with
    /// `POST .../messages/{id}/cancel`, edit it with `PATCH` while it waits) or `interrupt`
    /// (the running reply is stopped, keeping its text, and this message answered under it).
    pub on_busy: Option<OnBusyDto>,
    /// Language the reply should be in.
    pub language: Option<String>,
    /// The user's IANA time zone.
    pub timezone: Option<String>,
    /// Sampling settings for the reply (temperature, top_p, stop, seed, penalties, structured
    /// output).
    pub sampling: Option<crate::dto::SamplingDto>,
    /// Most tokens the reply may have (at least 1; never more than `replies.reply_max_tokens`).
    #[serde(default, deserialize_with = "crate::dto::token_limit")]
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub max_tokens: Option<i64>,
    /// Your uploaded files to attach to the user message, at most 10. Images reach models
    /// marked as seeing images (`vision` in /v1/models; others: 422 images_not_supported);
    /// text files and PDFs are given to the model as text, within a per-file budget.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<uuid::Uuid>,
    /// Functions the model may call (your code runs them): a reply that calls them ends with
    /// `status: requires_action`; send the results with `POST .../tool_results`.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub tools: Vec<ToolDto>,
    /// `auto` (default), `none`, `required`, or `{"name": …}`.
    pub tool_choice: Option<ToolChoiceDto>,
    /// Whether the model may call several tools at once.
    pub parallel_tool_calls: Option<bool>,
    /// MCP servers whose tools the reply may call: the service runs them and stores each call
    /// with its result (`[mcp.servers]`; who may name which: `[mcp.allow]`).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub mcp_servers: Vec<String>,
}

impl From<ChatBody> for SendInput {
    fn from(b: ChatBody) -> Self {
        Self {
            content: b.content,
            parent_id: b.parent_id.map(MessageId::from_uuid),
            model: b.model,
            metadata: b.metadata,
            language: b.language,
            timezone: b.timezone,
            attachments: crate::routes::messages::file_ids(b.attachments),
            max_tokens: crate::dto::token_count(b.max_tokens),
            sampling: b.sampling.unwrap_or_default().into(),
            tools: offer(b.tools, b.tool_choice, b.parallel_tool_calls, b.mcp_servers),
            on_busy: b.on_busy.map(OnBusy::from).unwrap_or_default(),
        }
    }
}

impl From<ResendBody> for ChatBody {
    fn from(b: ResendBody) -> Self {
        Self {
            content: b.content,
            parent_id: None,
            model: b.model,
            metadata: b.metadata,
            stream: b.stream,
            background: b.background,
            on_busy: None,
            language: b.language,
            timezone: b.timezone,
            attachments: b.attachments,
            sampling: b.sampling,
            max_tokens: b.max_tokens,
            tools: b.tools,
            tool_choice: b.tool_choice,
            parallel_tool_calls: b.parallel_tool_calls,
            mcp_servers: b.mcp_servers,
        }
    }
}

impl From<RegenerateBody> for RegenerateInput {
    fn from(b: RegenerateBody) -> Self {
        Self {
            model: b.model,
            language: b.language,
            timezone: b.timezone,
            sampling: b.sampling.unwrap_or_default().into(),
            tools: offer(b.tools, b.tool_choice, b.parallel_tool_calls, b.mcp_servers),
            max_tokens: crate::dto::token_count(b.max_tokens),
        }
    }
}

/// The new text of a resent user message (it goes beside the one it edits, so it takes no
/// parent).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    /// The new text of the user's message.
    pub content: String,
    /// Model; default the thread's, else the server's default (see /v1/models).
    pub model: Option<String>,
    /// Metadata of the new user message.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Stream the reply as Server-Sent Events (same as `Accept: text/event-stream`).
    pub stream: Option<bool>,
    /// Answer 202 at once with the stored user message and the reply's placeholder (status
    /// `streaming`); the reply runs to the end with no client. Follow it with
    /// `GET .../messages/{id}`, its SSE stream, the change feed or a webhook. With `stream`
    /// too, the reply is streamed (it runs on if the client goes away, as any reply).
    pub background: Option<bool>,
    /// Language the reply should be in.
    pub language: Option<String>,
    /// The user's IANA time zone.
    pub timezone: Option<String>,
    /// Sampling settings for the reply (temperature, top_p, stop, seed, penalties, structured
    /// output).
    pub sampling: Option<crate::dto::SamplingDto>,
    /// Most tokens the reply may have (at least 1; never more than `replies.reply_max_tokens`).
    #[serde(default, deserialize_with = "crate::dto::token_limit")]
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub max_tokens: Option<i64>,
    /// Your uploaded files to attach to the new user message, at most 10 (none by default).
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<uuid::Uuid>,
    /// Functions the model may call.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub tools: Vec<ToolDto>,
    pub tool_choice: Option<ToolChoiceDto>,
    pub parallel_tool_calls: Option<bool>,
    /// MCP servers whose tools the reply may call.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub mcp_servers: Vec<String>,
}

/// Options of a regeneration.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateBody {
    /// Model; default the original reply's.
    pub model: Option<String>,
    /// Stream the reply (same as `Accept: text/event-stream`).
    pub stream: Option<bool>,
    /// Answer 202 at once with the stored user message and the reply's placeholder (status
    /// `streaming`); the reply runs to the end with no client. Follow it with
    /// `GET .../messages/{id}`, its SSE stream, the change feed or a webhook. With `stream`
    /// too, the reply is streamed (it runs on if the client goes away, as any reply).
    pub background: Option<bool>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    /// Sampling settings for the new reply.
    pub sampling: Option<crate::dto::SamplingDto>,
    /// Most tokens the new reply may have (at least 1).
    #[serde(default, deserialize_with = "crate::dto::token_limit")]
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub max_tokens: Option<i64>,
    /// Functions the new reply may call.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub tools: Vec<ToolDto>,
    pub tool_choice: Option<ToolChoiceDto>,
    pub parallel_tool_calls: Option<bool>,
    /// MCP servers whose tools the reply may call.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub mcp_servers: Vec<String>,
}

/// A finished exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyDto {
    /// The user message stored (absent for a regeneration).
    pub user_message: Option<MessageDto>,
    /// The assistant's reply as stored.
    pub assistant_message: MessageDto,
}

pub(crate) fn wants_stream(req: &HttpRequest, flag: Option<bool>) -> bool {
    flag.unwrap_or(false)
        || req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"))
}

/// Encodes events as SSE, with a keep-alive comment at each tick of the shared clock; counted
/// as a follower while open.
pub fn sse(events: Follower, clock: &KeepAliveClock, live: &Arc<Live>) -> HttpResponse {
    let tick = clock.subscribe();
    let guard = live.sse();
    let body = futures_util::stream::unfold(
        (events, tick, guard),
        |(mut events, mut tick, guard)| async move {
            let chunk = tokio::select! {
                ev = events.next() => ev?.sse_frame(),
                // The clock goes only with the app: the stream ends with it.
                tick = tick.changed() => tick.map(|()| ": keep-alive\n\n".to_owned()).ok()?,
            };
            Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(chunk)),
                (events, tick, guard),
            ))
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}

pub(crate) async fn answer<D: Deps>(
    state: &AppState<D>,
    who: &chat_threads_domain::Principal,
    started: Started,
    stream: bool,
    background: bool,
) -> Result<HttpResponse, ApiError> {
    if stream {
        return Ok(sse(started.log.follower(0), &state.keepalive, &state.live));
    }
    if background {
        // The reply runs on its own task; its placeholder and the user message are stored, and
        // answered once the change feed holds them.
        started.log.recorded().await;
        return Ok(HttpResponse::Accepted().json(AcceptedDto {
            user_message: started.user_message.map(MessageDto::from),
            assistant_message: Some(started.assistant_message.into()),
        }));
    }
    let reply = state.replies.finished(who, &started).await?;
    let failed = reply.status == MessageStatus::Failed;
    let body = ReplyDto {
        user_message: started.user_message.map(MessageDto::from),
        assistant_message: reply.into(),
    };
    if failed {
        return Ok(
            HttpResponse::build(StatusCode::BAD_GATEWAY).json(serde_json::json!({
                "error": {"code": chat_threads_application::error::ErrorCode::ModelError,
                          "message": "the model failed; the partial reply is stored",
                          "details": body}
            })),
        );
    }
    Ok(HttpResponse::Created().json(body))
}

/// Send a message and get the assistant's reply: the whole exchange as JSON (201), or the reply
/// streamed as Server-Sent Events with `stream: true` or `Accept: text/event-stream`. Only one
/// reply per thread runs at a time (409 `generation_in_progress`).
#[utoipa::path(post, path = "/v1/threads/{thread_id}/chat", tag = "replies", operation_id = "chat", params(ThreadPath),
    request_body = ChatBody,
    responses((status = 201, body = ReplyDto), (status = 202, description = "background: the reply runs on (its placeholder, status streaming); or on_busy queue: the message waits (assistant_message null)", body = AcceptedDto), (status = 200, description = "SSE stream", content_type = "text/event-stream", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, description = "model_not_allowed (lists the allowed ones)", body = ErrorBody),
              (status = 402, description = "insufficient_balance: the balance cannot cover the reply (billing on)", body = ErrorBody),
              (status = 429, description = "token_quota_exceeded", body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn chat<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<ChatBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let stream = wants_stream(&req, body.stream);
    let background = body.background.unwrap_or(false);
    let started = match state
        .replies
        .send_with(&auth.0, path.thread(), body.into())
        .await?
    {
        Sent::Started(started) => *started,
        Sent::Queued(queued) => {
            return Ok(HttpResponse::Accepted().json(AcceptedDto {
                user_message: Some((*queued).into()),
                assistant_message: None,
            }));
        }
    };
    answer(&state, &auth.0, started, stream, background).await
}

/// Regenerate an assistant reply: a new reply beside it (a sibling), which becomes active.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/regenerate", tag = "replies", operation_id = "regenerate_reply",
    params(MessagePath), request_body = RegenerateBody,
    responses((status = 201, body = ReplyDto), (status = 202, description = "background: the reply runs on (its placeholder, status streaming); or on_busy queue: the message waits (assistant_message null)", body = AcceptedDto), (status = 200, description = "SSE stream", content_type = "text/event-stream", body = String),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 402, description = "insufficient_balance (billing on)", body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn regenerate<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: OptionalJson<RegenerateBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let stream = wants_stream(&req, b.stream);
    let background = b.background.unwrap_or(false);
    let started = state
        .replies
        .regenerate(&auth.0, path.thread(), path.message(), b.into())
        .await?;
    answer(&state, &auth.0, started, stream, background).await
}

/// Edit a user message and get a reply to the edit: a sibling user message with the new text,
/// and the assistant's reply under it.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/resend", tag = "replies", operation_id = "resend_message",
    params(MessagePath), request_body = ResendBody,
    responses((status = 201, body = ReplyDto), (status = 202, description = "background: the reply runs on (its placeholder, status streaming); or on_busy queue: the message waits (assistant_message null)", body = AcceptedDto), (status = 200, description = "SSE stream", content_type = "text/event-stream", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 402, description = "insufficient_balance (billing on)", body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resend<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: crate::extractors::Json<ResendBody>,
) -> Result<HttpResponse, ApiError> {
    let body = ChatBody::from(body.into_inner());
    let stream = wants_stream(&req, body.stream);
    let background = body.background.unwrap_or(false);
    let started = state
        .replies
        .resend(&auth.0, path.thread(), path.message(), body.into())
        .await?;
    answer(&state, &auth.0, started, stream, background).await
}

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResumeQuery {
    /// The last event id seen (alternative to the `Last-Event-ID` header, for EventSource URLs).
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
    /// The bearer token, for browsers' EventSource, which cannot send headers.
    pub access_token: Option<String>,
}

/// Follow a reply as SSE: resumes a running one after `Last-Event-ID` with no gap and no
/// duplicate, or replays a finished one.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/messages/{message_id}/stream", tag = "replies", operation_id = "stream_reply",
    params(MessagePath, ResumeQuery, ("Last-Event-ID" = Option<u64>, Header, description = "Last event seen")),
    responses((status = 200, description = "SSE stream", content_type = "text/event-stream", body = String),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stream<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    query: web::Query<ResumeQuery>,
) -> Result<HttpResponse, ApiError> {
    // An event id is a whole number from 0 to i64::MAX, as the document states for both.
    let event_id = |field: &'static str, raw: Option<i64>| {
        raw.map(|n| {
            u64::try_from(n).map_err(|_| {
                ApiError::from(AppError::from(chat_threads_domain::DomainError::invalid(
                    field,
                    "must be an event id (a whole number) this stream sent",
                )))
            })
        })
        .transpose()
    };
    let header = req.headers().get("last-event-id").map(|v| {
        v.to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(-1) // unreadable: refused below like an id out of range
    });
    let after = event_id("Last-Event-ID", header)?
        .or(event_id("last_event_id", query.last_event_id)?)
        .unwrap_or(0);
    let events = state
        .replies
        .follower(&auth.0, path.thread(), path.message(), after)
        .await?;
    Ok(sse(events, &state.keepalive, &state.live))
}

/// Stop a reply. The text so far is kept, with status `cancelled`.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/cancel", tag = "replies", operation_id = "cancel_reply",
    params(MessagePath),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let m = state
        .replies
        .cancel(&auth.0, path.thread(), path.message())
        .await?;
    Ok(web::Json(m.into()))
}
