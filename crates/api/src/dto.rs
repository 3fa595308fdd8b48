//! Request and response bodies, with their OpenAPI schemas.

use chat_threads_application::{Branch, DeleteOutcome, Page, SearchHit};
use chat_threads_domain::{Message, Summary, Thread};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A thread.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadDto {
    pub id: uuid::Uuid,
    /// Who owns it (`user:<subject>`, `anon:<session>`, `service:<subject>`).
    pub owner: String,
    pub org_id: Option<String>,
    pub title: String,
    pub product: Option<String>,
    /// `active` or `archived`.
    pub status: String,
    pub document_id: Option<String>,
    /// The client's own id for the thread, unique per owner.
    pub external_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: chat_threads_domain::Metadata,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    /// Leaf of the active branch.
    pub active_leaf_id: Option<uuid::Uuid>,
    /// Set on forks: the thread and message the fork was taken from.
    pub forked_from: Option<ForkOriginDto>,
    pub message_count: i64,
    pub last_message_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Set while the thread is soft-deleted.
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it is purged automatically (anonymous sessions, temporary threads).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Your tags on it.
    pub tags: Vec<String>,
    /// The folder it is filed in.
    pub folder_id: Option<uuid::Uuid>,
    /// Listed first.
    pub pinned: bool,
    /// Hidden from lists, search and exports; purged at `expires_at`.
    pub temporary: bool,
    /// The e-mail of the principal that created it (from its token), if any.
    pub creator_email: Option<String>,
    /// With `?include=messages`: the first page of the active path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<PageDto<MessageDto>>,
}

/// Where a fork came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForkOriginDto {
    pub thread_id: uuid::Uuid,
    pub message_id: uuid::Uuid,
}

impl From<Thread> for ThreadDto {
    fn from(t: Thread) -> Self {
        Self {
            id: t.id.as_uuid(),
            owner: t.owner.into_inner(),
            org_id: t.org_id.map(|o| o.into_inner()),
            title: t.title.into_inner(),
            product: t.product.map(|p| p.into_inner()),
            status: t.status.as_str().to_owned(),
            document_id: t.document_id.map(|d| d.into_inner()),
            external_id: t.external_id.map(|e| e.into_inner()),
            metadata: t.metadata,
            system_prompt: t.system_prompt.map(|p| p.into_inner()),
            model: t.model.map(|m| m.into_inner()),
            active_leaf_id: t.active_leaf_id.map(|m| m.as_uuid()),
            forked_from: t.forked_from.map(|f| ForkOriginDto {
                thread_id: f.thread_id.as_uuid(),
                message_id: f.message_id.as_uuid(),
            }),
            message_count: t.message_count,
            last_message_at: t.last_message_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
            deleted_at: t.deleted_at,
            expires_at: t.expires_at,
            tags: t.tags.into_iter().map(|t| t.into_inner()).collect(),
            folder_id: t.folder_id.map(|f| f.as_uuid()),
            pinned: t.pinned,
            temporary: t.temporary,
            creator_email: t.creator_email,
            messages: None,
        }
    }
}

/// Thumbs up/down with optional text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackDto {
    /// `up` or `down`.
    pub rating: String,
    pub text: Option<String>,
}

