//! Following a reply (live or replayed), stopping it (here, on another instance over the bus,
//! or one whose instance is gone; a queued follow-up is cancelled instead) and waiting for its
//! end.

use std::time::Duration;

use chat_threads_domain::{Message, MessageId, MessageStatus, Principal, ThreadId};

use super::log::replay;
use super::{EventStream, Follower, ReplyLog, ReplyService, ReplyStores, Started};
use crate::access::{Need, scope_for};
use crate::error::AppError;
use crate::events::{Event, ThreadEvent};
use crate::system::Clock;

impl<S, C> ReplyService<S, C>
where
    S: ReplyStores,
    C: Clock,
{
    /// Follows a reply from after `after`: live if this process runs it, else a replay of the
    /// stored message (`message.created`, one `message.delta` with the text, and the final event).
    pub async fn follow(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        after: u64,
    ) -> Result<EventStream, AppError> {
        Ok(self
            .follower(who, thread_id, id, after)
            .await?
            .into_stream())
    }

    /// [`follow`](Self::follow) as a [`Follower`] (no stream boxed around it).
    pub async fn follower(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
        after: u64,
    ) -> Result<Follower, AppError> {
        let scope = scope_for(&self.store, who, thread_id, Need::Read).await?;
        let message = self.store.get_message(&scope, thread_id, id).await?;
        if message.is_deleted() {
            return Err(AppError::MessageNotFound);
        }
        if let Some(run) = self.hub.get(id) {
            return Ok(run.follower(after));
        }
        // A reply still streaming that no live instance writes (its instance crashed) ends here
        // and now, as a failure that keeps the text flushed so far.
        let message = match message.status {
            MessageStatus::Streaming => self
                .release_if_orphaned(thread_id, id)
                .await?
                .unwrap_or(message),
            _ => message,
        };
        let run = ReplyLog::new(thread_id, id, None);
        replay(&run, &message);
        // A reply still streaming here without a run belongs to an instance this one did not
        // mirror from its start: what is stored so far is sent and the stream stays open.
        if message.status != MessageStatus::Streaming {
            run.finish();
        }
        Ok(run.follower(after))
    }

    /// Stops a reply; returns the message as stored (its text so far, status `cancelled`).
    pub async fn cancel(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let scope = scope_for(&self.store, who, thread_id, Need::Write).await?;
        let thread = self.store.get_thread(&scope, thread_id, false).await?;
        if !scope.can_write(&thread) {
            return Err(AppError::ThreadNotFound);
        }
        let message = self.store.get_message(&scope, thread_id, id).await?;
        if message.status == MessageStatus::Queued {
            return self.cancel_queued(thread_id, message).await;
        }
        if let Some(run) = self.hub.get(id).filter(|r| r.publishes()) {
            run.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), run.wait()).await;
            return self.store.get_message(&scope, thread_id, id).await;
        }
        if message.status == MessageStatus::Streaming && !self.is_orphaned(thread_id, id).await? {
            // Another instance writes it: asked over the bus, it stops it and stores the end.
            self.events.publish(ThreadEvent {
                thread_id,
                seq: None,
                reply_id: Some(id),
                data: Event::MessageStopRequested {},
            });
            return self
                .ended(&scope, thread_id, id, Duration::from_secs(10))
                .await;
        }
        // Nobody writes it any more (its instance crashed): cancelling ends it here.
        if message.status == MessageStatus::Streaming
            && self.is_orphaned(thread_id, id).await?
            && let Some(cancelled) = self
                .release(thread_id, id, MessageStatus::Cancelled)
                .await?
        {
            return Ok(cancelled);
        }
        Ok(message)
    }

    /// The reply as stored once it is no longer streaming (or after `within`, as it is then).
    async fn ended(
        &self,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        id: MessageId,
        within: Duration,
    ) -> Result<Message, AppError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = self.store.get_message(scope, thread_id, id).await?;
            if m.status != MessageStatus::Streaming || tokio::time::Instant::now() >= deadline {
                return Ok(m);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a reply to end and returns it as stored.
    pub async fn finished(&self, who: &Principal, started: &Started) -> Result<Message, AppError> {
        started.log.wait().await;
        let (thread_id, id) = (started.log.thread_id, started.log.message_id);
        let scope = scope_for(&self.store, who, thread_id, Need::Read).await?;
        self.store.get_message(&scope, thread_id, id).await
    }
}
