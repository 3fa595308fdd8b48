//! Row structs and their conversion to and from the domain.

use chat_threads_domain::{
    Content, ContentType, DocumentId, ExternalId, Feedback, FeedbackText, FolderId, ForkOrigin,
    Message, MessageId, MessageStatus, Metadata, ModelName, OrgId, Owner, ProductName, Rating,
    Reaction, Role, Summary, SummaryId, SystemPrompt, Tag, Thread, ThreadId, ThreadStatus, Title,
};
use diesel::prelude::*;

use super::error::{DbError, corrupt};
use super::schema::{message_revisions, messages, summaries, threads};
use super::types::{DbJson, DbMetadata, DbTime, DbUuid};

/// A row of `threads`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = threads)]
pub struct ThreadRow {
    pub id: DbUuid,
    pub owner: String,
    pub org_id: Option<String>,
    pub title: String,
    pub product: Option<String>,
    pub status: String,
    pub document_id: Option<String>,
    pub external_id: Option<String>,
    pub metadata: DbMetadata,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    pub active_leaf_id: Option<DbUuid>,
    pub forked_from_thread_id: Option<DbUuid>,
    pub forked_from_message_id: Option<DbUuid>,
    pub message_count: i64,
    pub last_message_at: Option<DbTime>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    pub deleted_at: Option<DbTime>,
    pub expires_at: Option<DbTime>,
    pub folder_id: Option<DbUuid>,
    pub pinned: bool,
    pub temporary: bool,
    pub creator_email: Option<String>,
    pub tags: DbJson,
}

/// A row of `messages`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct MessageRow {
    pub id: DbUuid,
    pub thread_id: DbUuid,
    pub parent_id: Option<DbUuid>,
    pub depth: i32,
    pub role: String,
    pub content: String,
    pub content_type: String,
    pub display_text: Option<String>,
    pub status: String,
    pub model: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub feedback_rating: Option<String>,
    pub feedback_text: Option<String>,
    pub reaction: Option<String>,
    pub metadata: DbMetadata,
    pub edited_at: Option<DbTime>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    pub deleted_at: Option<DbTime>,
    pub version: i32,
    pub tombstoned_at: Option<DbTime>,
    pub attachments: DbJson,
    pub parts: DbJson,
    pub author: Option<String>,
    pub author_name: Option<String>,
    /// Set while the message waits as a queued follow-up (its status reads `queued`).
    pub queued_at: Option<DbTime>,
}

/// The column list of `messages` for raw queries, with the table aliased as `m`.
pub const MESSAGE_COLUMNS: &str = "m.id, m.thread_id, m.parent_id, m.depth, m.role, m.content, \
    m.content_type, m.display_text, m.status, m.model, m.prompt_tokens, m.completion_tokens, \
    m.feedback_rating, m.feedback_text, m.reaction, m.metadata, m.edited_at, m.created_at, \
    m.updated_at, m.deleted_at, m.version, m.tombstoned_at, m.attachments, m.parts, \
    m.author, m.author_name, m.queued_at";

/// A row of `message_revisions`: an earlier version of a message edited in place.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = message_revisions)]
pub struct RevisionRow {
    pub message_id: DbUuid,
    pub version: i32,
    pub content: String,
    pub content_type: String,
    pub display_text: Option<String>,
    pub metadata: DbMetadata,
    pub written_at: DbTime,
    pub replaced_at: DbTime,
}

/// A row of `summaries`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = summaries)]
pub struct SummaryRow {
    pub id: DbUuid,
    pub thread_id: DbUuid,
    pub covers_message_id: DbUuid,
    pub text: String,
    pub model: Option<String>,
    pub created_at: DbTime,
}

/// A status as the `messages` table keeps it: `requires_action` is stored as `complete` (the
/// reply's tool-call parts say it waits for results; reading turns it back).
pub(super) fn stored_status(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::RequiresAction | MessageStatus::Queued => MessageStatus::Complete.as_str(),
        other => other.as_str(),
    }
}

pub(super) fn metadata(json: DbMetadata) -> Result<Metadata, DbError> {
    Metadata::from_stored_json(json.0).map_err(|text| {
        let shown = text.get().chars().take(40).collect::<String>();
        corrupt("metadata", format!("not an object: {shown}"))
    })
}

fn id_of(v: Option<DbUuid>) -> Option<MessageId> {
    v.map(|u| MessageId::from_uuid(u.0))
}

