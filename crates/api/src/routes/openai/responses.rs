//! Responses (`/openai/v1/responses`) over threads. A stored response is a thread's user
//! message (its last input item) and the assistant reply under it; the response id names the
//! thread and the reply. `previous_response_id` continues that thread under that reply — on the
//! latest reply it extends the path, on an earlier one it makes a branch; `conversation` appends
//! at the conversation's active leaf; neither starts a new thread. What the request said
//! (`instructions`, `metadata`, ...) is kept on the user message under `metadata.openai`.

use actix_web::{HttpResponse, web};
use chat_threads_application::AppError;
use chat_threads_application::events::{Event, ThreadEvent};
use chat_threads_application::messages::DeleteScope;
use chat_threads_application::replies::llm::ToolCall;
use chat_threads_application::replies::{NewThread, SendInput, ToolResultsInput};
use chat_threads_domain::{Message, MessageId, MessageStatus, Principal, Role, ThreadId};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bodies::{ConversationRef, ResponseBody, positive, read};
use super::items::{
    InputItem, ListQuery, append_items, conversation_id, input_items, items, items_of, metadata,
    page, parse_conversation, parse_response, part_items, response_id,
};
use super::response_events::{Events, stream_response};
use super::{Usage, bad};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::{AppState, Deps};

/// A create request, checked.
struct Request {
    model: Option<String>,
    /// The input as sent (its `item_reference`s are read with the caller's messages).
    raw_input: Value,
    input: Vec<InputItem>,
    instructions: Option<String>,
    previous: Option<String>,
    conversation: Option<String>,
    store: bool,
    metadata: Value,
    max_output_tokens: Option<u32>,
    stream: bool,
    /// Answer at once and let the reply run on.
    background: bool,
    sampling: chat_threads_application::replies::Sampling,
    tools: chat_threads_application::replies::llm::ToolOffer,
}

fn request(body: Value, defaults: crate::OpenAiDefaults) -> Result<Request, ApiError> {
    let body: ResponseBody = read(body, "responses.create")?;
    let sampling = body.sampling()?;
    let tools = body.offer()?;
    let request = Request {
        sampling,
        tools,
        model: body.model,
        raw_input: body.input,
        input: Vec::new(),
        instructions: body.instructions,
        previous: body.previous_response_id,
        conversation: body.conversation.map(ConversationRef::id),
        store: body.store.unwrap_or(defaults.responses_store),
        metadata: metadata(body.metadata)?.unwrap_or_else(|| json!({})),
        max_output_tokens: positive("max_output_tokens", body.max_output_tokens)?,
        stream: body.stream.unwrap_or(false),
        background: body.background.unwrap_or(false),
    };
    if request.background && !request.store {
        return Err(bad(
            "background",
            "a background response is stored: store must be true",
        ));
    }
    if request.previous.is_some() && request.conversation.is_some() {
        return Err(bad(
            "previous_response_id",
            "cannot be used together with conversation",
        ));
    }
    Ok(request)
}

/// The request's input items, read (references included) and checked: the last one is a user
/// message or tool results.
async fn read_input<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    r: &mut Request,
) -> Result<(), ApiError> {
    r.input = input_items(state, who, &r.raw_input, "input").await?;
    if !r
        .input
        .last()
        .is_some_and(|i| i.role == "user" || i.is_results())
    {
        return Err(bad(
            "input",
            "the last input item must be a user message or function_call_output items",
        ));
    }
    Ok(())
}

/// What a stored response keeps of its request, on its user message (`metadata.openai`):
/// besides what the Response shows, `input_after`, the item its input items went under (its
/// input items are the messages from there down to the user message).
fn record(r: &Request, conversation: Option<ThreadId>, after: Option<MessageId>) -> Value {
    json!({
        // The message alone (a record read back on the same thread).
        "input_after": after.map(|m| format!("msg_{}", m.as_uuid().simple())),
        "previous_response_id": r.previous,
        "conversation": conversation.map(conversation_id),
        "instructions": r.instructions,
        "metadata": r.metadata,
        "max_output_tokens": r.max_output_tokens,
        "background": r.background,
    })
}

