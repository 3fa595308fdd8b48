//! Who is calling, and which data that lets them reach.

use serde::{Deserialize, Serialize};

use crate::thread::Thread;
use crate::values::{OrgId, Owner};

/// The scope that lets a principal read (not write) every thread of its organization.
pub const SCOPE_ORG_ADMIN: &str = "org:admin";

/// What kind of caller a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person signed in through the app's identity provider or a built-in account.
    User,
    /// An anonymous session of a public widget.
    Anonymous,
    /// Another service acting on its own behalf.
    Service,
}

impl PrincipalKind {
    /// The prefix that namespaces owners, so a user named like a session is never that session.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Anonymous => "anon",
            Self::Service => "service",
        }
    }

    /// The kind a prefix names ([`Self::as_str`] read back).
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::User, Self::Anonymous, Self::Service]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Identity within its kind: a JWT subject, an account id, a session id.
    pub subject: String,
    /// The caller's organization.
    pub org: Option<OrgId>,
    /// User, anonymous session or service.
    pub kind: PrincipalKind,
    /// Granted scopes (for example [`SCOPE_ORG_ADMIN`]).
    pub scopes: Vec<String>,
    /// E-mail, when the identity provider supplies one.
    pub email: Option<String>,
    /// The name to show for this caller (a token's `name` claim), when supplied.
    #[serde(default)]
    pub name: Option<String>,
    /// For an anonymous session's token: the key of the one session it was issued for, so a
    /// session opened later under the same id never accepts it.
    #[serde(default)]
    pub session_key: Option<String>,
}

impl Principal {
    /// A user principal (handy for tests and the dev token).
    pub fn user(subject: &str, org: Option<&str>) -> Self {
        Self {
            subject: subject.to_owned(),
            org: org.and_then(|o| OrgId::parse(o).ok()),
            kind: PrincipalKind::User,
            scopes: Vec::new(),
            email: None,
            name: None,
            session_key: None,
        }
    }

    /// The name shown beside what this caller writes: the token's name, else its e-mail.
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.email.as_deref())
    }

    /// The owner recorded on threads this principal creates: `kind:subject`.
    pub fn owner(&self) -> Owner {
        Owner::from_stored(format!("{}:{}", self.kind.as_str(), self.subject))
    }

    /// Whether a scope was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The organization this principal manages (its sessions, policies, holds, audit log,
    /// erasures): a service principal's or an org admin's own; `None` for anyone else.
    pub fn managed_org(&self) -> Option<&OrgId> {
        let manages = match self.kind {
            PrincipalKind::Service => true,
            PrincipalKind::User => self.has_scope(SCOPE_ORG_ADMIN),
            PrincipalKind::Anonymous => false,
        };
        self.org.as_ref().filter(|_| manages)
    }

    /// Which data this principal reaches.
    pub fn scope(&self) -> Scope {
        let org_reader = if self.kind == PrincipalKind::User && self.has_scope(SCOPE_ORG_ADMIN) {
            self.org.clone()
        } else {
            None
        };
        Scope {
            owner: self.owner(),
            org_reader,
        }
    }
}

/// The data a call may touch: the owner's threads for everything, and, for an org admin, the
/// organization's threads for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Threads owned by this owner are readable and writable.
    pub owner: Owner,
    /// Threads of this org are readable too (org admins only).
    pub org_reader: Option<OrgId>,
}

impl Scope {
    /// The scope of a plain owner.
    pub fn of(owner: Owner) -> Self {
        Self {
            owner,
            org_reader: None,
        }
    }

    /// Whether the thread may be read.
    pub fn can_read(&self, thread: &Thread) -> bool {
        thread.owner == self.owner
            || self
                .org_reader
                .as_ref()
                .is_some_and(|org| thread.org_id.as_ref() == Some(org))
    }

    /// Whether the thread may be changed.
    pub fn can_write(&self, thread: &Thread) -> bool {
        thread.owner == self.owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_namespaced_by_kind() {
        let user = Principal::user("anon:x", None);
        let session = Principal {
            kind: PrincipalKind::Anonymous,
            subject: "x".into(),
            ..user.clone()
        };
        assert_eq!(user.owner().as_str(), "user:anon:x");
        assert_eq!(session.owner().as_str(), "anon:x");
        assert_ne!(user.owner(), session.owner());
    }

    #[test]
    fn only_user_org_admins_read_the_org() {
        let mut admin = Principal::user("boss", Some("acme"));
        assert_eq!(admin.scope().org_reader, None);
        admin.scopes.push(SCOPE_ORG_ADMIN.into());
        assert_eq!(
            admin.scope().org_reader.map(|o| o.into_inner()),
            Some("acme".to_string())
        );
        let orgless = Principal {
            org: None,
            ..admin.clone()
        };
        assert_eq!(orgless.scope().org_reader, None);
    }
}
