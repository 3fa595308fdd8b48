//! The reply service around the process's life: following replies another instance runs
//! (mirroring their logs), recovering replies a crashed process left streaming, draining on
//! shutdown, and the usage figures.

use std::time::Duration;

use chat_threads_domain::{Message, MessageId, MessageStatus, Principal, ThreadId, Timestamp};

use super::{ReplyLog, ReplyService, ReplyStores};
use crate::error::AppError;
use crate::events::{Event, EventError, ThreadEvent};
use crate::system::Clock;
use crate::usage::{Usage, day_of};

impl<S, C> ReplyService<S, C>
where
    S: ReplyStores,
    C: Clock,
{
    /// Records a reply event another instance produced, so followers here (resuming with
    /// `Last-Event-ID`) see the same log as on the instance that runs the reply.
    pub fn mirror(&self, event: &ThreadEvent) {
        // Another instance asks to stop a reply: stopped here if this instance writes it.
        if let (Event::MessageStopRequested {}, Some(reply)) = (&event.data, event.reply_id) {
            if let Some(run) = self.hub.get(reply).filter(|r| r.publishes()) {
                run.cancel();
            }
            return;
        }
        let (Some(_), Some(reply)) = (event.seq, event.reply_id) else {
            return;
        };
        let run = match self.hub.get(reply) {
            Some(run) => run,
            None => {
                let run = ReplyLog::new(event.thread_id, reply, None);
                self.hub.insert(run.clone());
                run
            }
        };
        run.push_remote(event.clone());
        if event.kind().ends_reply() {
            run.finish();
            let hub = self.hub.clone();
            let retention = self.settings.replies.retention();
            self.runtime.spawn(async move {
                tokio::time::sleep(retention).await;
                hub.remove(reply);
            });
        }
    }

    /// Replies streaming but untouched since this moment belong to a dead process.
    pub(crate) fn stale_before(&self) -> Timestamp {
        self.clock.now()
            - chrono::TimeDelta::from_std(self.settings.replies.stale_after()).unwrap_or_default()
    }

    /// On shutdown: lets running replies finish for up to `grace`, then cancels the rest (they
    /// keep their text, status `cancelled`) and waits for them to be stored.
    pub async fn drain(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let running = self.hub.running();
            if running.is_empty() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                for run in &running {
                    run.cancel();
                }
                for run in running {
                    let _ = tokio::time::timeout(Duration::from_secs(5), run.wait()).await;
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// At start-up: every reply left `streaming` by an instance that is gone is failed at once
    /// (keeping the text it flushed); replies with no recorded writer (from before writers were
    /// recorded) are failed once stale.
    pub async fn recover(&self) -> Result<u64, AppError> {
        let released = self.release_orphans(None).await?;
        let before = self.stale_before();
        Ok(released + self.store.recover_stale(before).await?)
    }

    /// Now and then, on every instance: releases the replies of instances that died since, and
    /// ends the logs this instance mirrors for them, so their followers get `message.failed`.
    pub async fn sweep(&self) -> Result<u64, AppError> {
        let released = self.release_orphans(None).await?;
        // Queues whose turn was missed (their reply's instance died first) start here.
        self.restart_stalled_queues().await?;
        Ok(released)
    }

    /// Fails the orphaned replies (of one thread, or all); how many. Sweeping them all also
    /// lets go the holds of unstored completions whose instance is gone.
    pub(crate) async fn release_orphans(
        &self,
        thread_id: Option<ThreadId>,
    ) -> Result<u64, AppError> {
        if thread_id.is_none() {
            let holds = self.store.release_dead_holds(&self.instance).await?;
            if holds > 0 {
                tracing::warn!(
                    holds,
                    "released the holds of completions whose instance is gone"
                );
            }
        }
        let orphans = self
            .store
            .orphaned_replies(&self.instance, thread_id)
            .await?;
        let mut released = 0;
        for (thread, id) in orphans {
            if self
                .release(thread, id, MessageStatus::Failed)
                .await?
                .is_some()
            {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Whether a reply is streaming with no live writer.
    pub(crate) async fn is_orphaned(
        &self,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<bool, AppError> {
        Ok(self
            .store
            .orphaned_replies(&self.instance, Some(thread_id))
            .await?
            .iter()
            .any(|(_, m)| *m == id))
    }

    /// Fails the reply if it is orphaned; the stored reply when it was.
    pub(crate) async fn release_if_orphaned(
        &self,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Option<Message>, AppError> {
        if !self.is_orphaned(thread_id, id).await? {
            return Ok(None);
        }
        self.release(thread_id, id, MessageStatus::Failed).await
    }

    /// Ends a reply nobody writes any more with `status` (failed: its instance is gone;
    /// cancelled: someone stopped it), keeping its text; the stored reply when it still
    /// streamed. Its end event is kept in the change feed with the change and reaches every
    /// follower and subscriber, on every instance.
    pub(crate) async fn release(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        status: MessageStatus,
    ) -> Result<Option<Message>, AppError> {
        // A log here mirrors the dead instance's: the end is numbered after its last event.
        let run = self.hub.get(id).filter(|r| !r.is_done());
        let seq = run.as_ref().map(|r| r.next_seq());
        let report = |released: &Option<Message>| {
            released
                .iter()
                .filter_map(|m| {
                    let error = (status == MessageStatus::Failed)
                        .then(|| EventError::model("the instance writing this reply stopped"));
                    let data = Event::ending(
                        status,
                        m.content.as_str().to_owned(),
                        None,
                        error,
                        Vec::new(),
                    )?;
                    Some(ThreadEvent {
                        thread_id,
                        seq,
                        reply_id: Some(id),
                        data,
                    })
                })
                .collect()
        };
        let released = self
            .store
            .release_reply(thread_id, id, status, self.clock.now(), &report)
            .await?;
        if released.is_none() {
            return Ok(released);
        }
        tracing::warn!(message_id = %id, ?status, "released a reply nobody writes any more");
        for end in report(&released) {
            // The mirrored log ends with it (its followers here get it; a log that does not
            // publish by itself leaves subscribers to the hub); without a log, subscribers
            // here and elsewhere get it from the hub.
            match &run {
                Some(run) => {
                    let publishes = run.publishes();
                    if let Some(event) = run.push_final_stored(end.data)
                        && !publishes
                    {
                        self.events.publish_stored(event);
                    }
                }
                None => self.events.publish_stored(end),
            }
        }
        // Follow-ups queued under it get their turn.
        let next = self.clone();
        self.runtime
            .spawn(async move { next.next_in_queue(thread_id).await });
        if run.is_some() {
            let hub = self.hub.clone();
            let retention = self.settings.replies.retention();
            self.runtime.spawn(async move {
                tokio::time::sleep(retention).await;
                hub.remove(id);
            });
        }
        Ok(released)
    }

    /// Today's token usage of the principal and the quota.
    pub async fn usage_today(&self, who: &Principal) -> Result<(Usage, Option<u64>), AppError> {
        let used = self
            .store
            .usage_on(&who.owner(), &day_of(self.clock.now()))
            .await?;
        Ok((used, self.settings.replies.daily_token_quota))
    }

    /// The principal's usage per day and model over the last `days` UTC days (today included).
    pub async fn usage_by_model(
        &self,
        who: &Principal,
        days: u32,
    ) -> Result<Vec<crate::usage::ModelUsage>, AppError> {
        if !(1..=366).contains(&days) {
            return Err(chat_threads_domain::DomainError::invalid(
                "days",
                "must be between 1 and 366",
            )
            .into());
        }
        let today = self.clock.now();
        let first = today - chrono::TimeDelta::days(i64::from(days) - 1);
        self.store
            .usage_by_model(&who.owner(), &day_of(first), &day_of(today))
            .await
    }
}