fn status(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Streaming => "in_progress",
        MessageStatus::Queued => "queued",
        // A reply that called tools is complete: its calls are its output.
        MessageStatus::Complete | MessageStatus::RequiresAction => "completed",
        MessageStatus::Cancelled => "cancelled",
        MessageStatus::Failed => "failed",
    }
}

fn usage(prompt: Option<i32>, completion: Option<i32>) -> Value {
    let (i, o) = (
        i64::from(prompt.unwrap_or(0)),
        i64::from(completion.unwrap_or(0)),
    );
    json!({
        "input_tokens": i, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": o, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": i + o,
    })
}

/// The Response object.
#[allow(clippy::too_many_arguments)]
fn object(
    id: &str,
    created_at: i64,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
    record: &Value,
    store: bool,
) -> Value {
    let error = (status == "failed").then(
        || json!({"code": "server_error", "message": "the model failed; see the stored reply"}),
    );
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": error,
        "incomplete_details": null,
        "previous_response_id": record["previous_response_id"],
        "conversation": record["conversation"].as_str().map(|c| json!({"id": c})),
        "instructions": record["instructions"],
        "metadata": record.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "max_output_tokens": record["max_output_tokens"],
        "parallel_tool_calls": false,
        "tool_choice": "auto",
        "tools": [],
        "temperature": null,
        "top_p": null,
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "store": store,
        "background": record["background"].as_bool().unwrap_or(false),
        "user": null,
    })
}

/// A stored reply as a Response (its record read from the user message above it).
fn stored(reply: &Message, user: Option<&Message>) -> Value {
    let record = user
        .and_then(|u| u.metadata.as_map().get("openai").cloned())
        .unwrap_or(Value::Null);
    let output = if reply.status == MessageStatus::Streaming && reply.content.as_str().is_empty() {
        Vec::new()
    } else {
        items(reply)
    };
    let done = reply.status != MessageStatus::Streaming;
    // A background response that has not produced anything yet is still queued.
    let queued = !done && output.is_empty() && record["background"] == true;
    object(
        &response_id(reply.thread_id, reply.id),
        reply.created_at.timestamp(),
        reply.model.as_ref().map(|m| m.as_str()).unwrap_or_default(),
        if queued {
            "queued"
        } else {
            status(reply.status)
        },
        output,
        done.then(|| usage(reply.prompt_tokens, reply.completion_tokens)),
        &record,
        true,
    )
}

/// The reply a response id names, and the user message above it.
async fn find<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    id: &str,
) -> Result<(Message, Option<Message>), ApiError> {
    let (thread, reply_id) = parse_response(id)?;
    let reply = state.messages.get(who, thread, reply_id).await?;
    if reply.role != Role::Assistant {
        return Err(ApiError::App(AppError::MessageNotFound));
    }
    let user = match reply.parent_id {
        Some(p) => Some(state.messages.get(who, thread, p).await?),
        None => None,
    };
    Ok((reply, user))
}

/// The numbered events of a stored reply: the prelude, then its log from after `after`.
fn stored_stream<D: Deps>(
    state: web::Data<AppState<D>>,
    who: Principal,
    events: Events,
    user: Option<Message>,
    log: chat_threads_application::replies::EventStream,
    after: Option<u64>,
) -> HttpResponse {
    let events = std::rc::Rc::new(events);
    let prelude = futures_util::stream::once(std::future::ready(events.prelude()));
    let rest = log.then(move |e: ThreadEvent| {
        let (state, who, events, user) = (state.clone(), who.clone(), events.clone(), user.clone());
        async move {
            let n = 3 + e.seq.unwrap_or(0);
            match &e.data {
                Event::MessageDelta { delta } => events.delta(n, delta),
                Event::ReasoningDelta { .. } => {
                    events.reasoned.set(true);
                    Vec::new()
                }
                // Calls of tools the service ran come as `mcp_call` items of the final response.
                Event::ToolCallStarted {
                    index,
                    server: Some(_),
                    ..
                } => {
                    events.served.borrow_mut().insert(*index);
                    Vec::new()
                }
                Event::ToolCallStarted {
                    index,
                    call_id,
                    name,
                    server: None,
                } => events.call_added(n, *index, call_id, name),
                Event::ToolCallDelta { index, .. } if events.served.borrow().contains(index) => {
                    Vec::new()
                }
                Event::ToolCallDelta { index, arguments } => {
                    events.call_delta(n, *index, arguments)
                }
                Event::MessageCompleted { .. }
                | Event::MessageRequiresAction { .. }
                | Event::MessageCancelled { .. }
                | Event::MessageFailed { .. } => {
                    let Some(reply) = e.reply_id else {
                        return Vec::new();
                    };
                    match state.messages.get(&who, e.thread_id, reply).await {
                        Ok(m) => events.end(n, &stored(&m, user.as_ref())),
                        Err(_) => Vec::new(),
                    }
                }
                _ => Vec::new(),
            }
        }
    });
    stream_response(prelude.chain(rest), after)
}

