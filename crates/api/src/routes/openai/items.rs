//! What Responses and Conversations share: ids that carry the thread and message they stand for
//! (so an id alone finds its data, and only its owner's), message items in OpenAI's shape, input
//! items parsed from requests, and list pages with `after` / `limit` / `order`.

use chat_threads_application::{AppError, AppendMessage, MessageFilter};
use chat_threads_domain::{Message, MessageId, MessageStatus, Part, Principal, Role, ThreadId};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::bad;
use crate::error::ApiError;
use crate::state::{AppState, Deps};

fn hex(u: Uuid) -> String {
    u.simple().to_string()
}

fn unhex(s: &str) -> Option<Uuid> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Uuid::parse_str(s).ok()
    } else {
        None
    }
}

/// A conversation is a thread: `conv_<thread>`.
pub(super) fn conversation_id(thread: ThreadId) -> String {
    format!("conv_{}", hex(thread.as_uuid()))
}

/// The thread of a conversation id; anything else is an unknown conversation (404).
pub(super) fn parse_conversation(id: &str) -> Result<ThreadId, ApiError> {
    id.strip_prefix("conv_")
        .and_then(unhex)
        .map(ThreadId::from_uuid)
        .ok_or(ApiError::App(AppError::ThreadNotFound))
}

/// A response is an assistant reply of a thread: `resp_<thread><message>`.
pub(super) fn response_id(thread: ThreadId, reply: MessageId) -> String {
    format!("resp_{}{}", hex(thread.as_uuid()), hex(reply.as_uuid()))
}

/// The thread and reply of a response id; anything else is an unknown response (404).
pub(super) fn parse_response(id: &str) -> Result<(ThreadId, MessageId), ApiError> {
    let parts = id
        .strip_prefix("resp_")
        .filter(|rest| rest.len() == 64 && rest.is_ascii())
        .and_then(|rest| Some((unhex(&rest[..32])?, unhex(&rest[32..])?)));
    match parts {
        Some((t, m)) => Ok((ThreadId::from_uuid(t), MessageId::from_uuid(m))),
        None => Err(ApiError::App(AppError::MessageNotFound)),
    }
}

/// A message is an item: `msg_<thread><message>` (the thread too, so that an
/// `item_reference` finds it).
pub(super) fn item_id(thread: ThreadId, message: MessageId) -> String {
    format!("msg_{}{}", hex(thread.as_uuid()), hex(message.as_uuid()))
}

/// The message of an item id (`msg_`, or `fc_`, `fco_`, `rs_`, `mcp_` with the part's place
/// after `_`), and its thread when the id carries it (ids issued before carried the message
/// only); anything else is an unknown item (404).
pub(super) fn parse_item(id: &str) -> Result<(Option<ThreadId>, MessageId), ApiError> {
    let rest = ["msg_", "fc_", "fco_", "rs_", "mcp_"]
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or("");
    let hexes = rest.split('_').next().unwrap_or("");
    let parsed = match hexes.len() {
        32 => unhex(hexes).map(|m| (None, MessageId::from_uuid(m))),
        64 => unhex(&hexes[..32])
            .zip(unhex(&hexes[32..]))
            .map(|(t, m)| (Some(ThreadId::from_uuid(t)), MessageId::from_uuid(m))),
        _ => None,
    };
    parsed.ok_or(ApiError::App(AppError::MessageNotFound))
}

/// The item of `items` that `id` names (by kind, message and place: an id given out before
/// item ids carried the thread still finds its item).
pub(super) fn find_item(items: Vec<Value>, id: &str) -> Option<Value> {
    let key = |id: &str| {
        let (kind, rest) = id.split_once('_')?;
        let place = rest.split_once('_').map(|(_, p)| p.to_owned());
        Some((kind.to_owned(), parse_item(id).ok()?.1, place))
    };
    let want = key(id)?;
    items
        .into_iter()
        .find(|i| i["id"].as_str().and_then(key).as_ref() == Some(&want))
}

