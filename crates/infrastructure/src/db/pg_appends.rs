//! Group commit of plain appends on PostgreSQL.
//!
//! A plain append is one statement ([`PgAppendQuery`]) and, alone, one transaction: its own
//! round trip, its own executor start-up and its own commit (a WAL flush). Appends that arrive
//! while others run are queued and sent together: one connection, one transaction, every
//! statement pipelined (sent before the first answer comes back), one commit. pgbench on the
//! benchmark's database (docs/operations.md): the same statement stored 1.4-1.9 times as many
//! appends per second in pipelined groups of 4-8 as alone, with PostgreSQL spending about a
//! third less CPU on each.
//!
//! Each pool ([`super::pg_pools::PgPools`]: one per HTTP worker and a shared one) has its queue
//! and at most [`RUNNERS`] groups in flight. An append that finds a runner free is sent at once
//! (alone, if nothing else is queued: no waiting for company), so an idle service answers as
//! before; under load the queue fills while the runners are busy, and each runner takes what has
//! gathered, up to [`MOST`]. A group's statements lock their threads in the order of the
//! threads' ids, so two groups never wait for each other in a cycle. A group whose transaction
//! fails for any reason (one statement's error aborts all of it, a deadlock with some other
//! transaction) is rolled back whole and its appends are then run one by one, each in its own
//! transaction, so each gets its own answer: a group changes when appends commit, never what
//! they store or which of them fail.
//!
//! A group runs on a task of its own: a caller that goes away (its request was dropped) cannot
//! cancel a transaction that holds other callers' appends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chat_threads_application::AppError;
use diesel::OptionalExtension;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::error::DbError;
use super::pool::pool_error_message;
use super::tree_sql::{PgAppendQuery, Placed};

/// Groups of one pool in flight at once. Two per pool keep most of a worker's connections
/// for its reads and other writes; pgbench's groups of 4-8 already gave the gain measured,
/// which two runners reach at 8-16 appends in flight per worker.
const RUNNERS: usize = 2;

/// The most appends in one group: its locks are held until it commits.
const MOST: usize = 32;

/// What one append gets: where its message went (`None`: not placed, see
/// [`PgAppendQuery`]).
type Answer = Result<Option<Placed>, DbError>;

struct Pending {
    query: PgAppendQuery,
    done: oneshot::Sender<Answer>,
}

/// How plain appends on PostgreSQL were committed since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendGroups {
    /// Groups of two or more appends committed in one transaction.
    pub committed: u64,
    /// The appends in them.
    pub appends: u64,
    /// Groups rolled back whole (one statement failed, or the transaction did), whose appends
    /// then ran one by one.
    pub undone: u64,
}

/// The queue of one pool.
pub(super) struct AppendQueue {
    waiting: Mutex<Vec<Pending>>,
    runners: Arc<Semaphore>,
    committed: AtomicU64,
    appends: AtomicU64,
    undone: AtomicU64,
}

impl Default for AppendQueue {
    fn default() -> Self {
        Self {
            waiting: Mutex::new(Vec::new()),
            runners: Arc::new(Semaphore::new(RUNNERS)),
            committed: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            undone: AtomicU64::new(0),
        }
    }
}

impl AppendQueue {
    /// Runs `query` on `pool`, alone or in a group with the appends queued beside it.
    pub(super) async fn append(
        self: &Arc<Self>,
        pool: &Pool<AsyncPgConnection>,
        query: PgAppendQuery,
    ) -> Answer {
        let (done, answer) = oneshot::channel();
        self.lock().push(Pending { query, done });
        // A runner that is busy takes this append with its next group; a free one starts now.
        if let Ok(permit) = self.runners.clone().try_acquire_owned() {
            tokio::spawn(self.clone().run(pool.clone(), permit));
        }
        answer.await.unwrap_or_else(|_| {
            Err(DbError(AppError::internal(
                "an append's group ended without an answer",
            )))
        })
    }

    /// Adds this queue's counts to `to`.
    pub(super) fn count(&self, to: &mut AppendGroups) {
        to.committed += self.committed.load(Ordering::Relaxed);
        to.appends += self.appends.load(Ordering::Relaxed);
        to.undone += self.undone.load(Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A panic while the lock was held left a whole vector: the queue is still usable.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the next group of what is queued, oldest first.
    fn take(&self) -> Vec<Pending> {
        let mut waiting = self.lock();
        let n = waiting.len().min(MOST);
        waiting.drain(..n).collect()
    }

    /// One runner: groups until the queue is empty.
    async fn run(self: Arc<Self>, pool: Pool<AsyncPgConnection>, mut permit: OwnedSemaphorePermit) {
        loop {
            let group = self.take();
            if group.is_empty() {
                drop(permit);
                // An append queued between the take above and the release found every runner
                // busy and started none: this runner goes on with it, unless another has.
                if self.lock().is_empty() {
                    return;
                }
                match self.runners.clone().try_acquire_owned() {
                    Ok(p) => permit = p,
                    Err(_) => return,
                }
                continue;
            }
            self.run_group(&pool, group).await;
        }
    }

    async fn run_group(&self, pool: &Pool<AsyncPgConnection>, mut group: Vec<Pending>) {
        // One connection for the whole group, its fallback included: a pool that cannot give
        // one answers every append of the group at once, not once per append.
        let mut conn = match pool.get().await {
            Ok(conn) => conn,
            Err(e) => {
                let why = pool_error_message(&e);
                for p in group {
                    let _ = p
                        .done
                        .send(Err(DbError(AppError::unavailable(why.clone()))));
                }
                return;
            }
        };
        if group.len() > 1 {
            // Locks taken in one order by every group (stable: one thread's appends keep
            // their order).
            group.sort_by_key(|p| p.query.row.thread_id.0);
            match together(&mut conn, &group).await {
                Ok(placed) => {
                    self.committed.fetch_add(1, Ordering::Relaxed);
                    self.appends
                        .fetch_add(group.len() as u64, Ordering::Relaxed);
                    for (p, answer) in group.into_iter().zip(placed) {
                        let _ = p.done.send(Ok(answer));
                    }
                    return;
                }
                Err(e) => {
                    self.undone.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e.0, appends = group.len(),
                        "a group of appends was rolled back; each runs alone");
                }
            }
        }
        for p in group {
            let answer = alone(&mut conn, p.query).await;
            let _ = p.done.send(answer);
        }
    }
}

/// One append in its own transaction.
async fn alone(conn: &mut AsyncPgConnection, query: PgAppendQuery) -> Answer {
    use diesel_async::RunQueryDsl as _;
    Ok(query.get_result::<Placed>(conn).await.optional()?)
}

/// A group in one transaction, its statements pipelined; their answers in the group's order.
async fn together(
    conn: &mut AsyncPgConnection,
    group: &[Pending],
) -> Result<Vec<Option<Placed>>, DbError> {
    use diesel_async::RunQueryDsl as _;
    conn.transaction(async |c| -> Result<_, DbError> {
        let c: &AsyncPgConnection = c;
        let sent = group.iter().map(|p| {
            let mut c = c;
            (&p.query).get_result::<Placed>(&mut c)
        });
        let answers = futures_util::future::join_all(sent).await;
        Ok(answers
            .into_iter()
            .map(OptionalExtension::optional)
            .collect::<Result<Vec<_>, _>>()?)
    })
    .await
}
