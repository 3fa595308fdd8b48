//! What membership needs from storage.

use std::future::Future;

use chat_threads_domain::{Member, Owner, ThreadAccess, ThreadId};

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
    fn put_member(
        &self,
        owner: &Owner,
        member: Member,
    ) -> impl Future<Output = Result<(Member, bool), AppError>> + Send;

    /// Removes a member from the owner's thread; whether there was one.
    fn remove_member(
        &self,
        owner: &Owner,
        thread_id: ThreadId,
        principal: &Owner,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;

    /// A thread's members, oldest first (the caller checked access).
    fn list_members(
        &self,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<Member>, AppError>> + Send;
}
