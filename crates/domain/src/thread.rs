//! Threads: a conversation whose messages form a tree.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::error::DomainError;
use crate::ids::{FolderId, MessageId, ThreadId};
use crate::metadata::Metadata;
use crate::values::{
    DocumentId, ExternalId, ModelName, OrgId, Owner, ProductName, SystemPrompt, Tag, Title,
};

/// Whether a thread is in use or put away. Archived threads stay readable and writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadStatus {
    /// In use.
    Active,
    /// Put away by its owner; hidden from default lists by clients, not by the store.
    Archived,
}

impl ThreadStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    /// Parses the stored form.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "active" => Ok(Self::Active),
            "archived" => Ok(Self::Archived),
            _ => Err(DomainError::invalid("status", "must be active or archived")),
        }
    }
}

/// Where a forked thread came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOrigin {
    /// The thread that was forked.
    pub thread_id: ThreadId,
    /// The message the fork was taken at (the end of the copied path).
    pub message_id: MessageId,
}

/// A conversation. Messages hang off it as a tree; `active_leaf_id` picks the branch in view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// Identity.
    pub id: ThreadId,
    /// Who owns it.
    pub owner: Owner,
    /// The owner's organization, if any.
    pub org_id: Option<OrgId>,
    /// Title (may be empty).
    pub title: Title,
    /// Product or assistant the thread belongs to.
    pub product: Option<ProductName>,
    /// Active or archived.
    pub status: ThreadStatus,
    /// The document the conversation is about.
    pub document_id: Option<DocumentId>,
    /// The client's own id for the thread, unique per owner.
    pub external_id: Option<ExternalId>,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// The system prompt for replies in this thread.
    pub system_prompt: Option<SystemPrompt>,
    /// The model replies use by default.
    pub model: Option<ModelName>,
    /// The leaf of the active branch; `None` for an empty thread.
    pub active_leaf_id: Option<MessageId>,
    /// Set when the thread was forked from another.
    pub forked_from: Option<ForkOrigin>,
    /// Number of messages that are not deleted.
    pub message_count: i64,
    /// When the newest message was added.
    pub last_message_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change to the thread or its messages.
    pub updated_at: Timestamp,
    /// Soft-delete time; a deleted thread is hidden until restored or purged.
    pub deleted_at: Option<Timestamp>,
    /// When the thread may be purged automatically (anonymous sessions, temporary threads).
    pub expires_at: Option<Timestamp>,
    /// The owner's folder it is filed in.
    pub folder_id: Option<FolderId>,
    /// The owner's tags on it.
    pub tags: Vec<Tag>,
    /// Listed before unpinned threads.
    pub pinned: bool,
    /// Hidden from lists, search and exports, and purged at `expires_at`.
    pub temporary: bool,
    /// The e-mail of the principal that created it (from its token), if it had one.
    pub creator_email: Option<String>,
}

impl Thread {
    /// A new, empty, untitled, active thread owned by `owner`, created at `now`.
    pub fn new(owner: Owner, now: Timestamp) -> Self {
        Self {
            id: ThreadId::new(),
            owner,
            org_id: None,
            title: Title::from_stored(String::new()),
            product: None,
            status: ThreadStatus::Active,
            document_id: None,
            external_id: None,
            metadata: Metadata::default(),
            system_prompt: None,
            model: None,
            active_leaf_id: None,
            forked_from: None,
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            expires_at: None,
            folder_id: None,
            tags: Vec::new(),
            pinned: false,
            temporary: false,
            creator_email: None,
        }
    }

    /// Whether the thread is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Refuses changes to a deleted thread's messages.
    pub fn ensure_writable(&self) -> Result<(), DomainError> {
        if self.is_deleted() {
            return Err(DomainError::ThreadNotWritable(
                "the thread is deleted; restore it first",
            ));
        }
        Ok(())
    }
}
