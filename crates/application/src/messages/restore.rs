//! Undoing deletes: restoring a deleted message (with the subtree that went with it, or a
//! tombstone's content) within the restore window, and reading a deleted message by id.

use chat_threads_domain::{Message, MessageId, Principal, ThreadId};

use super::{MessageService, MessageStore, RestoreOutcome};
use crate::access::{Need, may_write, scope_for};
use crate::error::AppError;
use crate::events::{Event, ThreadEvent};
use crate::system::Clock;
use crate::threads::ThreadStore;

impl<S: MessageStore + ThreadStore + crate::files::FileStore, C: Clock> MessageService<S, C> {
    /// Brings a deleted message back (see [`MessageStore::restore_message`]): the owner and
    /// editors, while the restore window lasts. Announced as `message.restored`.
    pub async fn restore(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<RestoreOutcome, AppError> {
        let scope = scope_for(&self.store, who, thread_id, Need::Write).await?;
        // Announced when something came back.
        let report = |out: &RestoreOutcome| {
            if out.restored == 0 {
                return Vec::new();
            }
            vec![ThreadEvent::thread(
                thread_id,
                Event::MessageRestored {
                    message: Box::new(out.message.clone()),
                    restored: out.restored,
                    active_leaf_id: out.active_leaf_id,
                },
            )]
        };
        let out = self
            .store
            .restore_message(&scope, thread_id, id, self.clock.now(), &report)
            .await?;
        if out.restored > 0 {
            crate::audit::record(
                &self.store,
                &self.clock,
                Some(who),
                None,
                crate::audit::AuditAction::MessageRestored,
                format!("message:{id}"),
                Some(thread_id),
                serde_json::json!({"restored": out.restored}),
            )
            .await;
            self.events.publish_all_stored(report(&out));
        }
        Ok(out)
    }

    /// A message by id, as `GET .../messages/{id}` reads it: a live one for anyone who reads
    /// the thread; a deleted one (with `deleted_at`) only for those who may restore it — the
    /// owner and editors; for others it does not exist.
    pub async fn read(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let scope = scope_for(&self.store, who, thread_id, Need::Read).await?;
        let m = self.store.get_message(&scope, thread_id, id).await?;
        if m.is_deleted() && !may_write(&self.store, who, thread_id).await? {
            return Err(AppError::MessageNotFound);
        }
        Ok(m)
    }
}
