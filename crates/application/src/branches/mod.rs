//! Branches: list the leaves, switch the active one, fork a path into a new thread.

use chat_threads_domain::{
    ForkOrigin, MessageId, Principal, Thread, ThreadId, ThreadStatus, Title,
};

pub use crate::messages::{Branch, ForkMode};

use crate::error::AppError;
use crate::events::Event;
use crate::messages::{MessageService, MessageStore};
use crate::system::Clock;
use crate::threads::ThreadStore;

impl<S: MessageStore + ThreadStore, C: Clock> MessageService<S, C> {
    /// The thread's branches with their last message.
    pub async fn branches(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Vec<Branch>, AppError> {
        self.store
            .branches(
                &crate::access::scope_for(&self.store, who, thread_id, crate::access::Need::Read)
                    .await?,
                thread_id,
            )
            .await
    }

    /// Switches the active branch.
    pub async fn set_active_leaf(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        leaf: MessageId,
    ) -> Result<Thread, AppError> {
        let report = |t: &Thread| {
            vec![crate::events::ThreadEvent::thread(
                t.id,
                Event::BranchSwitched {
                    active_leaf_id: t.active_leaf_id,
                },
            )]
        };
        let thread = self
            .store
            .set_active_leaf(
                &crate::access::scope_for(&self.store, who, thread_id, crate::access::Need::Write)
                    .await?,
                thread_id,
                leaf,
                self.clock.now(),
                &report,
            )
            .await?;
        self.events.publish_all_stored(report(&thread));
        Ok(thread)
    }

    /// Forks the path ending at `at` into a new thread that remembers its origin.
    pub async fn fork(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        at: MessageId,
        mode: ForkMode,
        title: Option<String>,
    ) -> Result<Thread, AppError> {
        let scope =
            crate::access::scope_for(&self.store, who, thread_id, crate::access::Need::Own).await?;
        let source = self.store.get_thread(&scope, thread_id, false).await?;
        let now = self.clock.now();
        let title = match title {
            Some(t) => Title::parse(&t, &self.limits)?,
            None => source.title.clone(),
        };
        let new_thread = Thread {
            id: ThreadId::new(),
            owner: who.owner(),
            title,
            status: ThreadStatus::Active,
            external_id: None,
            active_leaf_id: None,
            forked_from: Some(ForkOrigin {
                thread_id,
                message_id: at,
            }),
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            ..source
        };
        self.store
            .fork(&scope, thread_id, at, mode, new_thread)
            .await
    }
}
