//! The NDJSON lines of an export (and an import): a thread, its messages, its summaries.

use chat_threads_domain::{Message, Summary, Thread, Timestamp};

use serde::{Deserialize, Serialize};

/// A thread line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRecord {
    pub id: uuid::Uuid,
    #[serde(default)]
    pub title: String,
    pub product: Option<String>,
    pub org_id: Option<String>,
    #[serde(default = "active")]
    pub status: String,
    pub document_id: Option<String>,
    pub external_id: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    pub active_leaf_id: Option<uuid::Uuid>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// The owner's tags on the thread.
    #[serde(default)]
    pub tags: Vec<String>,
    /// One of the owner's folders (kept on import only into the same account).
    #[serde(default)]
    pub folder_id: Option<uuid::Uuid>,
    /// Pinned.
    #[serde(default)]
    pub pinned: bool,
}

pub(crate) fn active() -> String {
    "active".into()
}

/// Feedback on a message line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub rating: String,
    pub text: Option<String>,
}

/// A message line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: uuid::Uuid,
    pub thread_id: uuid::Uuid,
    pub parent_id: Option<uuid::Uuid>,
    pub role: String,
    pub content: String,
    #[serde(default = "text")]
    pub content_type: String,
    pub display_text: Option<String>,
    #[serde(default = "complete")]
    pub status: String,
    pub model: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub feedback: Option<FeedbackRecord>,
    pub reaction: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    pub edited_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    /// Set on a tombstone (a message deleted alone; its content is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tombstoned_at: Option<Timestamp>,
    /// Attached files: metadata only (the bytes are not exported; download them with
    /// `GET /v1/files/{file_id}/content`). On import, a file the importer owns is attached
    /// again; any other stays as metadata, and the model gets a note instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<chat_threads_domain::Attachment>,
    /// Tool calls, tool results and reasoning, with their call ids as stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<chat_threads_domain::Part>,
    /// Who wrote it. On import only the importer's own authorship is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<chat_threads_domain::Author>,
}

fn text() -> String {
    "text".into()
}
fn complete() -> String {
    "complete".into()
}

/// A summary line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub id: uuid::Uuid,
    pub thread_id: uuid::Uuid,
    pub covers_message_id: uuid::Uuid,
    pub text: String,
    pub model: Option<String>,
    pub created_at: Option<Timestamp>,
}

/// One NDJSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Thread(ThreadRecord),
    Message(MessageRecord),
    Summary(SummaryRecord),
}

/// The lines of one thread: the thread, its messages parents first, its summaries.
pub fn records_of(thread: &Thread, messages: &[Message], summaries: &[Summary]) -> Vec<Record> {
    let mut out = Vec::with_capacity(1 + messages.len() + summaries.len());
    out.push(thread_record(thread));
    let mut ordered: Vec<&Message> = messages.iter().collect();
    ordered.sort_by_key(|m| (m.depth, m.created_at, m.id));
    out.extend(ordered.into_iter().map(message_record));
    out.extend(summaries.iter().map(summary_record));
    out
}

/// The line of a thread.
pub fn thread_record(thread: &Thread) -> Record {
    Record::Thread(ThreadRecord {
        id: thread.id.as_uuid(),
        title: thread.title.to_string(),
        product: thread.product.as_ref().map(ToString::to_string),
        org_id: thread.org_id.as_ref().map(ToString::to_string),
        status: thread.status.as_str().to_owned(),
        document_id: thread.document_id.as_ref().map(ToString::to_string),
        external_id: thread.external_id.as_ref().map(ToString::to_string),
        metadata: thread.metadata.to_value(),
        system_prompt: thread.system_prompt.as_ref().map(ToString::to_string),
        model: thread.model.as_ref().map(ToString::to_string),
        active_leaf_id: thread.active_leaf_id.map(|m| m.as_uuid()),
        created_at: Some(thread.created_at),
        updated_at: Some(thread.updated_at),
        deleted_at: thread.deleted_at,
        expires_at: thread.expires_at,
        tags: thread.tags.iter().map(ToString::to_string).collect(),
        folder_id: thread.folder_id.map(|f| f.as_uuid()),
        pinned: thread.pinned,
    })
}

/// The line of a message.
pub fn message_record(m: &Message) -> Record {
    Record::Message(MessageRecord {
        id: m.id.as_uuid(),
        thread_id: m.thread_id.as_uuid(),
        parent_id: m.parent_id.map(|p| p.as_uuid()),
        role: m.role.as_str().to_owned(),
        content: m.content.to_string(),
        content_type: m.content_type.as_str().to_owned(),
        display_text: m.display_text.clone(),
        status: m.status.as_str().to_owned(),
        model: m.model.as_ref().map(ToString::to_string),
        prompt_tokens: m.prompt_tokens,
        completion_tokens: m.completion_tokens,
        feedback: m.feedback.as_ref().map(|f| FeedbackRecord {
            rating: f.rating.as_str().to_owned(),
            text: f.text.as_ref().map(ToString::to_string),
        }),
        reaction: m.reaction.as_ref().map(ToString::to_string),
        metadata: m.metadata.to_value(),
        edited_at: m.edited_at,
        created_at: Some(m.created_at),
        deleted_at: m.deleted_at,
        tombstoned_at: m.tombstoned_at,
        attachments: m.attachments.clone(),
        parts: m.parts.clone(),
        author: m.author.clone(),
    })
}

/// The line of a summary.
pub fn summary_record(s: &Summary) -> Record {
    Record::Summary(SummaryRecord {
        id: s.id.as_uuid(),
        thread_id: s.thread_id.as_uuid(),
        covers_message_id: s.covers_message_id.as_uuid(),
        text: s.text.to_string(),
        model: s.model.as_ref().map(ToString::to_string),
        created_at: Some(s.created_at),
    })
}
