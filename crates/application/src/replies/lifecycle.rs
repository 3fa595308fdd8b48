//! The reply service around the process's life: following replies another instance runs
//! (mirroring their logs), recovering replies a crashed process left streaming, draining on
//! shutdown, and the usage figures.

use std::time::Duration;

use chat_threads_domain::{Principal, Timestamp};

use super::{ReplyService, ReplyStore, Run};
use crate::error::AppError;
use crate::events::ThreadEvent;
use crate::messages::MessageStore;
use crate::summaries::SummaryStore;
use crate::system::Clock;
use crate::threads::ThreadStore;
use crate::usage::{Usage, UsageStore, day_of};

impl<S, C> ReplyService<S, C>
where
    S: ThreadStore + MessageStore + SummaryStore + ReplyStore + UsageStore,
    C: Clock,
{
    /// Records a reply event another instance produced, so followers here (resuming with
    /// `Last-Event-ID`) see the same log as on the instance that runs the reply.
    pub fn mirror(&self, event: &ThreadEvent) {
        let (Some(_), Some(reply)) = (event.seq, event.reply_id) else {
            return;
        };
        let run = match self.hub.get(reply) {
            Some(run) => run,
            None => {
                let run = Run::new(event.thread_id, reply, None);
                self.hub.insert(run.clone());
                run
            }
        };
        run.push_remote(event.clone());
        if event.event.ends_reply() {
            run.finish();
            let hub = self.hub.clone();
            let retention = self.settings.retention;
            self.runtime.spawn(async move {
                tokio::time::sleep(retention).await;
                hub.remove(reply);
            });
        }
    }

    /// Replies streaming but untouched since this moment belong to a dead process.
    pub(crate) fn stale_before(&self) -> Timestamp {
        self.clock.now()
            - chrono::TimeDelta::from_std(self.settings.stale_after).unwrap_or_default()
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

    /// Marks replies a crashed process left `streaming` as failed.
    pub async fn recover(&self) -> Result<u64, AppError> {
        let before = self.stale_before();
        self.store.recover_stale(before).await
    }

    /// Today's token usage of the principal and the quota.
    pub async fn usage_today(&self, who: &Principal) -> Result<(Usage, Option<u64>), AppError> {
        let used = self
            .store
            .usage_on(&who.owner(), &day_of(self.clock.now()))
            .await?;
        Ok((used, self.settings.daily_token_quota))
    }
}