impl From<&Thread> for ThreadRow {
    fn from(t: &Thread) -> Self {
        Self {
            id: DbUuid(t.id.as_uuid()),
            owner: t.owner.to_string(),
            org_id: t.org_id.as_ref().map(ToString::to_string),
            title: t.title.to_string(),
            product: t.product.as_ref().map(ToString::to_string),
            status: t.status.as_str().to_owned(),
            document_id: t.document_id.as_ref().map(ToString::to_string),
            external_id: t.external_id.as_ref().map(ToString::to_string),
            metadata: DbMetadata::of(&t.metadata),
            system_prompt: t.system_prompt.as_ref().map(ToString::to_string),
            model: t.model.as_ref().map(ToString::to_string),
            active_leaf_id: t.active_leaf_id.map(|m| DbUuid(m.as_uuid())),
            forked_from_thread_id: t.forked_from.map(|f| DbUuid(f.thread_id.as_uuid())),
            forked_from_message_id: t.forked_from.map(|f| DbUuid(f.message_id.as_uuid())),
            message_count: t.message_count,
            last_message_at: t.last_message_at.map(DbTime),
            created_at: DbTime(t.created_at),
            updated_at: DbTime(t.updated_at),
            deleted_at: t.deleted_at.map(DbTime),
            expires_at: t.expires_at.map(DbTime),
            folder_id: t.folder_id.map(|f| DbUuid(f.as_uuid())),
            pinned: t.pinned,
            temporary: t.temporary,
            creator_email: t.creator_email.clone(),
            tags: DbJson(tags_json(&t.tags)),
        }
    }
}

/// A thread's tags as read from its row's JSON array.
pub fn tags_of(json: &serde_json::Value) -> Vec<Tag> {
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(|s| Tag::from_stored(s.to_owned())))
        .collect()
}

/// A thread's tags as stored on its row.
pub fn tags_json(tags: &[Tag]) -> serde_json::Value {
    serde_json::Value::Array(
        tags.iter()
            .map(|t| serde_json::Value::String(t.as_str().to_owned()))
            .collect(),
    )
}

impl TryFrom<ThreadRow> for Thread {
    type Error = DbError;
    fn try_from(r: ThreadRow) -> Result<Self, DbError> {
        let forked_from = match (r.forked_from_thread_id, r.forked_from_message_id) {
            (Some(t), Some(m)) => Some(ForkOrigin {
                thread_id: ThreadId::from_uuid(t.0),
                message_id: MessageId::from_uuid(m.0),
            }),
            _ => None,
        };
        Ok(Thread {
            id: ThreadId::from_uuid(r.id.0),
            owner: Owner::from_stored(r.owner),
            org_id: r.org_id.map(OrgId::from_stored),
            title: Title::from_stored(r.title),
            product: r.product.map(ProductName::from_stored),
            status: ThreadStatus::parse(&r.status).map_err(|e| corrupt("status", e))?,
            document_id: r.document_id.map(DocumentId::from_stored),
            external_id: r.external_id.map(ExternalId::from_stored),
            metadata: metadata(r.metadata)?,
            system_prompt: r.system_prompt.map(SystemPrompt::from_stored),
            model: r.model.map(ModelName::from_stored),
            active_leaf_id: id_of(r.active_leaf_id),
            forked_from,
            message_count: r.message_count,
            last_message_at: r.last_message_at.map(|t| t.0),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
            expires_at: r.expires_at.map(|t| t.0),
            folder_id: r.folder_id.map(|f| FolderId::from_uuid(f.0)),
            pinned: r.pinned,
            temporary: r.temporary,
            creator_email: r.creator_email,
            tags: tags_of(&r.tags.0),
        })
    }
}

