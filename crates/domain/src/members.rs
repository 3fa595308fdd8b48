//! Members of a thread: principals other than the owner whom the owner let in, each with a
//! role, and the author recorded on every message a person writes.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::error::DomainError;
use crate::ids::ThreadId;
use crate::principal::Principal;
use crate::values::Owner;

/// What a member may do in a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Reads the thread and follows its live events.
    Viewer,
    /// Also writes: appends, chats, edits, branches, rates, deletes messages.
    Editor,
}

impl MemberRole {
    /// Every role, least first.
    pub const ALL: &'static [MemberRole] = &[MemberRole::Viewer, MemberRole::Editor];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("role", "must be one of: viewer, editor"))
    }
}

/// A principal let into a thread by its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The thread.
    pub thread_id: ThreadId,
    /// Who, written as a thread's owner is (`user:bob`, `service:crm`).
    pub principal: Owner,
    /// What they may do.
    pub role: MemberRole,
    /// When they were let in (or their role last changed).
    pub added_at: Timestamp,
}

/// Parses a member's principal: `user:<subject>` or `service:<subject>` (an anonymous session
/// is a visitor of one widget, never a member of someone else's thread).
pub fn member_principal(raw: &str) -> Result<Owner, DomainError> {
    let owner = Owner::parse(raw).map_err(|_| {
        DomainError::invalid("principal", "must be user:<subject> or service:<subject>")
    })?;
    let ok = ["user:", "service:"].iter().any(|p| {
        owner
            .as_str()
            .strip_prefix(p)
            .is_some_and(|rest| !rest.trim().is_empty())
    });
    if !ok {
        return Err(DomainError::invalid(
            "principal",
            "must be user:<subject> or service:<subject>",
        ));
    }
    Ok(owner)
}

/// How a principal stands towards one thread, as the store finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadAccess {
    /// The thread's owner.
    pub owner: Owner,
    /// The principal's role, when they are a member.
    pub role: Option<MemberRole>,
}

/// The longest display name kept beside a message (a longer one is cut).
pub const AUTHOR_NAME_CHARS: usize = 128;

/// Who wrote a message: the principal (as a thread's owner is written) and a display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// `user:bob`, `service:crm`, `anon:<session>`.
    pub id: String,
    /// The name to show: the token's `name` claim, else its e-mail.
    pub name: Option<String>,
}

impl Author {
    /// The author a principal writes as.
    pub fn of(who: &Principal) -> Self {
        Self {
            id: who.owner().as_str().to_owned(),
            name: who
                .display_name()
                .map(|n| n.chars().take(AUTHOR_NAME_CHARS).collect()),
        }
    }

    /// The name a model may be given for this speaker (OpenAI's `name`: letters, digits, `_`
    /// and `-`, at most 64): the display name (else the principal's subject) with every other
    /// character made `_`; `None` when nothing usable is left.
    pub fn speaker_name(&self) -> Option<String> {
        let base = self
            .name
            .as_deref()
            .map(|n| n.split('@').next().unwrap_or(n))
            .unwrap_or_else(|| self.id.split_once(':').map_or(&*self.id, |(_, s)| s));
        let cleaned: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let trimmed = cleaned.trim_matches('_');
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_principals_are_users_or_services() {
        assert!(member_principal("user:bob").is_ok());
        assert!(member_principal("service:crm").is_ok());
        assert_eq!(member_principal(" user:bob ").unwrap().as_str(), "user:bob");
        for bad in [
            "bob",
            "anon:x",
            "user:",
            "user: ",
            "admin:bob",
            "",
            "user:\u{1}",
        ] {
            assert!(member_principal(bad).is_err(), "{bad:?}");
        }
        assert_eq!(MemberRole::parse("editor").unwrap(), MemberRole::Editor);
        assert!(MemberRole::parse("owner").is_err());
        assert!(MemberRole::Editor > MemberRole::Viewer);
    }

    #[test]
    fn speaker_names_fit_the_model_rule() {
        let named = |id: &str, name: Option<&str>| Author {
            id: id.into(),
            name: name.map(Into::into),
        };
        assert_eq!(
            named("user:b", Some("Bob Smith")).speaker_name().as_deref(),
            Some("Bob_Smith")
        );
        assert_eq!(
            named("user:b", Some("bob@example.com"))
                .speaker_name()
                .as_deref(),
            Some("bob")
        );
        assert_eq!(
            named("user:alice", None).speaker_name().as_deref(),
            Some("alice")
        );
        assert_eq!(named("user:ü", Some("ü")).speaker_name(), None);
        assert_eq!(
            named("user:x", Some(&"a".repeat(100)))
                .speaker_name()
                .map(|n| n.len()),
            Some(64)
        );
    }
}
