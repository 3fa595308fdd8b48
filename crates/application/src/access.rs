//! Who may do what in a thread: the scope each thread-scoped use case acts in, resolved from
//! the caller's standing — the thread's owner, a member (viewer or editor, managed by the
//! members feature), an org admin reading the organization's threads, or no one — and the
//! storage port that answers it.
//!
//! Every thread-scoped use case asks [`scope_for`]. The membership is looked up on each
//! request, so a removal or a lowered role takes effect at once on every instance.

use std::future::Future;

use chat_threads_domain::{Member, MemberRole, Owner, Principal, Scope, ThreadAccess, ThreadId};

use crate::error::AppError;

/// Storage of thread members.
pub trait MemberStore: Clone + Send + Sync + 'static {
    /// How `principal` stands towards the thread with this id (deleted or not): its owner and
    /// the principal's role; `None` when there is no such thread. Asked before every
    /// thread-scoped operation, so a removal takes effect at the next request; a store may
    /// remember owners (they never change) to answer an owner without a query.
    fn thread_access(
        &self,
        thread_id: ThreadId,
        principal: &Owner,
    ) -> impl Future<Output = Result<Option<ThreadAccess>, AppError>> + Send;

    /// Adds a member to the owner's live thread, or changes their role; whether they are new.
    /// [`AppError::ThreadNotFound`] when the thread is not the owner's live thread;
    /// [`AppError::LimitExceeded`]-like refusals are the service's.
    /// With the change feed entries `report` makes of the outcome.
    fn put_member(
        &self,
        owner: &Owner,
        member: Member,
        report: crate::feed::Report<'_, (Member, bool)>,
    ) -> impl Future<Output = Result<(Member, bool), AppError>> + Send;

    /// Removes a member from the owner's thread; whether there was one. With the change feed
    /// entries `report` makes of that.
    fn remove_member(
        &self,
        owner: &Owner,
        thread_id: ThreadId,
        principal: &Owner,
        report: crate::feed::Report<'_, bool>,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;

    /// A thread's members, oldest first (the caller checked access).
    fn list_members(
        &self,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<Member>, AppError>> + Send;
}

/// What an operation needs from the caller's standing in a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading: owners, members of any role, and org admins of the thread's org.
    Read,
    /// Writing messages: owners and editors.
    Write,
    /// The thread's own settings, members, shares, export, deletion: the owner only.
    Own,
}

/// Whether `who` may write the thread's messages: its owner or an editor.
pub async fn may_write<S: MemberStore>(
    store: &S,
    who: &Principal,
    thread_id: ThreadId,
) -> Result<bool, AppError> {
    let me = who.owner();
    Ok(store
        .thread_access(thread_id, &me)
        .await?
        .is_some_and(|a| a.owner == me || a.role == Some(MemberRole::Editor)))
}

/// The scope `who` acts in on `thread_id` for an operation that needs `need`.
///
/// The caller's own scope when they own the thread or are not a member (the store then finds
/// the thread or answers `thread_not_found`; an org admin's org-wide access only for reading,
/// so any other operation of theirs finds no thread before it looks further); the owner's
/// scope for a member whose role allows the operation; `forbidden` for a member whose role
/// does not.
pub async fn scope_for<S: MemberStore>(
    store: &S,
    who: &Principal,
    thread_id: ThreadId,
    need: Need,
) -> Result<Scope, AppError> {
    let mut own = who.scope();
    // An org admin's org-wide access reads; it never writes.
    if need != Need::Read {
        own.org_reader = None;
    }
    let Some(access) = store.thread_access(thread_id, &own.owner).await? else {
        return Ok(own);
    };
    if access.owner == own.owner {
        return Ok(own);
    }
    let Some(role) = access.role else {
        return Ok(own);
    };
    match (need, role) {
        (Need::Read, _) | (Need::Write, MemberRole::Editor) => Ok(Scope::of(access.owner)),
        (Need::Write, MemberRole::Viewer) => Err(AppError::Forbidden(
            "a viewer of this thread reads it and follows it; writing takes the editor role".into(),
        )),
        (Need::Own, _) => Err(AppError::Forbidden(
            "only the thread's owner may do this; members read (and editors write) its messages"
                .into(),
        )),
    }
}