/// An item's status from its message's.
fn item_status(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Streaming | MessageStatus::Queued => "in_progress",
        MessageStatus::Complete | MessageStatus::RequiresAction => "completed",
        MessageStatus::Cancelled | MessageStatus::Failed => "incomplete",
    }
}

/// A `message` item with one text part: `output_text` for the assistant, `input_text` for
/// anyone else.
pub(super) fn text_item(
    thread: ThreadId,
    id: MessageId,
    status: &str,
    role: Role,
    text: &str,
) -> Value {
    let part = if role == Role::Assistant {
        json!({"type": "output_text", "text": text, "annotations": []})
    } else {
        json!({"type": "input_text", "text": text})
    };
    json!({
        "type": "message",
        "id": item_id(thread, id),
        "status": status,
        "role": role.as_str(),
        "content": [part],
    })
}

/// A message as items: its reasoning (`reasoning`), the tools the service ran (`mcp_call`, a
/// call with its output), its text (`message`; left out of a message that is only tool calls
/// or results), its calls of the caller's tools (`function_call`), its tool results
/// (`function_call_output`).
pub(super) fn items(m: &Message) -> Vec<Value> {
    part_items(
        m.thread_id,
        m.id,
        item_status(m.status),
        m.role,
        m.content.as_str(),
        &m.parts,
    )
}

/// The items of a message given by its pieces (see [`items`]).
pub(super) fn part_items(
    thread: ThreadId,
    id: MessageId,
    status: &str,
    role: Role,
    text: &str,
    parts: &[Part],
) -> Vec<Value> {
    let hexid = format!("{}{}", hex(thread.as_uuid()), hex(id.as_uuid()));
    let mut out = Vec::new();
    let only_tools = text.is_empty() && parts.iter().any(|p| !matches!(p, Part::Reasoning { .. }));
    for (i, part) in parts.iter().enumerate() {
        // A call the service ran and its result are one `mcp_call` item.
        let result_of = |id: &str| {
            parts.iter().find_map(|p| match p {
                Part::ToolResult {
                    call_id,
                    output,
                    is_error,
                } if call_id == id => Some((Part::output_text(output), *is_error)),
                _ => None,
            })
        };
        out.push(match part {
            Part::ToolResult { .. } if role == Role::Assistant => continue,
            Part::ToolCall {
                call_id,
                name,
                arguments,
                server: Some(server),
            } => {
                let (output, is_error) = result_of(call_id).unzip();
                json!({
                    "type": "mcp_call", "id": format!("mcp_{hexid}_{i}"), "server_label": server,
                    "name": name, "arguments": arguments,
                    "output": output.clone().filter(|_| is_error != Some(true)),
                    "error": output.filter(|_| is_error == Some(true)),
                })
            }
            Part::Reasoning {
                summary,
                encrypted_content,
            } => json!({
                "type": "reasoning", "id": format!("rs_{hexid}_{i}"),
                "summary": summary.iter().map(|t| json!({"type": "summary_text", "text": t})).collect::<Vec<_>>(),
                "encrypted_content": encrypted_content,
            }),
            Part::ToolCall {
                call_id,
                name,
                arguments,
                server: None,
            } => json!({
                "type": "function_call", "id": format!("fc_{hexid}_{i}"), "call_id": call_id,
                "name": name, "arguments": arguments, "status": status,
            }),
            Part::ToolResult {
                call_id, output, ..
            } => json!({
                "type": "function_call_output", "id": format!("fco_{hexid}_{i}"),
                "call_id": call_id, "output": Part::output_text(output), "status": status,
            }),
        });
    }
    // In the order the model wrote them: reasoning and the rounds of tools the service ran,
    // then the text, then the calls that wait for results.
    if !only_tools {
        let at = out
            .iter()
            .position(|i| i["type"] != "reasoning" && i["type"] != "mcp_call")
            .unwrap_or(out.len());
        out.insert(at, text_item(thread, id, status, role, text));
    }
    out
}

/// The items of messages, in order.
pub(super) fn items_of<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Vec<Value> {
    messages.into_iter().flat_map(items).collect()
}