impl From<&Message> for MessageRow {
    fn from(m: &Message) -> Self {
        Self {
            id: DbUuid(m.id.as_uuid()),
            thread_id: DbUuid(m.thread_id.as_uuid()),
            parent_id: m.parent_id.map(|p| DbUuid(p.as_uuid())),
            depth: m.depth,
            role: m.role.as_str().to_owned(),
            content: m.content.to_string(),
            content_type: m.content_type.as_str().to_owned(),
            display_text: m.display_text.clone(),
            status: stored_status(m.status).to_owned(),
            model: m.model.as_ref().map(ToString::to_string),
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
            feedback_rating: m.feedback.as_ref().map(|f| f.rating.as_str().to_owned()),
            feedback_text: m
                .feedback
                .as_ref()
                .and_then(|f| f.text.as_ref().map(ToString::to_string)),
            reaction: m.reaction.as_ref().map(ToString::to_string),
            metadata: DbMetadata::of(&m.metadata),
            edited_at: m.edited_at.map(DbTime),
            created_at: DbTime(m.created_at),
            updated_at: DbTime(m.updated_at),
            deleted_at: m.deleted_at.map(DbTime),
            version: m.version,
            tombstoned_at: m.tombstoned_at.map(DbTime),
            attachments: DbJson(
                serde_json::to_value(&m.attachments).unwrap_or_else(|_| serde_json::json!([])),
            ),
            parts: DbJson(serde_json::to_value(&m.parts).unwrap_or_else(|_| serde_json::json!([]))),
            author: m.author.as_ref().map(|a| a.id.clone()),
            author_name: m.author.as_ref().and_then(|a| a.name.clone()),
            queued_at: (m.status == MessageStatus::Queued).then_some(DbTime(m.created_at)),
        }
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = DbError;
    fn try_from(r: MessageRow) -> Result<Self, DbError> {
        let feedback = match r.feedback_rating {
            Some(rating) => Some(Feedback {
                rating: Rating::parse(&rating).map_err(|e| corrupt("feedback", e))?,
                text: r.feedback_text.map(FeedbackText::from_stored),
            }),
            None => None,
        };
        let parts: Vec<chat_threads_domain::Part> =
            serde_json::from_value(r.parts.0).map_err(|e| corrupt("parts", e))?;
        let status = if r.queued_at.is_some() {
            MessageStatus::Queued
        } else {
            MessageStatus::parse(&r.status)
                .map_err(|e| corrupt("status", e))?
                .with_parts(&parts)
        };
        Ok(Message {
            id: MessageId::from_uuid(r.id.0),
            thread_id: ThreadId::from_uuid(r.thread_id.0),
            parent_id: id_of(r.parent_id),
            depth: r.depth,
            role: Role::parse(&r.role).map_err(|e| corrupt("role", e))?,
            content: Content::from_stored(r.content),
            content_type: ContentType::parse(&r.content_type)
                .map_err(|e| corrupt("content_type", e))?,
            display_text: r.display_text,
            status,
            model: r.model.map(ModelName::from_stored),
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            feedback,
            reaction: r.reaction.map(Reaction::from_stored),
            metadata: metadata(r.metadata)?,
            edited_at: r.edited_at.map(|t| t.0),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
            version: r.version,
            tombstoned_at: r.tombstoned_at.map(|t| t.0),
            attachments: serde_json::from_value(r.attachments.0)
                .map_err(|e| corrupt("attachments", e))?,
            parts,
            author: r.author.map(|id| chat_threads_domain::Author {
                id,
                name: r.author_name,
            }),
        })
        // A tombstone's content stays in its row (for a restore) but is never read out.
        .map(|m: Message| if m.is_tombstone() { m.hidden() } else { m })
    }
}

impl From<&Summary> for SummaryRow {
    fn from(s: &Summary) -> Self {
        Self {
            id: DbUuid(s.id.as_uuid()),
            thread_id: DbUuid(s.thread_id.as_uuid()),
            covers_message_id: DbUuid(s.covers_message_id.as_uuid()),
            text: s.text.to_string(),
            model: s.model.as_ref().map(ToString::to_string),
            created_at: DbTime(s.created_at),
        }
    }
}

impl From<SummaryRow> for Summary {
    fn from(r: SummaryRow) -> Self {
        Summary {
            id: SummaryId::from_uuid(r.id.0),
            thread_id: ThreadId::from_uuid(r.thread_id.0),
            covers_message_id: MessageId::from_uuid(r.covers_message_id.0),
            text: Content::from_stored(r.text),
            model: r.model.map(ModelName::from_stored),
            created_at: r.created_at.0,
        }
    }
}

/// Converts loaded rows.
pub fn messages_from(rows: Vec<MessageRow>) -> Result<Vec<Message>, DbError> {
    rows.into_iter().map(Message::try_from).collect()
}

impl From<&chat_threads_application::messages::MessageRevision> for RevisionRow {
    fn from(r: &chat_threads_application::messages::MessageRevision) -> Self {
        Self {
            message_id: DbUuid(r.message_id.as_uuid()),
            version: r.version,
            content: r.content.to_string(),
            content_type: r.content_type.as_str().to_owned(),
            display_text: r.display_text.clone(),
            metadata: DbMetadata::of(&r.metadata),
            written_at: DbTime(r.written_at),
            replaced_at: DbTime(r.replaced_at),
        }
    }
}

impl TryFrom<RevisionRow> for chat_threads_application::messages::MessageRevision {
    type Error = DbError;
    fn try_from(r: RevisionRow) -> Result<Self, DbError> {
        Ok(Self {
            message_id: MessageId::from_uuid(r.message_id.0),
            version: r.version,
            content: Content::from_stored(r.content),
            content_type: ContentType::parse(&r.content_type)
                .map_err(|e| corrupt("content_type", e))?,
            display_text: r.display_text,
            metadata: metadata(r.metadata)?,
            written_at: r.written_at.0,
            replaced_at: r.replaced_at.0,
        })
    }
}
