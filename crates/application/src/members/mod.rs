//! Members of a thread: the owner lets other principals in as viewers (read the thread and
//! follow its live events) or editors (also append, chat, edit, branch, rate and delete
//! messages). What stays the owner's alone: the thread's settings (title, folder, tags, pins,
//! system prompt, model, title generation), deleting, restoring and purging it, its members,
//! its share links and forks. Exporting a thread is reading it. A member may leave (remove
//! themselves).
//!
//! Every thread-scoped use case asks [`crate::access::scope_for`] which scope to act in: the
//! caller's own for their threads (and an org admin's org-wide read), the owner's for a member
//! whose role allows the operation. The membership is looked up on each request, so a removal
//! or a lowered role takes effect at once on every instance; `member.removed` ends the removed
//! principal's live subscriptions.
//!
//! Whatever a member writes is stored in the owner's thread with the member as its author
//! (`Message::author`), and is paid for (model calls) by the member.

pub use crate::access::{MemberStore, Need, scope_for};

use chat_threads_domain::{DomainError, Member, MemberRole, Principal, ThreadId, member_principal};

use crate::error::AppError;
use crate::events::{Event, ThreadEvent, ThreadEvents};
use crate::system::Clock;
use crate::threads::ThreadStore;

/// Most members one thread may have.
pub const MAX_MEMBERS: usize = 1_000;

/// Input to add a member (raw).
#[derive(Debug, Clone)]
pub struct AddMember {
    /// `user:<subject>` or `service:<subject>`.
    pub principal: String,
    /// `viewer` or `editor`.
    pub role: String,
}

/// Members of threads.
#[derive(Debug, Clone)]
pub struct MemberService<S, C> {
    store: S,
    clock: C,
    events: ThreadEvents,
}

impl<S: MemberStore + ThreadStore, C: Clock> MemberService<S, C> {
    /// A service over `store`, announcing changes on `events`.
    pub fn new(store: S, clock: C, events: ThreadEvents) -> Self {
        Self {
            store,
            clock,
            events,
        }
    }

    /// Lets a principal into the owner's thread, or changes their role: `(member, created)`.
    /// Announced as `member.added` (also for a role change).
    pub async fn add(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: AddMember,
    ) -> Result<(Member, bool), AppError> {
        let principal = member_principal(&input.principal)?;
        let role = MemberRole::parse(&input.role)?;
        let scope = scope_for(&self.store, who, thread_id, Need::Own).await?;
        if principal == scope.owner {
            return Err(DomainError::inconsistent(
                "principal",
                "the thread's owner has every right already; members are other principals",
            )
            .into());
        }
        let existing = self.store.list_members(thread_id).await?;
        if existing.len() >= MAX_MEMBERS && !existing.iter().any(|m| m.principal == principal) {
            return Err(DomainError::LimitExceeded {
                field: "members",
                limit: MAX_MEMBERS,
                actual: existing.len() + 1,
            }
            .into());
        }
        let member = Member {
            thread_id,
            principal,
            role,
            added_at: self.clock.now(),
        };
        let report = |(m, _): &(Member, bool)| {
            vec![ThreadEvent::thread(
                m.thread_id,
                Event::MemberAdded {
                    principal: m.principal.as_str().to_owned(),
                    role: m.role,
                },
            )]
        };
        let out = self.store.put_member(&scope.owner, member, &report).await?;
        self.events.publish_all_stored(report(&out));
        let (member, created) = out;
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            None,
            crate::audit::AuditAction::MemberAdded,
            format!("member:{}", member.principal.as_str()),
            Some(thread_id),
            serde_json::json!({"role": member.role, "created": created}),
        )
        .await;
        Ok((member, created))
    }

    /// Takes a member out: the owner removes anyone, a member removes themselves (leaves).
    /// Announced as `member.removed`, which ends the principal's live subscriptions.
    pub async fn remove(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        principal: &str,
    ) -> Result<(), AppError> {
        let principal = member_principal(principal).map_err(|_| AppError::MemberNotFound)?;
        let owner = if principal == who.owner() {
            // Leaving: only a member can; the owner has nothing to leave.
            match self.store.thread_access(thread_id, &principal).await? {
                Some(a) if a.role.is_some() => a.owner,
                Some(a) if a.owner == principal => return Err(AppError::MemberNotFound),
                _ => return Err(AppError::ThreadNotFound),
            }
        } else {
            scope_for(&self.store, who, thread_id, Need::Own)
                .await?
                .owner
        };
        let report = |removed: &bool| {
            if !removed {
                return Vec::new();
            }
            vec![ThreadEvent::thread(
                thread_id,
                Event::MemberRemoved {
                    principal: principal.as_str().to_owned(),
                },
            )]
        };
        let removed = self
            .store
            .remove_member(&owner, thread_id, &principal, &report)
            .await?;
        if !removed {
            return Err(AppError::MemberNotFound);
        }
        self.events.publish_all_stored(report(&removed));
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            None,
            crate::audit::AuditAction::MemberRemoved,
            format!("member:{}", principal.as_str()),
            Some(thread_id),
            serde_json::json!({"left": principal == who.owner()}),
        )
        .await;
        Ok(())
    }

    /// The thread's members: for its owner, its members and an org admin of its org.
    pub async fn list(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Vec<Member>, AppError> {
        let scope = scope_for(&self.store, who, thread_id, Need::Read).await?;
        self.store.get_thread(&scope, thread_id, false).await?;
        self.store.list_members(thread_id).await
    }
}