/// A message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDto {
    pub id: uuid::Uuid,
    pub thread_id: uuid::Uuid,
    /// `null` for a root.
    pub parent_id: Option<uuid::Uuid>,
    /// Distance from the root (0 for a root).
    pub depth: i32,
    /// `user`, `assistant`, `system` or `tool`.
    pub role: &'static str,
    pub content: String,
    /// `text`, `json`, `image` or `file`.
    pub content_type: &'static str,
    pub display_text: Option<String>,
    /// `complete`, `streaming`, `cancelled`, `failed`, `requires_action` (a reply that
    /// called tools: it waits for their results), or `queued` (a user message sent with
    /// `on_busy: queue`: it waits for the running reply; `cancelled` if cancelled meanwhile,
    /// `failed` if its reply could not start).
    pub status: &'static str,
    pub model: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub feedback: Option<FeedbackDto>,
    pub reaction: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: chat_threads_domain::Metadata,
    /// When the message was last edited in place (`PATCH`), or, for a message created by
    /// editing a sibling (`.../edits`), when it was created.
    #[serde(serialize_with = "crate::json::opt_time")]
    pub edited_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Edited in place at least once (its earlier versions are at `.../revisions`).
    pub is_edited: bool,
    /// 1 as first written, +1 per edit in place.
    pub version: i32,
    /// Set when the message alone was deleted (`DELETE ...?scope=message`): a tombstone whose
    /// content, display text and metadata are gone and whose children stay attached. The tree
    /// view shows it; the active path and the model's context read around it.
    #[serde(serialize_with = "crate::json::opt_time")]
    pub tombstoned_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Files attached to it (download with `GET /v1/files/{file_id}/content`).
    pub attachments: Vec<AttachmentDto>,
    /// Tool calls (assistant), tool results (tool) and reasoning (assistant), beside the text;
    /// empty for plain text.
    pub parts: Vec<PartDto>,
    /// Who wrote it: the principal whose request stored it and the name their token showed;
    /// `null` for a model's reply (and for messages stored before authors were recorded).
    pub author: Option<AuthorDto>,
    #[serde(serialize_with = "crate::json::time")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "crate::json::time")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Set on soft-deleted messages (visible in the tree view only).
    #[serde(serialize_with = "crate::json::opt_time")]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The author of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorDto {
    /// The principal, written as a thread's owner is: `user:bob`, `service:crm`, `anon:<session>`.
    pub id: String,
    /// The token's `name` claim, else its e-mail; `null` when it carried neither.
    pub name: Option<String>,
}

/// A file attached to a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentDto {
    pub file_id: uuid::Uuid,
    pub name: String,
    /// Sniffed from the bytes at upload.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
}

impl From<chat_threads_domain::Attachment> for AttachmentDto {
    fn from(a: chat_threads_domain::Attachment) -> Self {
        Self {
            file_id: a.file_id.as_uuid(),
            name: a.name,
            content_type: a.content_type,
            size: a.size,
        }
    }
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.as_uuid(),
            thread_id: m.thread_id.as_uuid(),
            parent_id: m.parent_id.map(|p| p.as_uuid()),
            depth: m.depth,
            role: m.role.as_str(),
            content: m.content.into_inner(),
            content_type: m.content_type.as_str(),
            display_text: m.display_text,
            status: m.status.as_str(),
            model: m.model.map(|x| x.into_inner()),
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
            feedback: m.feedback.map(|f| FeedbackDto {
                rating: f.rating.as_str().to_owned(),
                text: f.text.map(|t| t.into_inner()),
            }),
            reaction: m.reaction.map(|r| r.into_inner()),
            metadata: m.metadata,
            edited_at: m.edited_at,
            is_edited: m.version > 1,
            version: m.version,
            tombstoned_at: m.tombstoned_at,
            attachments: m.attachments.into_iter().map(AttachmentDto::from).collect(),
            parts: m.parts.into_iter().map(PartDto::from).collect(),
            author: m.author.map(|a| AuthorDto {
                id: a.id,
                name: a.name,
            }),
            created_at: m.created_at,
            updated_at: m.updated_at,
            deleted_at: m.deleted_at,
        }
    }
}

/// A typed part of a message beside its text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PartDto {
    /// A tool the assistant calls (assistant messages).
    ToolCall {
        /// The call's id, which its result names (1-128 characters).
        call_id: String,
        /// The tool (1-128 characters).
        name: String,
        /// Its arguments, JSON text as the model wrote it (kept even when it does not parse).
        arguments: String,
        /// The MCP server that ran it (a tool the service runs; its result follows in the same
        /// message); absent for your tools.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
    },
    /// A tool's answer to a call of the assistant message above (tool messages), or, right after
    /// its call, to a call the service ran (assistant messages).
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// What the tool returned: a string or any JSON value.
        output: serde_json::Value,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: bool,
    },
    /// The model's reasoning (assistant messages): readable text, the provider's opaque
    /// content, or both.
    Reasoning {
        summary: Option<String>,
        encrypted_content: Option<String>,
    },
}