/// `POST /openai/v1/responses`.
pub async fn create<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut r = request(body.into_inner(), state.openai)?;
    let who = auth.0;
    read_input(&state, &who, &mut r).await?;
    if !r.store {
        return unstored(&state, &who, r).await;
    }
    // What can be refused for sure is refused before anything is written.
    state
        .replies
        .catalog()
        .resolve(&who, r.model.as_deref(), None)?;
    let Some((last, earlier)) = r.input.split_last() else {
        return Err(bad("input", "the last input item must be a user message"));
    };
    let send = |parent: Option<MessageId>, conversation: Option<ThreadId>, anchor| SendInput {
        content: last.text.clone(),
        parent_id: parent,
        model: r.model.clone(),
        metadata: Some(json!({"openai": record(&r, conversation, anchor)})),
        max_tokens: r.max_output_tokens,
        sampling: r.sampling.clone(),
        tools: r.tools.clone(),
        ..Default::default()
    };
    // Tool outputs last: they answer the calls of the assistant message above them, and the
    // reply continues from them (no user message).
    let results = |conversation: Option<ThreadId>, anchor| ToolResultsInput {
        results: last.parts.clone(),
        model: r.model.clone(),
        metadata: Some(json!({"openai": record(&r, conversation, anchor)})),
        max_tokens: r.max_output_tokens,
        sampling: r.sampling.clone(),
        tools: r.tools.clone(),
        ..Default::default()
    };
    let (thread, parent) = match (&r.previous, &r.conversation) {
        (Some(prev), _) => {
            let (reply, _) = find(&state, &who, prev).await?;
            (reply.thread_id, Some(reply.id))
        }
        (None, Some(conv)) => {
            let thread = state
                .threads
                .get(&who, parse_conversation(conv)?, false)
                .await?;
            (thread.id, thread.active_leaf_id)
        }
        (None, None) => {
            // A new thread with the whole input: one use case, the thread and the earlier
            // items in one transaction; a refused reply leaves nothing.
            let turns = earlier
                .iter()
                .map(InputItem::turn)
                .collect::<Result<Vec<_>, _>>()?;
            let thread = NewThread {
                metadata: None,
                system_prompt: r.instructions.clone(),
                model: r.model.clone(),
                continue_earlier: state.openai.continue_histories,
            };
            let replies = &state.replies;
            let (_, started) = if last.is_results() {
                replies
                    .results_with_history(&who, thread, turns, results(None, None))
                    .await?
            } else {
                replies
                    .send_with_history(&who, thread, turns, send(None, None, None))
                    .await?
            };
            return respond(state, who, &r, started).await;
        }
    };
    let conversation = r.conversation.as_ref().map(|_| thread);
    if let Some(instructions) = &r.instructions {
        state
            .threads
            .update(
                &who,
                thread,
                chat_threads_application::UpdateThread {
                    system_prompt: Some(Some(instructions.clone())),
                    ..Default::default()
                },
            )
            .await?;
    }
    let appended = append_items(&state, &who, thread, parent, earlier).await?;
    let under = appended.last().map(|m| m.id).or(parent);
    let started = if last.is_results() {
        let Some(calling) = under else {
            return Err(bad(
                "input",
                "function_call_output items need the response that called the tools",
            ));
        };
        state
            .replies
            .submit_tool_results(&who, thread, calling, results(conversation, parent))
            .await?
    } else {
        state
            .replies
            .send(&who, thread, send(under, conversation, parent))
            .await?
    };
    respond(state, who, &r, started).await
}

