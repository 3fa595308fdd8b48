//! The in-memory store's change feed.

use chat_threads_application::AppError;
use chat_threads_application::feed::{
    FeedEntry, FeedFilter, FeedScope, FeedStore, NewFeedEvent, Report, reported,
};
use chat_threads_domain::Timestamp;

use super::{MemoryStore, State};

impl State {
    /// Appends an entry to the log with the next cursor (nothing when its thread is gone):
    /// how the writer's batches and the writes that keep their own entry both write it.
    pub(super) fn keep(&mut self, e: &NewFeedEvent) {
        let Some(t) = self.threads.get(&e.thread_id) else {
            return;
        };
        let entry = FeedEntry {
            cursor: self.feed.last().map_or(self.feed_floor, |l| l.cursor) + 1,
            at: e.at,
            thread_id: e.thread_id,
            owner: t.owner.as_str().to_owned(),
            org_id: t.org_id.clone(),
            product: t.product.as_ref().map(|p| p.as_str().to_owned()),
            kind: e.kind.to_owned(),
            reply_id: e.reply_id,
            data: e.data.clone(),
        };
        self.feed.push(entry);
    }

    /// Appends what a write reported (see [`chat_threads_application::feed::Report`]).
    pub(super) fn keep_all(&mut self, entries: Vec<NewFeedEvent>) {
        for e in &entries {
            self.keep(e);
        }
    }
}

impl MemoryStore {
    /// Runs a write under the store's lock and keeps the entries `report` makes of its result
    /// (at `at`) before the lock is let go: the memory store's "same transaction".
    pub(super) fn reporting<T>(
        &self,
        report: Report<'_, T>,
        at: Timestamp,
        write: impl FnOnce(&mut State) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut s = self.lock()?;
        let out = write(&mut s)?;
        s.keep_all(reported(report, &out, at));
        Ok(out)
    }
}

impl FeedStore for MemoryStore {
    async fn append_feed(&self, events: &[NewFeedEvent]) -> Result<(), AppError> {
        let mut s = self.lock()?;
        for e in events {
            s.keep(e);
        }
        Ok(())
    }

    async fn read_feed(
        &self,
        scope: &FeedScope,
        filter: &FeedFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, AppError> {
        let s = self.lock()?;
        Ok(s.feed
            .iter()
            .filter(|e| e.cursor > after && scope.holds(e) && filter.passes(e))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn feed_floor(&self) -> Result<i64, AppError> {
        Ok(self.lock()?.feed_floor)
    }

    async fn feed_head(&self) -> Result<i64, AppError> {
        let s = self.lock()?;
        Ok(s.feed.last().map_or(s.feed_floor, |e| e.cursor))
    }

    async fn purge_feed(&self, cutoff: Timestamp, batch: u32) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let old = s
            .feed
            .iter()
            .take_while(|e| e.at < cutoff)
            .count()
            .min(batch as usize);
        if let Some(last) = s.feed.get(old.wrapping_sub(1)).map(|e| e.cursor) {
            s.feed_floor = s.feed_floor.max(last);
        }
        s.feed.drain(..old);
        Ok(old as u64)
    }
}