impl From<chat_threads_domain::Part> for PartDto {
    fn from(p: chat_threads_domain::Part) -> Self {
        use chat_threads_domain::Part;
        match p {
            Part::ToolCall {
                call_id,
                name,
                arguments,
                server,
            } => Self::ToolCall {
                call_id,
                name,
                arguments,
                server,
            },
            Part::ToolResult {
                call_id,
                output,
                is_error,
            } => Self::ToolResult {
                call_id,
                output,
                is_error,
            },
            Part::Reasoning {
                summary,
                encrypted_content,
            } => Self::Reasoning {
                summary,
                encrypted_content,
            },
        }
    }
}

impl From<PartDto> for chat_threads_domain::Part {
    fn from(p: PartDto) -> Self {
        match p {
            PartDto::ToolCall {
                call_id,
                name,
                arguments,
                server,
            } => Self::ToolCall {
                call_id,
                name,
                arguments,
                server,
            },
            PartDto::ToolResult {
                call_id,
                output,
                is_error,
            } => Self::ToolResult {
                call_id,
                output,
                is_error,
            },
            PartDto::Reasoning {
                summary,
                encrypted_content,
            } => Self::Reasoning {
                summary,
                encrypted_content,
            },
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageDto<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

impl<D> PageDto<D> {
    /// A list that is always whole: one page, no cursor.
    pub fn complete<T>(items: impl IntoIterator<Item = T>) -> Self
    where
        D: From<T>,
    {
        Self {
            data: items.into_iter().map(D::from).collect(),
            next_cursor: None,
            has_more: false,
        }
    }
}

impl<T, D: From<T>> From<Page<T>> for PageDto<D> {
    fn from(p: Page<T>) -> Self {
        Self {
            data: p.data.into_iter().map(D::from).collect(),
            next_cursor: p.next_cursor,
            has_more: p.has_more,
        }
    }
}

/// A branch: its last message, and whether it is the active one.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchDto {
    pub leaf: MessageDto,
    pub active: bool,
}

impl From<Branch> for BranchDto {
    fn from(b: Branch) -> Self {
        Self {
            leaf: b.leaf.into(),
            active: b.active,
        }
    }
}

/// A summary of the active path up to a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryDto {
    pub id: uuid::Uuid,
    pub thread_id: uuid::Uuid,
    pub covers_message_id: uuid::Uuid,
    pub text: String,
    pub model: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Summary> for SummaryDto {
    fn from(s: Summary) -> Self {
        Self {
            id: s.id.as_uuid(),
            thread_id: s.thread_id.as_uuid(),
            covers_message_id: s.covers_message_id.as_uuid(),
            text: s.text.into_inner(),
            model: s.model.map(|m| m.into_inner()),
            created_at: s.created_at,
        }
    }
}

/// A search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitDto {
    pub thread_id: uuid::Uuid,
    pub thread_title: String,
    pub message_id: uuid::Uuid,
    pub role: String,
    /// Excerpt with the match between `[` and `]`.
    pub snippet: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<SearchHit> for SearchHitDto {
    fn from(h: SearchHit) -> Self {
        Self {
            thread_id: h.thread_id.as_uuid(),
            thread_title: h.thread_title,
            message_id: h.message_id.as_uuid(),
            role: h.role.as_str().to_owned(),
            snippet: h.snippet,
            created_at: h.created_at,
        }
    }
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An earlier version of a message edited in place.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageRevisionDto {
    pub message_id: uuid::Uuid,
    /// 1 = the text as first written.
    pub version: i32,
    pub content: String,
    pub content_type: String,
    pub display_text: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: chat_threads_domain::Metadata,
    /// When this version was written.
    pub written_at: chrono::DateTime<chrono::Utc>,
    /// When the next version replaced it.
    pub replaced_at: chrono::DateTime<chrono::Utc>,
}

impl From<chat_threads_application::messages::MessageRevision> for MessageRevisionDto {
    fn from(r: chat_threads_application::messages::MessageRevision) -> Self {
        Self {
            message_id: r.message_id.as_uuid(),
            version: r.version,
            content: r.content.into_inner(),
            content_type: r.content_type.as_str().to_owned(),
            display_text: r.display_text,
            metadata: r.metadata,
            written_at: r.written_at,
            replaced_at: r.replaced_at,
        }
    }
}

/// The result of deleting a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteOutcomeDto {
    /// Messages deleted: the message and its live descendants (`scope=subtree`), or 1 (the
    /// message made a tombstone, `scope=message`).
    pub deleted: u64,
    /// The thread's active leaf afterwards.
    pub active_leaf_id: Option<uuid::Uuid>,
}

impl From<DeleteOutcome> for DeleteOutcomeDto {
    fn from(d: DeleteOutcome) -> Self {
        Self {
            deleted: d.deleted,
            active_leaf_id: d.active_leaf_id.map(|m| m.as_uuid()),
        }
    }
}

/// Path parameters of a thread.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ThreadPath {
    /// The thread id.
    pub thread_id: uuid::Uuid,
}

impl ThreadPath {
    /// The thread id.
    pub fn thread(&self) -> chat_threads_domain::ThreadId {
        chat_threads_domain::ThreadId::from_uuid(self.thread_id)
    }
}

/// Path parameters of a message.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MessagePath {
    /// The thread id.
    pub thread_id: uuid::Uuid,
    /// The message id.
    pub message_id: uuid::Uuid,
}