/// The answer to a create: the finished Response, or its events as they come.
async fn respond<D: Deps>(
    state: web::Data<AppState<D>>,
    who: Principal,
    r: &Request,
    started: chat_threads_application::replies::Started,
) -> Result<HttpResponse, ApiError> {
    let user = started.user_message.clone();
    if r.background && !r.stream {
        // Answered now (`queued`); the reply runs on. The record on the user message says it
        // is a background response.
        return Ok(HttpResponse::Ok().json(stored(&started.assistant_message, user.as_ref())));
    }
    if !r.stream {
        let reply = state.replies.finished(&who, &started).await?;
        return Ok(HttpResponse::Ok().json(stored(&reply, user.as_ref())));
    }
    let events = Events::new(
        stored(&started.assistant_message, user.as_ref()),
        started.assistant_message.thread_id,
        started.assistant_message.id,
    );
    let log = started.log.follow(0);
    Ok(stored_stream(state, who, events, user, log, None))
}

/// A response with `store: false`: the model answers the input (and `instructions`) through
/// the same catalog, quota and balance, and nothing is kept; its id finds nothing later.
async fn unstored<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    r: Request,
) -> Result<HttpResponse, ApiError> {
    use chat_threads_application::replies::direct::Piece;
    use chat_threads_application::replies::llm::ChatMessage;
    if !r.tools.servers.is_empty() {
        return Err(bad(
            "tools",
            "mcp tools run in stored responses: the service stores each call with its result",
        ));
    }
    if r.previous.is_some() || r.conversation.is_some() {
        return Err(bad(
            "store",
            "a response that continues a stored one (previous_response_id, conversation) is stored too",
        ));
    }
    let mut messages = Vec::new();
    if let Some(i) = &r.instructions {
        messages.push((None, ChatMessage::text("system", i.clone())));
    }
    messages.extend(
        r.input
            .iter()
            .flat_map(InputItem::chat_messages)
            .map(|m| (None, m)),
    );
    // Calls and results go to the model in pairs, as for a stored reply.
    let messages: Vec<ChatMessage> = chat_threads_application::replies::prompt::paired(messages)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let mut completion = state
        .replies
        .complete_unstored(
            who,
            r.model.as_deref(),
            messages,
            r.max_output_tokens,
            r.sampling.clone(),
            r.tools.clone(),
        )
        .await?;
    let id = format!("resp_{}", uuid::Uuid::now_v7().simple());
    let reply_id = MessageId::new();
    // Ids of a thread that is never stored: a reference to them finds nothing.
    let thread_id = ThreadId::new();
    let created = chrono::Utc::now().timestamp();
    let model = completion.model.clone();
    let record = record(&r, None, None);
    let answer = move |status: &str, text: &str, calls: &[ToolCall], u: Option<Usage>| {
        let done = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        let parts: Vec<chat_threads_domain::Part> = calls
            .iter()
            .map(|c| chat_threads_domain::Part::ToolCall {
                call_id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                server: None,
            })
            .collect();
        let output = part_items(thread_id, reply_id, done, Role::Assistant, text, &parts);
        let usage = u.map(|u| {
            usage(
                i32::try_from(u.prompt_tokens).ok(),
                i32::try_from(u.completion_tokens).ok(),
            )
        });
        object(&id, created, &model, status, output, usage, &record, false)
    };
    if !r.stream {
        let (text, calls, reported) = completion
            .collect()
            .await
            .map_err(|e| ApiError::App(e.into()))?;
        let u = completion.finish(&text, reported).await;
        return Ok(HttpResponse::Ok().json(answer("completed", &text, &calls, Some(u))));
    }
    let events = Events::new(answer("in_progress", "", &[], None), thread_id, reply_id);
    let mut started = std::collections::HashSet::new();
    let mut next = 4u64;
    let prelude = futures_util::stream::once(std::future::ready(events.prelude()));
    // The prelude is numbered 0-3, the events of the pieces from 4 on.
    let rest = completion.pieces().map(move |piece| {
        let n = next;
        let out = match piece {
            Piece::Text(d) => events.delta(n, &d),
            Piece::Reasoning(_) => Vec::new(),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                let mut out = Vec::new();
                if started.insert(index) {
                    let id = id.unwrap_or_else(|| format!("call_{index}"));
                    out.extend(events.call_added(n, index, &id, &name.unwrap_or_default()));
                }
                if !arguments.is_empty() {
                    let at = n + out.len() as u64;
                    out.extend(events.call_delta(at, index, &arguments));
                }
                out
            }
            Piece::End {
                text,
                tool_calls,
                usage,
                error,
            } => {
                let status = if error.is_some() {
                    "failed"
                } else {
                    "completed"
                };
                events.end(n, &answer(status, &text, &tool_calls, Some(usage)))
            }
        };
        next += out.len() as u64;
        out
    });
    Ok(stream_response(prelude.chain(rest), None))
}

