//! What Responses and Conversations share: ids that carry the thread and message they stand for
//! (so an id alone finds its data, and only its owner's), message items in OpenAI's shape, input
//! items parsed from requests, and list pages with `after` / `limit` / `order`.

use chat_threads_application::{AppError, AppendMessage, MessageFilter};
use chat_threads_domain::{Message, MessageId, MessageStatus, Principal, Role, ThreadId};
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

/// A message is an item: `msg_<message>`.
pub(super) fn item_id(message: MessageId) -> String {
    format!("msg_{}", hex(message.as_uuid()))
}

/// The message of an item id; anything else is an unknown item (404).
pub(super) fn parse_item(id: &str) -> Result<MessageId, ApiError> {
    id.strip_prefix("msg_")
        .and_then(unhex)
        .map(MessageId::from_uuid)
        .ok_or(ApiError::App(AppError::MessageNotFound))
}

/// An item's status from its message's.
fn item_status(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Streaming => "in_progress",
        MessageStatus::Complete | MessageStatus::RequiresAction => "completed",
        MessageStatus::Cancelled | MessageStatus::Failed => "incomplete",
    }
}

/// A `message` item with one text part: `output_text` for the assistant, `input_text` for
/// anyone else.
pub(super) fn text_item(id: MessageId, status: &str, role: Role, text: &str) -> Value {
    let part = if role == Role::Assistant {
        json!({"type": "output_text", "text": text, "annotations": []})
    } else {
        json!({"type": "input_text", "text": text})
    };
    json!({
        "type": "message",
        "id": item_id(id),
        "status": status,
        "role": role.as_str(),
        "content": [part],
    })
}

/// A message as a `message` item.
pub(super) fn item(m: &Message) -> Value {
    text_item(m.id, item_status(m.status), m.role, m.content.as_str())
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

/// A message item of a request.
#[derive(Debug, Clone)]
pub(super) struct InputItem {
    pub role: &'static str,
    pub text: String,
}

impl InputItem {
    /// The item as a message to append under `parent` (`None`: the active leaf).
    pub(super) fn append(&self, parent: Option<MessageId>) -> AppendMessage {
        AppendMessage {
            role: Some(self.role.to_owned()),
            content: self.text.clone(),
            parent_id: parent,
            ..Default::default()
        }
    }

    /// The item as a turn of a history stored whole.
    pub(super) fn turn(&self) -> Result<chat_threads_application::replies::Turn, ApiError> {
        Ok(chat_threads_application::replies::Turn {
            role: chat_threads_domain::Role::parse(self.role)
                .map_err(chat_threads_application::AppError::from)?,
            content: self.text.clone(),
            parts: Vec::new(),
        })
    }
}

/// Input items: a string (one user message) or a list of message items whose content is a
/// string or text parts. Anything else (images, files, tool calls, reasoning) is refused naming
/// `field`, never dropped.
pub(super) fn input_items(v: &Value, field: &'static str) -> Result<Vec<InputItem>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![InputItem {
            role: "user",
            text: s.clone(),
        }]),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|i| input_item(i, field)).collect()
        }
        _ => Err(bad(
            field,
            "must be a string or a non-empty list of message items",
        )),
    }
}

fn input_item(i: &Value, field: &'static str) -> Result<InputItem, ApiError> {
    match i["type"].as_str() {
        None | Some("message") => {}
        Some(other) => {
            return Err(bad(
                field,
                format!(
                    "items of type {other:?} are not supported (messages only; see docs/openai.md)"
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
    Ok(InputItem { role, text })
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