/// `metadata` of a request: an object of at most 16 strings (OpenAI's rule), or absent.
pub(super) fn metadata(
    metadata: Option<serde_json::Map<String, Value>>,
) -> Result<Option<Value>, ApiError> {
    match metadata {
        None => Ok(None),
        Some(m) if m.values().all(Value::is_string) && m.len() <= 16 => Ok(Some(Value::Object(m))),
        Some(_) => Err(bad(
            "metadata",
            "must be an object of at most 16 string values",
        )),
    }
}

/// A message of a request, made of one or more items: a user, system or assistant message; an
/// assistant's reasoning and `function_call`s (with its text, when they come together); or
/// `function_call_output`s (a `tool` message).
#[derive(Debug, Clone)]
pub(super) struct InputItem {
    pub role: &'static str,
    pub text: String,
    pub parts: Vec<Part>,
}

impl InputItem {
    /// The item as a message to append under `parent` (`None`: the active leaf).
    pub(super) fn append(&self, parent: Option<MessageId>) -> AppendMessage {
        AppendMessage {
            role: Some(self.role.to_owned()),
            content: self.text.clone(),
            parent_id: parent,
            parts: self.parts.clone(),
            ..Default::default()
        }
    }

    /// The item as a turn of a history stored whole.
    pub(super) fn turn(&self) -> Result<chat_threads_application::replies::Turn, ApiError> {
        Ok(chat_threads_application::replies::Turn {
            role: chat_threads_domain::Role::parse(self.role)
                .map_err(chat_threads_application::AppError::from)?,
            content: self.text.clone(),
            parts: self.parts.clone(),
        })
    }

    /// The item as messages of a prompt, expanded as a stored message is
    /// ([`chat_threads_application::replies::prompt::expand`]); an item with nothing to send
    /// stays one (empty) message.
    pub(super) fn chat_messages(&self) -> Vec<chat_threads_application::replies::llm::ChatMessage> {
        use chat_threads_application::replies::llm::ChatMessage;
        use chat_threads_application::replies::prompt::expand;
        let out = expand(self.role, self.text.clone(), Vec::new(), self.parts.clone());
        if out.is_empty() {
            return vec![ChatMessage::text(self.role, self.text.clone())];
        }
        out
    }

    /// Whether it holds tool results.
    pub(super) fn is_results(&self) -> bool {
        self.role == "tool"
    }

    /// Whether it calls tools.
    fn calls(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::ToolCall { .. }))
    }

    /// Takes `next` into this message when they belong together: an assistant's reasoning,
    /// text and calls in a row (a second text starts a new message, so does anything after a
    /// call but another call), and tool results in a row.
    fn absorb(&mut self, next: &InputItem) -> bool {
        let fits = match (self.role, next.role) {
            ("tool", "tool") => true,
            ("assistant", "assistant") => {
                let next_text = !next.text.is_empty();
                if self.calls() {
                    next.calls() && !next_text
                } else {
                    !next_text || self.text.is_empty()
                }
            }
            _ => false,
        };
        if fits {
            self.text.push_str(&next.text);
            self.parts.extend(next.parts.iter().cloned());
        }
        fits
    }
}

/// Input items: a string (one user message) or a list of items — messages whose content is a
/// string or text parts, `function_call`, `function_call_output`, `reasoning`, `mcp_call` and
/// `item_reference` items (an item this service gave out, read back) — grouped into messages.
/// Anything else (images, files, hosted tools' items) is refused naming `field`, never dropped.
pub(super) async fn input_items<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    v: &Value,
    field: &'static str,
) -> Result<Vec<InputItem>, ApiError> {
    let raw = match v {
        Value::String(s) => vec![json!({"role": "user", "content": s})],
        Value::Array(items) if !items.is_empty() => items.clone(),
        _ => {
            return Err(bad(
                field,
                "must be a string or a non-empty list of message items",
            ));
        }
    };
    let mut out: Vec<InputItem> = Vec::new();
    for i in &raw {
        let next = match i["type"].as_str() {
            Some("item_reference") => referenced(state, who, i, field).await?,
            _ => input_item(i, field)?,
        };
        if !out.last_mut().is_some_and(|last| last.absorb(&next)) {
            out.push(next);
        }
    }
    Ok(out)
}

