//! PostgreSQL's connection pools: one per HTTP worker thread and a shared one, and the turns
//! reads take.

use std::time::Duration;

use chat_threads_application::AppError;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};

use super::pg_appends::AppendQueue;
use super::pool::{PoolOptions, SetupError, build_pool};
use super::tree_sql::{PgAppendQuery, Placed};

/// PostgreSQL connections: one pool for each HTTP worker thread that claims one
/// ([`super::Database::claim_thread_pool`]), and one shared by every other thread (the reply
/// runtime, background tasks, start-up). `database.max_connections` is split between them.
///
/// A connection's driver runs as a task on the runtime of the thread that opened it. When a
/// worker used a connection another thread had opened, each statement woke that thread to
/// send it and was woken back with the rows: two cross-thread wake-ups and context switches
/// per statement, a large share of a request's CPU on a small machine. A worker takes its
/// connections from its own pool, and opens them itself, so a statement is sent and answered
/// on the thread that runs the request. (Pools handed to threads in the order they first
/// asked, as before, let the main thread and the reply runtime open connections in the
/// workers' pools: half the drivers of the connections the HTTP workers read with ran on the
/// reply runtime's threads, docs/operations.md.)
///
/// Reads take a turn among at most `max_concurrent_reads` ([`PgPools::reading`]): a read that
/// PostgreSQL answers from memory needs a core, not a connection, and more backends than cores
/// reading at once only queue for them — on a small machine with PostgreSQL beside the service,
/// a few reads then stalled for 100 ms to over a second (docs/operations.md) while the median
/// stayed at a few milliseconds. Writes, which wait for their commit to reach the disk, use
/// the whole pool.
#[derive(Clone)]
pub(crate) struct PgPools {
    /// The shared pool first, then one for each thread that may claim one.
    pools: std::sync::Arc<[Pool<AsyncPgConnection>]>,
    /// The next pool a claiming thread gets (from 1; none left past the end).
    claimed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Tells these pools apart in a thread's claims (a process may open several databases).
    id: usize,
    reads: std::sync::Arc<tokio::sync::Semaphore>,
    /// How long a read waits for its turn (`acquire_timeout`, as for a pooled connection).
    turn_timeout: Duration,
    /// Each pool's queue of plain appends, committed in groups ([`super::pg_appends`]).
    appends: std::sync::Arc<[std::sync::Arc<AppendQueue>]>,
}

