//! The pure model of chat-threads: identifiers, threads, messages arranged as a tree, the rules
//! that keep that tree consistent, and validated value types. No I/O and no async runtime live
//! here, so every rule is unit-tested in isolation.

pub mod error;
pub mod folder;
pub mod ids;
pub mod members;
pub mod message;
pub mod metadata;
pub mod pairing;
pub mod parts;
pub mod principal;
pub mod thread;
pub mod tree;
pub mod values;

pub use error::DomainError;
pub use folder::Folder;
pub use ids::{FileId, FolderId, MessageId, SummaryId, ThreadId};
pub use members::{Author, Member, MemberRole, ThreadAccess, member_principal};
pub use message::{
    Attachment, ContentType, Feedback, Message, MessageStatus, Rating, Role, Summary,
};
pub use metadata::Metadata;
pub use pairing::check_parts;
pub use parts::Part;
pub use principal::{Principal, PrincipalKind, SCOPE_ORG_ADMIN, Scope};
pub use thread::{ForkOrigin, Thread, ThreadStatus};
pub use values::{
    Content, DocumentId, ExternalId, FeedbackText, FolderName, Limits, ModelName, OrgId, Owner,
    ProductName, QUERY_TEXT_MAX, Reaction, SystemPrompt, Tag, Title, query_text,
};

/// A point in time, always UTC and truncated to microseconds so both backends store it exactly.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Truncates a timestamp to whole microseconds, the precision PostgreSQL keeps.
pub fn to_micros(ts: Timestamp) -> Timestamp {
    use chrono::{DurationRound, TimeDelta};
    ts.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(ts)
}