/// Query of `GET /openai/v1/responses/{id}`.
#[derive(Debug, Deserialize)]
pub struct GetQuery {
    /// Stream the response's events (live while it runs, else a replay of the stored reply).
    #[serde(default)]
    pub stream: bool,
    /// With `stream`: only events numbered above this (resuming a dropped stream).
    pub starting_after: Option<u64>,
    /// Extra fields to include: none are supported.
    #[serde(default, rename = "include[]")]
    pub include: Vec<String>,
}

/// `GET /openai/v1/responses/{id}`: the response, or with `stream=true` its events (from
/// after `starting_after`).
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
    query: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    if !q.include.is_empty() {
        return Err(bad("include", "no extra fields can be included"));
    }
    let who = auth.0;
    let (reply, user) = find(&state, &who, &id).await?;
    if !q.stream {
        return Ok(HttpResponse::Ok().json(stored(&reply, user.as_ref())));
    }
    let after = q.starting_after;
    let log = state
        .replies
        .follow(
            &who,
            reply.thread_id,
            reply.id,
            after.map_or(0, |a| a.saturating_sub(3)),
        )
        .await?;
    let events = Events::new(stored(&reply, user.as_ref()), reply.thread_id, reply.id);
    Ok(stored_stream(state, who, events, user, log, after))
}

/// The input items of a response: the messages from below the item they went under
/// (`input_after` of its record) down to its user message, oldest first. A reply made natively
/// (its user message has no Responses record) has one input item: the message it answers —
/// never the earlier turns of its thread.
async fn inputs<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    user: Option<Message>,
) -> Result<Vec<Message>, ApiError> {
    if let Some(u) = &user
        && !u.metadata.as_map().contains_key("openai")
    {
        return Ok(vec![u.clone()]);
    }
    let after = user
        .as_ref()
        .and_then(|u| {
            u.metadata.to_value()["openai"]["input_after"]
                .as_str()
                .map(str::to_owned)
        })
        .and_then(|id| super::items::parse_item(&id).ok())
        .map(|(_, m)| m);
    let mut out = Vec::new();
    let mut next = user;
    while let Some(m) = next.take() {
        if Some(m.id) == after || out.len() >= 1_000 {
            break;
        }
        next = match m.parent_id {
            Some(p) => Some(state.messages.get(who, m.thread_id, p).await?),
            None => None,
        };
        out.push(m);
    }
    out.reverse();
    Ok(out)
}

/// `GET /openai/v1/responses/{id}/input_items`.
pub async fn input_items_list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (_, user) = find(&state, &auth.0, &id).await?;
    let items = inputs(&state, &auth.0, user).await?;
    let list = page(items_of(&items), &query)?;
    Ok(HttpResponse::Ok().json(list))
}

/// `DELETE /openai/v1/responses/{id}`: the response's input items, its reply and whatever
/// continued from it (the subtree from its first input item).
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (reply, user) = find(&state, &auth.0, &id).await?;
    let first = inputs(&state, &auth.0, user)
        .await?
        .first()
        .map_or(reply.id, |m| m.id);
    state
        .messages
        .delete(&auth.0, reply.thread_id, first, DeleteScope::Subtree)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "object": "response", "deleted": true})))
}

/// `POST /openai/v1/responses/{id}/cancel`: stops a response still running; the text so far
/// stays (status `cancelled`). A finished response is returned as it is.
pub async fn cancel<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (reply, user) = find(&state, &auth.0, &id).await?;
    let reply = state
        .replies
        .cancel(&auth.0, reply.thread_id, reply.id)
        .await?;
    Ok(HttpResponse::Ok().json(stored(&reply, user.as_ref())))
}