/// The item an `item_reference` names, read from the caller's messages as it was given out.
async fn referenced<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    i: &Value,
    field: &'static str,
) -> Result<InputItem, ApiError> {
    let id = text_of(i, "id", field)?;
    let unknown = || {
        bad(
            field,
            format!("item_reference {id:?} names no item of yours"),
        )
    };
    let (Some(thread), message) = parse_item(&id).map_err(|_| unknown())? else {
        return Err(unknown());
    };
    let m = match state.messages.get(who, thread, message).await {
        Ok(m) => m,
        Err(AppError::MessageNotFound | AppError::ThreadNotFound) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    match find_item(items(&m), &id) {
        Some(item) => input_item(&item, field),
        // The text item of a reply that only called tools (a stream announces it empty).
        None if id.starts_with("msg_") && m.role == Role::Assistant => Ok(InputItem {
            role: "assistant",
            text: String::new(),
            parts: Vec::new(),
        }),
        None => Err(unknown()),
    }
}

fn text_of(i: &Value, key: &str, field: &'static str) -> Result<String, ApiError> {
    i[key].as_str().map(str::to_owned).ok_or_else(|| {
        bad(
            field,
            format!("a {} item needs {key} (a string)", i["type"]),
        )
    })
}

fn input_item(i: &Value, field: &'static str) -> Result<InputItem, ApiError> {
    let part = |role: &'static str, part: Part| {
        Ok(InputItem {
            role,
            text: String::new(),
            parts: vec![part],
        })
    };
    match i["type"].as_str() {
        None | Some("message") => {}
        Some("function_call") => {
            return part(
                "assistant",
                Part::ToolCall {
                    call_id: text_of(i, "call_id", field)?,
                    name: text_of(i, "name", field)?,
                    arguments: text_of(i, "arguments", field)?,
                    server: None,
                },
            );
        }
        Some("mcp_call") => {
            // A call a server ran, with its output: both stay on the assistant message.
            let call_id = text_of(i, "id", field)?;
            let failed = i["error"].as_str().filter(|e| !e.is_empty());
            let output = failed.or(i["output"].as_str()).unwrap_or_default();
            return Ok(InputItem {
                role: "assistant",
                text: String::new(),
                parts: vec![
                    Part::ToolCall {
                        call_id: call_id.clone(),
                        name: text_of(i, "name", field)?,
                        arguments: text_of(i, "arguments", field)?,
                        server: Some(text_of(i, "server_label", field)?),
                    },
                    Part::ToolResult {
                        call_id,
                        output: Value::String(output.to_owned()),
                        is_error: failed.is_some(),
                    },
                ],
            });
        }
        Some("function_call_output") => {
            // A string, or content parts (their text joined); any other JSON as it is.
            let output = match &i["output"] {
                Value::Array(parts) if parts.iter().all(|p| p["text"].is_string()) => {
                    Value::String(parts.iter().filter_map(|p| p["text"].as_str()).collect())
                }
                Value::Null => {
                    return Err(bad(field, "a function_call_output item needs output"));
                }
                other => other.clone(),
            };
            return part(
                "tool",
                Part::ToolResult {
                    call_id: text_of(i, "call_id", field)?,
                    output,
                    is_error: false,
                },
            );
        }
        Some("reasoning") => {
            let summary: Vec<&str> = i["summary"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["text"].as_str())
                .collect();
            let summary = summary.join("\n\n");
            return part(
                "assistant",
                Part::Reasoning {
                    summary: (!summary.is_empty()).then_some(summary),
                    encrypted_content: i["encrypted_content"].as_str().map(str::to_owned),
                },
            );
        }
        Some(other) => {
            return Err(bad(
                field,
                format!(
                    "items of type {other:?} are not supported (messages, function_call, function_call_output and reasoning; see docs/openai.md)"
                ),
            ));
        }
    }
    let role = match i["role"].as_str() {
        Some("user") => "user",
        Some("assistant") => "assistant",
        Some("system" | "developer") => "system",
        Some(other) => return Err(bad(field, format!("role {other:?} is not supported"))),
        None => return Err(bad(field, "every item needs a role")),
    };
    let text = match &i["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut text = String::new();
            for p in parts {
                match (p["type"].as_str(), p["text"].as_str()) {
                    (Some("input_text" | "output_text" | "text"), Some(t)) => text.push_str(t),
                    (Some(other), _) if !other.ends_with("text") => {
                        return Err(bad(
                            field,
                            format!(
                                "content parts of type {other:?} are not supported (text only; see docs/openai.md)"
                            ),
                        ));
                    }
                    _ => return Err(bad(field, "a text part needs its text")),
                }
            }
            text
        }
        _ => {
            return Err(bad(
                field,
                "an item's content must be a string or a list of parts",
            ));
        }
    };
    Ok(InputItem {
        role,
        text,
        parts: Vec::new(),
    })
}

