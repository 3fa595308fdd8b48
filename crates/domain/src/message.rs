//! Messages, the nodes of a thread's tree, and summaries of a path.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::error::DomainError;
use crate::ids::{FileId, MessageId, SummaryId, ThreadId};
use crate::metadata::Metadata;
use crate::values::{Content, FeedbackText, ModelName, Reaction};

/// Declares a string-backed enum with `as_str`, `parse` and snake_case serde.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the stored and wire form.
            pub fn parse(raw: &str) -> Result<Self, DomainError> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(DomainError::invalid(
                        $field,
                        format!("must be one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Who wrote a message.
    Role, "role" {
        /// The person.
        User => "user",
        /// The model.
        Assistant => "assistant",
        /// Instructions to the model.
        System => "system",
        /// Output of a tool the model called.
        Tool => "tool",
    }
);

text_enum!(
    /// Where a message is in its life.
    MessageStatus, "status" {
        /// Fully written.
        Complete => "complete",
        /// A reply still being generated.
        Streaming => "streaming",
        /// A reply stopped by the user; holds the partial text.
        Cancelled => "cancelled",
        /// A reply whose generation failed; holds the partial text.
        Failed => "failed",
        /// A reply that ended by calling tools: it waits for their results (stored as
        /// `complete` with tool-call parts; the status is read from them).
        RequiresAction => "requires_action",
        /// A user message sent with `on_busy: queue` while a reply ran: it waits under that
        /// reply and its own reply starts when that one ends.
        Queued => "queued",
    }
);

text_enum!(
    /// How `content` is to be read.
    ContentType, "content_type" {
        /// Plain or markdown text.
        Text => "text",
        /// A JSON document.
        Json => "json",
        /// A reference to an image.
        Image => "image",
        /// A reference to a file.
        File => "file",
    }
);

text_enum!(
    /// Thumbs up or down.
    Rating, "rating" {
        /// Helpful.
        Up => "up",
        /// Not helpful.
        Down => "down",
    }
);

/// A user's judgement of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// Up or down.
    pub rating: Rating,
    /// Optional explanation.
    pub text: Option<FeedbackText>,
}

/// A node of a thread's message tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Identity.
    pub id: MessageId,
    /// The thread it belongs to.
    pub thread_id: ThreadId,
    /// Its parent; `None` for a root.
    pub parent_id: Option<MessageId>,
    /// Distance from the root (a root has depth 0).
    pub depth: i32,
    /// Author.
    pub role: Role,
    /// The text (or JSON, or a reference) as given to the model.
    pub content: Content,
    /// How to read `content`.
    pub content_type: ContentType,
    /// What a UI shows instead of `content`, when different.
    pub display_text: Option<String>,
    /// Life-cycle status.
    pub status: MessageStatus,
    /// The model that wrote it (assistant messages).
    pub model: Option<ModelName>,
    /// Prompt tokens spent producing it.
    pub prompt_tokens: Option<i32>,
    /// Completion tokens it took.
    pub completion_tokens: Option<i32>,
    /// Thumbs up/down.
    pub feedback: Option<Feedback>,
    /// An emoji reaction.
    pub reaction: Option<Reaction>,
    /// Free-form metadata (RAG sources, question config, prompt details ...).
    pub metadata: Metadata,
    /// Set on a message created by editing another (it is the edited sibling).
    pub edited_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Soft-delete time.
    pub deleted_at: Option<Timestamp>,
    /// 1 for the text as first written, +1 for each edit in place (earlier versions are kept
    /// as revisions).
    #[serde(default = "first_version")]
    pub version: i32,
    /// Set when the message alone was deleted: its content is gone, its children stay attached,
    /// and the path and the model's context read around it.
    #[serde(default)]
    pub tombstoned_at: Option<Timestamp>,
    /// Files attached to it (uploaded with `POST /v1/files`), in order.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Tool calls, tool results and reasoning (see [`crate::parts`]); empty for plain text.
    #[serde(default)]
    pub parts: Vec<crate::parts::Part>,
    /// Who wrote it: the principal whose request stored it (`None` for a model's reply and
    /// for messages stored before authors were recorded).
    #[serde(default)]
    pub author: Option<crate::members::Author>,
}

/// A file attached to a message: a reference to an upload with what a reader needs to show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The uploaded file.
    pub file_id: FileId,
    /// Its name.
    pub name: String,
    /// Its media type (sniffed at upload).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Attachment {
    /// Whether the model sees it as an image.
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

fn first_version() -> i32 {
    1
}

impl Message {
    /// Whether the message is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether the message alone was deleted, leaving a tombstone in the tree.
    pub fn is_tombstone(&self) -> bool {
        self.tombstoned_at.is_some()
    }

    /// The message as a tombstone shows it: its place in the tree, role, status, model, author
    /// and times, none of its content (text, display text, metadata, feedback, reaction,
    /// attachments, parts). The content is kept, hidden, until it is restored or the restore
    /// window passes.
    pub fn hidden(self) -> Self {
        Self {
            content: crate::values::Content::from_stored(String::new()),
            display_text: None,
            metadata: Metadata::default(),
            feedback: None,
            reaction: None,
            attachments: Vec::new(),
            parts: Vec::new(),
            ..self
        }
    }
}

/// A summary of the active path up to (and including) `covers_message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Identity.
    pub id: SummaryId,
    /// The summarized thread.
    pub thread_id: ThreadId,
    /// The last message the summary covers.
    pub covers_message_id: MessageId,
    /// The summary itself.
    pub text: Content,
    /// The model that wrote it.
    pub model: Option<ModelName>,
    /// Creation time.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_refuse_unknown_text() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), *role);
        }
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()).unwrap(), *status);
        }
        for ct in ContentType::ALL {
            assert_eq!(ContentType::parse(ct.as_str()).unwrap(), *ct);
        }
        let err = Role::parse("robot").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid role: must be one of: user, assistant, system, tool"
        );
        assert!(Rating::parse("sideways").is_err());
    }
}