std::thread_local! {
    /// The pools this thread claimed: (the pools' id, the index of its own).
    static CLAIMS: std::cell::RefCell<Vec<(usize, usize)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// How `max_connections` is split: the shared pool first, then one pool for each of up to
/// `cores` HTTP workers (fewer when the connections are fewer). The workers' pools get all but
/// about an eighth, evenly (a write waits for its commit on its connection: fewer connections
/// per worker commit fewer appends at once); the shared pool the rest, at least one.
/// `max_connections` (at least 1) in all.
fn pool_sizes(max_connections: usize, cores: usize) -> Vec<usize> {
    let max = max_connections.max(1);
    let shared = (max / 8).max(1);
    let own = cores.min(max - shared);
    let each = (max - shared).checked_div(own).unwrap_or(0);
    let mut sizes = vec![each; own + 1];
    sizes[0] = max - each * own;
    sizes
}

tokio::task_local! {
    /// Set while a task's read holds its turn, so a read nested in it takes no second one (and
    /// cannot wait for a turn its own task holds).
    static READING: ();
}

impl PgPools {
    pub(super) fn new(
        url: &str,
        options: PoolOptions,
        config: impl Fn() -> ManagerConfig<AsyncPgConnection>,
    ) -> Result<Self, SetupError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static IDS: AtomicUsize = AtomicUsize::new(0);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let sizes = pool_sizes(options.max_connections, cores);
        let pools = sizes
            .into_iter()
            .map(|max_connections| {
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                    url,
                    config(),
                );
                build_pool(
                    manager,
                    PoolOptions {
                        max_connections,
                        ..options
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            appends: pools.iter().map(|_| std::sync::Arc::default()).collect(),
            pools: pools.into(),
            claimed: std::sync::Arc::new(AtomicUsize::new(1)),
            id: IDS.fetch_add(1, Ordering::Relaxed),
            reads: std::sync::Arc::new(tokio::sync::Semaphore::new(options.concurrent_reads())),
            turn_timeout: options.acquire_timeout,
        })
    }

    /// Gives the calling thread a pool of its own, if one is left and it has none yet; its
    /// connections are then opened, and their drivers run, on this thread.
    pub(super) fn claim(&self) -> bool {
        use std::sync::atomic::Ordering;
        CLAIMS.with_borrow_mut(|claims| {
            if claims.iter().any(|&(id, _)| id == self.id) {
                return true;
            }
            let slot = self.claimed.fetch_add(1, Ordering::Relaxed);
            if slot >= self.pools.len() {
                return false;
            }
            claims.push((self.id, slot));
            true
        })
    }

    /// Runs `read` as one of at most `max_concurrent_reads` reads at once (FIFO); a read
    /// nested inside another runs within its turn. A read that waits longer than
    /// `acquire_timeout` for its turn fails as unavailable (503), like one that waits that long
    /// for a connection.
    pub(crate) async fn reading<T>(
        &self,
        read: impl Future<Output = Result<T, super::DbError>>,
    ) -> Result<T, super::DbError> {
        if READING.try_with(|_| ()).is_ok() {
            return read.await;
        }
        // The semaphore is never closed: the only failure is the timeout.
        let Ok(turn) = tokio::time::timeout(self.turn_timeout, self.reads.acquire()).await else {
            return Err(super::DbError(AppError::unavailable(format!(
                "no database connection: every read turn (database.max_concurrent_reads) \
                 stayed busy for {} s",
                self.turn_timeout.as_secs()
            ))));
        };
        let _turn = turn.ok();
        READING.scope((), read).await
    }

    /// This thread's pool, or the shared one.
    fn local(&self) -> &Pool<AsyncPgConnection> {
        &self.pools[self.slot()]
    }

    /// The index of this thread's pool (0: the shared one).
    fn slot(&self) -> usize {
        CLAIMS.with_borrow(|claims| {
            claims
                .iter()
                .find(|&&(id, _)| id == self.id)
                .map_or(0, |&(_, slot)| slot)
        })
    }

    /// A connection from this thread's pool.
    pub(crate) async fn get(
        &self,
    ) -> Result<deadpool::managed::Object<AsyncDieselConnectionManager<AsyncPgConnection>>, PoolError>
    {
        self.local().get().await
    }

    /// A plain append ([`PgAppendQuery`]) on this thread's pool, committed in a group with
    /// those queued beside it ([`super::pg_appends`]): where it placed the message, `None` when
    /// it did not.
    pub(super) async fn append(
        &self,
        query: PgAppendQuery,
    ) -> Result<Option<Placed>, super::DbError> {
        let slot = self.slot();
        self.appends[slot].append(&self.pools[slot], query).await
    }

    /// How plain appends were committed, every pool's together.
    pub(super) fn append_groups(&self) -> super::AppendGroups {
        let mut all = super::AppendGroups::default();
        for q in self.appends.iter() {
            q.count(&mut all);
        }
        all
    }

    /// The pools' sizes and idle connections, together.
    pub(super) fn status(&self) -> deadpool::managed::Status {
        let mut all = deadpool::managed::Status {
            max_size: 0,
            size: 0,
            available: 0,
            waiting: 0,
        };
        for p in self.pools.iter() {
            let s = p.status();
            all.max_size += s.max_size;
            all.size += s.size;
            all.available += s.available;
            all.waiting += s.waiting;
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbError;

    /// Pools for a server that is not there: they connect lazily, so none is needed.
    fn lazy(options: PoolOptions) -> PgPools {
        PgPools::new(
            "postgres://127.0.0.1:1/none",
            options,
            ManagerConfig::default,
        )
        .unwrap()
    }

    /// Read turns: at most `max_concurrent_reads` at once, a nested read runs in its task's
    /// turn, and a read that waits `acquire_timeout` for one fails as unavailable. (The pools
    /// connect lazily: no server is needed.)
    #[tokio::test]
    async fn reads_take_turns_with_a_deadline() {
        let options = PoolOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_millis(200),
            max_concurrent_reads: 1,
            ..PoolOptions::default()
        };
        let pools = lazy(options);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let pools = pools.clone();
            tokio::spawn(async move {
                pools
                    .reading(async {
                        // Nested: runs at once, inside the held turn.
                        let inner = pools.reading(async { Ok::<_, DbError>(7) }).await;
                        let _ = released.await;
                        inner
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waited = pools.reading(async { Ok::<_, DbError>(1) }).await;
        let err = waited.unwrap_err();
        assert_eq!(err.0.code(), "storage_unavailable", "{err:?}");
        assert!(
            format!("{err:?}").contains("max_concurrent_reads"),
            "{err:?}"
        );
        release.send(()).unwrap();
        assert_eq!(holder.await.unwrap().unwrap(), 7);
        // The turn is free again.
        assert_eq!(
            pools.reading(async { Ok::<_, DbError>(2) }).await.unwrap(),
            2
        );
    }

    /// `max_connections` is split into the shared pool and one per worker, never more in all,
    /// every pool at least one connection.
    #[test]
    fn connections_are_split_between_the_workers_and_the_shared_pool() {
        assert_eq!(pool_sizes(16, 2), vec![2, 7, 7]);
        assert_eq!(pool_sizes(8, 2), vec![2, 3, 3]);
        assert_eq!(pool_sizes(2, 2), vec![1, 1]);
        assert_eq!(pool_sizes(1, 2), vec![1]);
        assert_eq!(pool_sizes(0, 4), vec![1]);
        for max in 0..70 {
            for cores in 1..20 {
                let sizes = pool_sizes(max, cores);
                assert_eq!(sizes.iter().sum::<usize>(), max.max(1), "{max} {cores}");
                assert!(sizes.iter().all(|&n| n >= 1), "{max} {cores}: {sizes:?}");
                assert!(sizes.len() <= cores + 1, "{max} {cores}: {sizes:?}");
            }
        }
    }

    /// Each claiming thread gets a pool of its own while one is left, and keeps it; other
    /// threads, and claims past the last pool, use the shared one. (No server needed.)
    #[test]
    fn worker_threads_claim_pools_of_their_own() {
        let options = PoolOptions {
            max_connections: 16,
            ..PoolOptions::default()
        };
        let pools = lazy(options);
        let own = pools.pools.len() - 1;
        assert!(own >= 1);
        let claims: Vec<(bool, usize, usize)> = (0..own + 2)
            .map(|_| {
                let pools = pools.clone();
                std::thread::spawn(move || {
                    let got = pools.claim();
                    let slot = pools.slot();
                    // A second claim on the same thread keeps the same pool.
                    assert_eq!(pools.claim(), got);
                    (got, slot, pools.slot())
                })
                .join()
                .unwrap()
            })
            .collect();
        let mut slots: Vec<usize> = claims.iter().filter(|c| c.0).map(|c| c.1).collect();
        slots.sort_unstable();
        assert_eq!(slots, (1..=own).collect::<Vec<_>>(), "{claims:?}");
        assert!(claims.iter().all(|c| c.1 == c.2), "{claims:?}");
        assert!(
            claims.iter().filter(|c| !c.0).all(|c| c.1 == 0),
            "{claims:?}"
        );
        // This thread never claimed: the shared pool; another database's claims are its own.
        assert_eq!(pools.slot(), 0);
        let other = lazy(options);
        assert!(other.claim());
        assert_eq!((other.slot(), pools.slot()), (1, 0));
    }
}