/// Appends `items` one under the other, the first under `parent` (`None`: the active leaf);
/// returns the stored messages.
pub(super) async fn append_items<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    thread: ThreadId,
    mut parent: Option<MessageId>,
    items: &[InputItem],
) -> Result<Vec<Message>, AppError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let m = state
            .messages
            .append(who, thread, item.append(parent))
            .await?;
        parent = Some(m.id);
        out.push(m);
    }
    Ok(out)
}

/// Most messages a conversation lists (its active path, read whole for `after` paging).
const MAX_ITEMS: usize = 10_000;

/// The live messages of a thread's active path, root first (tombstones left out).
pub(super) async fn path_messages<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    thread: ThreadId,
) -> Result<Vec<Message>, AppError> {
    let mut pages: Vec<Vec<Message>> = Vec::new();
    let mut cursor = None;
    let mut count = 0;
    loop {
        let page = state
            .messages
            .active_path(who, thread, cursor, Some(100), MessageFilter::default())
            .await?;
        count += page.data.len();
        pages.push(page.data);
        match page.next_cursor {
            Some(next) if count < MAX_ITEMS => cursor = Some(next),
            _ => break,
        }
    }
    Ok(pages
        .into_iter()
        .rev()
        .flatten()
        .filter(|m| !m.is_tombstone() && !m.is_deleted())
        .collect())
}

/// `after` / `limit` / `order` of a list of items.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// An item id: the page starts after it.
    pub after: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `asc` or `desc` (default `desc`, newest first).
    pub order: Option<String>,
    /// Extra fields to include: none are supported, so this is accepted and ignored only when
    /// empty.
    #[serde(default, rename = "include[]")]
    pub include: Vec<String>,
}

/// One page of `items` (given oldest first) as OpenAI's list object.
pub(super) fn page(mut items: Vec<Value>, q: &ListQuery) -> Result<Value, ApiError> {
    if !q.include.is_empty() {
        return Err(bad("include", "no extra fields can be included"));
    }
    let limit = match q.limit {
        None => 20,
        Some(n @ 1..=100) => n as usize,
        Some(_) => return Err(bad("limit", "must be between 1 and 100")),
    };
    match q.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(_) => return Err(bad("order", "must be asc or desc")),
    }
    let start = match &q.after {
        None => 0,
        Some(after) => {
            items
                .iter()
                .position(|i| i["id"].as_str() == Some(after.as_str()))
                .ok_or_else(|| bad("after", "is not an item of this list"))?
                + 1
        }
    };
    let rest = items.len().saturating_sub(start);
    let data: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let has_more = rest > data.len();
    Ok(list(data, has_more))
}

/// OpenAI's list object of `data`.
pub(super) fn list(data: Vec<Value>, has_more: bool) -> Value {
    json!({
        "object": "list",
        "first_id": data.first().map(|i| i["id"].clone()),
        "last_id": data.last().map(|i| i["id"].clone()),
        "has_more": has_more,
        "data": data,
    })
}