impl MessagePath {
    /// The thread id.
    pub fn thread(&self) -> chat_threads_domain::ThreadId {
        chat_threads_domain::ThreadId::from_uuid(self.thread_id)
    }

    /// The message id.
    pub fn message(&self) -> chat_threads_domain::MessageId {
        chat_threads_domain::MessageId::from_uuid(self.message_id)
    }
}

/// Reads an optional whole number that JSON may write as `98266` or `98266.0` (JSON Schema
/// calls both integers); a fraction or a number out of range is refused.
/// A required whole number, written as an integer or as a float with no fraction (`97.0`).
pub fn required_whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole_number(d)?.ok_or_else(|| serde::de::Error::custom("expected a whole number, found null"))
}

pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(x) if x.fract() == 0.0 && x >= i64::MIN as f64 && x < i64::MAX as f64 => {
            Ok(Some(x as i64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number, found {n}"
        ))),
    }
}

/// A token limit as the body gives it: a whole number no larger than a `u32` (the schema's
/// maximum), refused naming the field otherwise; zero or less is the use case's to refuse.
pub fn token_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n = whole_number(d)?;
    match n {
        Some(n) if n > i64::from(u32::MAX) => Err(serde::de::Error::custom(format!(
            "must be at most {} (it is {n})",
            u32::MAX
        ))),
        n => Ok(n),
    }
}

/// A token count as the use cases take it (at most `u32::MAX`, see [`token_limit`]); zero or
/// less stays zero (refused as out of range by the use case).
pub fn token_count(n: Option<i64>) -> Option<u32> {
    n.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

/// Reads an optional cursor; an empty one (`?cursor=`) means the first page.
pub fn cursor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|c| !c.is_empty()))
}

/// Sampling settings for a reply, passed to the model server; absent fields leave its defaults.
/// Out-of-range values are 400 `validation_failed` naming the field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplingDto {
    /// 0 to 2.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// Above 0, at most 1.
    #[schema(maximum = 1)]
    pub top_p: Option<f64>,
    /// Up to 4 stop sequences.
    #[schema(max_items = 4)]
    pub stop: Option<Vec<String>>,
    /// For reproducible sampling, where the model server supports it.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    pub seed: Option<i64>,
    /// -2 to 2.
    #[schema(minimum = -2, maximum = 2)]
    pub presence_penalty: Option<f64>,
    /// -2 to 2.
    #[schema(minimum = -2, maximum = 2)]
    pub frequency_penalty: Option<f64>,
    /// Structured output: `{"type": "json_object"}`, or `{"type": "json_schema", "json_schema":
    /// {"name": …, "schema": {…}, "strict": true}}`.
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<serde_json::Value>,
}

impl From<SamplingDto> for chat_threads_application::replies::Sampling {
    fn from(s: SamplingDto) -> Self {
        Self {
            temperature: s.temperature,
            top_p: s.top_p,
            stop: s.stop,
            seed: s.seed,
            presence_penalty: s.presence_penalty,
            frequency_penalty: s.frequency_penalty,
            response_format: s.response_format,
        }
    }
}
