//! What share links need from storage, and the values they store.

use std::future::Future;

use chat_threads_domain::{
    Attachment, ContentType, Message, MessageId, MessageStatus, OrgId, Owner, Part, Role, ThreadId,
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What a share shows over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareMode {
    /// The branch as it was when the share was made (or last refreshed).
    Snapshot,
    /// The branch as it is when the link is opened.
    Live,
}

impl ShareMode {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::Live => "live",
        }
    }

    /// Parses the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "snapshot" => Some(Self::Snapshot),
            "live" => Some(Self::Live),
            _ => None,
        }
    }
}

/// Who may open a share link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Anyone with the link, no token.
    Public,
    /// Anyone with the link and a valid token.
    SignedIn,
    /// Principals of the owner's organization.
    Org,
}

impl Audience {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::SignedIn => "signed_in",
            Self::Org => "org",
        }
    }

    /// Parses the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "public" => Some(Self::Public),
            "signed_in" => Some(Self::SignedIn),
            "org" => Some(Self::Org),
            _ => None,
        }
    }
}

/// A message as a share shows it: no metadata, feedback, token counts or owner details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedMessage {
    /// Its id in the thread.
    pub id: MessageId,
    /// Its parent on the branch.
    pub parent_id: Option<MessageId>,
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
    /// How to read the text.
    pub content_type: ContentType,
    /// What a UI shows instead of the text, if set.
    pub display_text: Option<String>,
    /// How it ended.
    pub status: MessageStatus,
    /// The model that wrote it.
    pub model: Option<String>,
    /// Files attached (readable through the share).
    pub attachments: Vec<Attachment>,
    /// Tool calls, results and reasoning.
    pub parts: Vec<Part>,
    /// When.
    pub created_at: Timestamp,
}

impl From<&Message> for SharedMessage {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            parent_id: m.parent_id,
            role: m.role,
            content: m.content.as_str().to_owned(),
            content_type: m.content_type,
            display_text: m.display_text.clone(),
            status: m.status,
            model: m.model.as_ref().map(ToString::to_string),
            attachments: m.attachments.clone(),
            parts: m.parts.clone(),
            created_at: m.created_at,
        }
    }
}

/// A share link of one branch of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The link's id (random, unguessable).
    pub id: String,
    /// The thread.
    pub thread_id: ThreadId,
    /// The thread's owner.
    pub owner: Owner,
    /// The owner's organization (for `org` shares).
    pub org_id: Option<OrgId>,
    /// Snapshot or live.
    pub mode: ShareMode,
    /// Who may open it.
    pub audience: Audience,
    /// The end of the branch shown; `None`: the thread's active branch.
    pub leaf_id: Option<MessageId>,
    /// A name shown with it instead of the owner's identity.
    pub display_name: Option<String>,
    /// The thread's title when the snapshot was taken.
    pub title: String,
    /// The frozen branch (snapshots).
    pub snapshot: Option<Vec<SharedMessage>>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was made or last refreshed.
    pub updated_at: Timestamp,
}

/// Storage of share links. The service checks who may touch a thread's shares; a share is
/// found by its id alone (the link is the capability).
pub trait ShareStore: Clone + Send + Sync + 'static {
    /// Stores a new share.
    fn insert_share(&self, share: Share) -> impl Future<Output = Result<Share, AppError>> + Send;

    /// A share by its id.
    fn get_share(&self, id: &str) -> impl Future<Output = Result<Option<Share>, AppError>> + Send;

    /// A thread's shares, oldest first.
    fn list_shares(
        &self,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<Share>, AppError>> + Send;

    /// Replaces a share's title, snapshot and `updated_at` (a refresh).
    fn refresh_share(&self, share: Share) -> impl Future<Output = Result<Share, AppError>> + Send;

    /// Deletes a thread's share; whether it existed.
    fn delete_share(
        &self,
        thread_id: ThreadId,
        id: &str,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
}
