//! Keeping and forgetting on purpose: what was deleted stays restorable for the restore window
//! (`retention.restore_window_secs`), then the sweeper forgets it for good — a tombstone's
//! hidden content is erased (the tombstone stays in the tree), messages deleted with their
//! subtree and soft-deleted threads are removed. The sweep works in bounded batches, each its
//! own short transaction, so a crash mid-sweep loses nothing and the next sweep goes on.

pub mod policies;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chat_threads_domain::Timestamp;

use crate::error::AppError;
use crate::system::Clock;

/// How long deleted things stay restorable by default: 30 days.
pub const RESTORE_WINDOW_DEFAULT: std::time::Duration =
    std::time::Duration::from_secs(30 * 24 * 3600);

/// What one sweep forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Tombstones whose content was erased.
    pub erased: u64,
    /// Messages removed (deleted with their subtree, and the rows below them).
    pub messages: u64,
    /// Soft-deleted threads removed with everything in them.
    pub threads: u64,
}

impl Swept {
    /// Nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What the sweeper needs from storage.
pub trait RetentionStore: Clone + Send + Sync + 'static {
    /// One batch: erases up to `batch` tombstones made before `cutoff`, removes up to `batch`
    /// messages deleted before it, and up to `batch` threads deleted before it. Each kind in
    /// one short transaction. A store with several writers lets one sweep at a time and answers
    /// nothing for the others.
    fn sweep_deleted(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
        batch: u32,
    ) -> impl Future<Output = Result<Swept, AppError>> + Send;
}

/// What the sweeps of this process forgot since it started (for metrics).
#[derive(Debug, Default)]
pub struct SweptTotals {
    erased: AtomicU64,
    messages: AtomicU64,
    threads: AtomicU64,
}

impl SweptTotals {
    fn add(&self, s: Swept) {
        self.erased.fetch_add(s.erased, Ordering::Relaxed);
        self.messages.fetch_add(s.messages, Ordering::Relaxed);
        self.threads.fetch_add(s.threads, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn read(&self) -> Swept {
        Swept {
            erased: self.erased.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
            threads: self.threads.load(Ordering::Relaxed),
        }
    }
}

/// The sweeper.
#[derive(Debug, Clone)]
pub struct RetentionService<S, C> {
    store: S,
    clock: C,
    window: chrono::TimeDelta,
    batch: u32,
    totals: Arc<SweptTotals>,
}

impl<S: RetentionStore + crate::audit::AuditStore, C: Clock> RetentionService<S, C> {
    /// A sweeper forgetting what was deleted longer than `window` ago, `batch` rows at a time.
    pub fn new(store: S, clock: C, window: std::time::Duration, batch: u32) -> Self {
        Self {
            store,
            clock,
            window: chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX),
            batch: batch.max(1),
            totals: Arc::default(),
        }
    }

    /// What this process's sweeps forgot so far.
    pub fn totals(&self) -> Arc<SweptTotals> {
        self.totals.clone()
    }

    /// Forgets everything past the window, batch after batch, until a batch finds less than
    /// a full one of every kind.
    pub async fn sweep(&self) -> Result<Swept, AppError> {
        let mut total = Swept::default();
        loop {
            let now = self.clock.now();
            let cutoff = now.checked_sub_signed(self.window).unwrap_or(now);
            let s = self.store.sweep_deleted(cutoff, now, self.batch).await?;
            self.totals.add(s);
            total.erased += s.erased;
            total.messages += s.messages;
            total.threads += s.threads;
            let full = u64::from(self.batch);
            if s.erased < full && s.messages < full && s.threads < full {
                if !total.is_empty() {
                    crate::audit::record(
                        &self.store,
                        &self.clock,
                        None,
                        None,
                        crate::audit::AuditAction::RetentionSwept,
                        "deleted".into(),
                        None,
                        serde_json::json!({"erased": total.erased, "messages": total.messages,
                                           "threads": total.threads}),
                    )
                    .await;
                }
                return Ok(total);
            }
        }
    }
}
