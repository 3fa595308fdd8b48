//! SQLite's one writer, with group commit.
//!
//! SQLite lets one transaction write at a time. Instead of every request taking a pooled
//! connection and polling the database lock (`busy_timeout` back-off, which made tail latency
//! spike under load), write transactions of this process run one after another on one dedicated
//! connection, first come first served. Those that queue while one runs join its transaction:
//! each runs in its own savepoint (one that fails rolls back alone, the others go on), and the
//! batch commits once — when no one else is waiting, or when the committer queued behind the
//! batch's first waiters gets its turn, which bounds a batch to those already queued when it
//! began. A caller's result is returned only after the batch that holds its writes commits;
//! if that commit fails, every write of the batch fails with it. Reads keep using the pool (WAL
//! lets them run beside the writer) and see only committed batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chat_threads_application::AppError;
use diesel::sqlite::SqliteConnection;
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, MutexGuard, watch};

use super::error::DbError;

/// The writer's connection. Its statements run right where they are awaited instead of on
/// tokio's blocking pool: one writer runs one statement at a time, and each is short (a few
/// microseconds to write a row into the WAL), so the hop to another thread and back would cost
/// more than the statement.
pub(crate) type WriterConn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// Runs a connection's blocking work on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        let done = task();
        Box::pin(std::future::ready(Ok(done)))
    }

    fn get_runtime() -> Self {
        Inline
    }
}

/// How a batch ended: `None` while it is open, then `Ok` or the commit's error.
type Outcome = Option<Result<(), String>>;

/// The writer of one SQLite database (shared by clones of its [`super::Database`]).
pub(crate) struct SqliteWriter {
    /// The database file.
    path: String,
    /// Run on the connection when it is opened (the same settings as the pool's).
    setup: String,
    state: Mutex<State>,
    /// Callers queued for `state` right now.
    waiting: AtomicUsize,
    /// Whether the background checkpointer was started.
    checkpointing: AtomicBool,
}

/// WAL pages after which a commit of the writer checkpoints by itself (SQLite's
/// `wal_autocheckpoint`, 1,000 by default): only a backstop, ~64 MiB of WAL, for when the
/// background checkpointer falls behind.
const BACKSTOP_WAL_PAGES: u32 = 16_384;

/// How often the background checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// WAL frames (pages) left uncopied below which the checkpointer stops its passes beside the
/// writer and takes its turn between two batches: ~1 MiB, a millisecond or two to copy.
const CATCH_UP_FRAMES: i64 = 256;

/// Most passes beside the writer in one round (when writes outpace the copying, the turn
/// between two batches comes anyway).
const CATCH_UP_PASSES: usize = 4;

/// What the checkpointer's thread is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// A `PASSIVE` checkpoint.
    Pass,
    /// Flush the database file's written pages to the disk (`fdatasync`).
    SyncFile,
}

/// Syncs the database file at `path` (its data, as SQLite's own sync of it does); whether that
/// worked. A failure is logged: SQLite's sync at the end of the checkpoint still covers it.
fn sync_file(path: &str) -> bool {
    // Opened for writing, as some systems require for a sync; nothing is written.
    match std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.sync_data())
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "SQLite checkpointer cannot sync the database file");
            false
        }
    }
}

/// One `PASSIVE` checkpoint on `c`, and SQLite's answer to it.
fn passive_checkpoint(c: &mut SqliteConnection) -> diesel::QueryResult<CheckpointRow> {
    use diesel::RunQueryDsl as _;
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<CheckpointRow>(c)
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct CheckpointRow {
    /// Frames in the WAL (-1 when the database is not in WAL mode).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
    /// Frames of it now in the database file (-1 likewise).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    checkpointed: i64,
}

impl CheckpointRow {
    /// The frames the checkpoint left uncopied (0 when not in WAL mode).
    fn left(&self) -> i64 {
        (self.log - self.checkpointed).max(0)
    }
}

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`], on a connection and a
/// thread of their own, until the writer is dropped.
///
/// With SQLite's default, the commit that takes the WAL past 1,000 pages checkpoints: it copies
/// them and syncs the WAL and the database file (the only syncs `synchronous = NORMAL` makes),
/// inside the writer's turn — which runs on an HTTP worker thread, so every connection of that
/// worker waited, several times a second under a steady stream of appends. Here each round is
/// two `PASSIVE` checkpoints on the checkpointer's thread (nice 10, so on a busy machine the
/// copying yields to requests): the first beside the writer, copying the bulk while appends go
/// on; the second between two batches (the checkpointer takes a turn on the writer like any
/// caller — asynchronously, no thread waits — and commits the batch it finds open, as that
/// batch's committer would a little later), copying the few pages left, so the whole WAL is in
/// the file and the next batch starts the WAL over instead of letting it grow. A page written
/// many times between two rounds is copied once.
///
/// The pass between two batches holds up every write until it ends. At ~8,000 appends/s
/// (`perf trace` on this thread) it synced the WAL (1-3 ms), copied what had been written
/// since the pass before it, and synced the database file: 14-17 ms, because SQLite syncs that
/// file only in a pass that copies the WAL's last frame, so that one sync carried every page
/// the round had copied. No response left for 20-28 ms every 200 ms (docs/operations.md). Now
/// the pass beside the writer repeats over what was written meanwhile, until at most
/// [`CATCH_UP_FRAMES`] are left or [`CATCH_UP_PASSES`] have run, and the checkpointer then
/// syncs the database file itself, still beside the writer; the sync in the turn covers only
/// the pages of the last pass (4-7 ms in the same trace).
fn start_checkpointer(writer: std::sync::Weak<SqliteWriter>, path: String, setup: String) {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    // Each ask gets the frames the pass left uncopied (0 after a sync), or `None` when it
    // failed.
    let (ask, asked) =
        std::sync::mpsc::channel::<(Ask, tokio::sync::oneshot::Sender<Option<i64>>)>();
    let run = move || {
        #[cfg(target_os = "linux")]
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
        let mut conn: Option<SqliteConnection> = None;
        // Ends when the task below is gone (the writer was dropped, or its runtime stopped).
        while let Ok((what, done)) = asked.recv() {
            if what == Ask::SyncFile {
                let _ = done.send(sync_file(&path).then_some(0));
                continue;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => {
                    let opened = SqliteConnection::establish(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|mut c| {
                            c.batch_execute(&setup)
                                .map(|()| c)
                                .map_err(|e| e.to_string())
                        });
                    match opened {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            tracing::warn!(error = %e, "SQLite checkpointer cannot connect");
                            let _ = done.send(None);
                            continue;
                        }
                    }
                }
            };
            let left = match passive_checkpoint(c) {
                Ok(row) => Some(row.left()),
                Err(e) => {
                    // Tried again at the next round, on a new connection.
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                    conn = None;
                    None
                }
            };
            let _ = done.send(left);
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(run)
    {
        tracing::warn!(error = %e, "SQLite checkpointer not started: commits checkpoint past the backstop");
        return;
    }
    // A pass's outcome: `None` when the checkpointer's thread is gone (then the task ends),
    // else the frames it left uncopied (`None` when it failed).
    let checkpoint = move |what: Ask| {
        let (done, finished) = tokio::sync::oneshot::channel();
        let sent = ask.send((what, done)).is_ok();
        async move { if sent { finished.await.ok() } else { None } }
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if writer.strong_count() == 0 {
                return;
            }
            // Beside the writer: the bulk, then what was written meanwhile, until little is left.
            for _ in 0..CATCH_UP_PASSES {
                match checkpoint(Ask::Pass).await {
                    None => return,
                    Some(Some(left)) if left > CATCH_UP_FRAMES => {}
                    Some(_) => break,
                }
            }
            // The pages those passes wrote reach the disk now, beside the writer: SQLite syncs
            // the database file only in the pass that copies the WAL's last frame, which is the
            // one between two batches, and there that sync took 14-17 ms for a round's pages.
            // (Synced even when the last pass here left nothing: skipping it then brought the
            // long stalls back, docs/operations.md.)
            if checkpoint(Ask::SyncFile).await.is_none() {
                return;
            }
            let Some(w) = writer.upgrade() else {
                return;
            };
            let mut state = w.state.lock().await;
            // Under a steady stream of appends a batch is nearly always open when this turn
            // comes: commit it here (as its committer would, a little earlier) so the pass runs
            // between two batches. Skipping it instead left the WAL growing to the backstop,
            // whose checkpoint then ran inside a commit with up to a round of frames to copy.
            SqliteWriter::finish_step(&mut state).await;
            let _ = SqliteWriter::commit(&mut state).await;
            if state.batch.is_none()
                && state.step == Step::Idle
                && checkpoint(Ask::Pass).await.is_none()
            {
                return;
            }
            drop(state);
        }
    });
}

#[derive(Default)]
struct State {
    /// The dedicated connection, opened on first use.
    conn: Option<WriterConn>,
    /// The open transaction, if any.
    batch: Option<Batch>,
    /// The id of the next batch.
    next_batch: u64,
    /// What the holder of the connection was doing. A caller that goes away (its request was
    /// dropped) leaves it set, and the next holder finishes or undoes that step first.
    step: Step,
}

/// A step on the connection that a dropped caller may leave half done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Step {
    /// Nothing under way.
    #[default]
    Idle,
    /// `BEGIN IMMEDIATE` of a new batch.
    Begin,
    /// One caller's writes, inside `SAVEPOINT job`.
    Job,
    /// The batch's `COMMIT`.
    Commit,
}

struct Batch {
    id: u64,
    done: watch::Sender<Outcome>,
    /// A committer task is queued behind the waiters that joined this batch.
    committer: bool,
}

/// Counts its holder among the waiters until it has the lock (or is dropped while waiting).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A state the writer never leaves behind: a batch without a connection.
const LOST: &str = "the SQLite writer lost its connection";

fn broken() -> DbError {
    DbError(AppError::internal(LOST))
}

fn failed(e: diesel::result::Error) -> DbError {
    DbError(AppError::internal_from("SQLite write transaction", e))
}

/// SQLite's answer to COMMIT or ROLLBACK when there is no transaction (any more).
fn no_transaction(e: &diesel::result::Error) -> bool {
    e.to_string().contains("no transaction is active")
}

/// How a caller's turn ended.
enum Turn<T> {
    /// With this result (committed, or failed).
    Done(Result<T, DbError>),
    /// Its writes are in a batch that others commit; the value holds once that commits.
    Joined(T, watch::Receiver<Outcome>),
}

impl SqliteWriter {
    /// A writer for the database file at `path`; `setup` runs on its connection when opened.
    pub(crate) fn new(path: String, setup: String) -> Self {
        Self {
            path,
            setup,
            state: Mutex::default(),
            waiting: AtomicUsize::new(0),
            checkpointing: AtomicBool::new(false),
        }
    }

    async fn open(self: &Arc<Self>) -> Result<WriterConn, DbError> {
        let mut conn = WriterConn::establish(&self.path).await.map_err(|e| {
            DbError(AppError::unavailable(format!(
                "cannot open the SQLite writer's connection: {e}"
            )))
        })?;
        conn.batch_execute(&self.setup).await.map_err(failed)?;
        // Checkpoints run in the background (see `start_checkpointer`); the writer's own commit
        // checkpoints only past a backstop, if the background one falls behind.
        //
        // Every job runs in a savepoint of its batch, so SQLite keeps a statement journal (the
        // old content of each page the job changes, for `ROLLBACK TO`); past 64 KiB it goes to
        // a temporary file — ~80 KiB written to a file per append, beside the WAL.
        // `temp_store = MEMORY` keeps it (and the writer's other temporary tables) in memory.
        conn.batch_execute(&format!(
            "PRAGMA wal_autocheckpoint = {BACKSTOP_WAL_PAGES}; PRAGMA temp_store = MEMORY;"
        ))
        .await
        .map_err(failed)?;
        if !self.checkpointing.swap(true, Ordering::Relaxed) {
            start_checkpointer(Arc::downgrade(self), self.path.clone(), self.setup.clone());
        }
        Ok(conn)
    }

    /// Runs `body` as (part of) a write transaction on the writer's connection and returns its
    /// result once its writes are committed. An error from `body` rolls back its own writes only.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, body: F) -> Result<T, DbError>
    where
        F: AsyncFnOnce(&mut WriterConn) -> Result<T, DbError>,
    {
        let mut state = {
            let _waiting = Waiting::enter(&self.waiting);
            self.state.lock().await
        };
        let turn = self.turn(&mut state, body).await;
        drop(state);
        match turn {
            Turn::Done(result) => result,
            Turn::Joined(value, mut done) => {
                match done.wait_for(Option::is_some).await.map(|o| o.clone()) {
                    Ok(Some(Ok(()))) => Ok(value),
                    Ok(Some(Err(e))) => Err(DbError(AppError::internal(e))),
                    _ => Err(DbError(AppError::internal(
                        "the SQLite write batch ended without an outcome",
                    ))),
                }
            }
        }
    }

    /// One caller's turn with the connection: its writes in a savepoint of the open batch, then
    /// either the commit (no one waiting) or a place in the batch (others will commit it).
    async fn turn<T, F>(self: &Arc<Self>, state: &mut MutexGuard<'_, State>, body: F) -> Turn<T>
    where
        F: AsyncFnOnce(&mut WriterConn) -> Result<T, DbError>,
    {
        if state.conn.is_none() {
            match self.open().await {
                Ok(conn) => state.conn = Some(conn),
                Err(e) => return Turn::Done(Err(e)),
            }
        }
        Self::finish_step(state).await;
        if state.batch.is_none()
            && let Err(e) = Self::begin(state).await
        {
            return Turn::Done(Err(e));
        }
        state.step = Step::Job;
        let Some(conn) = state.conn.as_mut() else {
            return Turn::Done(Err(broken()));
        };
        if let Err(e) = conn.batch_execute("SAVEPOINT job").await {
            return Turn::Done(Err(failed(e)));
        }
        let result = body(conn).await;
        let closed = match &result {
            Ok(_) => conn.batch_execute("RELEASE job").await,
            Err(_) => conn.batch_execute("ROLLBACK TO job; RELEASE job").await,
        };
        if let Err(e) = closed {
            // Left at `Job`: the next turn undoes this one's writes, if any are left.
            return Turn::Done(Err(failed(e)));
        }
        state.step = Step::Idle;
        if self.waiting.load(Ordering::SeqCst) == 0 {
            // No one is queued to join: commit now, for this caller and those that joined.
            let committed = Self::commit(state).await;
            return Turn::Done(match (result, committed) {
                (Ok(v), Ok(())) => Ok(v),
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(DbError(AppError::internal(e))),
            });
        }
        let Some(batch) = state.batch.as_mut() else {
            return Turn::Done(Err(broken()));
        };
        let done = batch.done.subscribe();
        if !batch.committer {
            // Whoever is last of those queued commits; should they all go away, this does.
            batch.committer = true;
            let writer = Arc::clone(self);
            let id = batch.id;
            tokio::spawn(async move {
                let mut state = writer.state.lock().await;
                Self::finish_step(&mut state).await;
                if state.batch.as_ref().is_some_and(|b| b.id == id) {
                    let _ = Self::commit(&mut state).await;
                }
            });
        }
        match result {
            Ok(value) => Turn::Joined(value, done),
            Err(e) => Turn::Done(Err(e)),
        }
    }

    async fn begin(state: &mut MutexGuard<'_, State>) -> Result<(), DbError> {
        state.step = Step::Begin;
        let conn = state.conn.as_mut().ok_or_else(broken)?;
        conn.batch_execute("BEGIN IMMEDIATE")
            .await
            .map_err(failed)?;
        state.next_batch += 1;
        state.batch = Some(Batch {
            id: state.next_batch,
            done: watch::channel(None).0,
            committer: false,
        });
        state.step = Step::Idle;
        Ok(())
    }

    /// Commits the open batch and tells everyone in it how it went.
    async fn commit(state: &mut MutexGuard<'_, State>) -> Result<(), String> {
        if state.batch.is_none() {
            return Ok(());
        }
        let recovering = state.step == Step::Commit;
        state.step = Step::Commit;
        let outcome = match state.conn.as_mut() {
            None => Err(LOST.to_owned()),
            Some(conn) => match conn.batch_execute("COMMIT").await {
                Ok(()) => Ok(()),
                // A COMMIT of a caller that went away had already gone through.
                Err(e) if recovering && no_transaction(&e) => Ok(()),
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK").await;
                    Err(format!("SQLite commit failed: {e}"))
                }
            },
        };
        if let Some(batch) = state.batch.take() {
            batch.done.send_replace(Some(outcome.clone()));
        }
        state.step = Step::Idle;
        outcome
    }

    /// Finishes or undoes what a caller that went away left half done, so the connection is
    /// back in a known state: a `BEGIN` is rolled back (its batch was never recorded), a
    /// caller's writes are rolled back to their savepoint (the others in the batch keep theirs;
    /// if its savepoint was already released, its writes are whole and stay), and a `COMMIT`
    /// is completed (or found completed) and reported to the batch.
    async fn finish_step(state: &mut MutexGuard<'_, State>) {
        let undo = match state.step {
            Step::Idle => return,
            Step::Begin => "ROLLBACK",
            Step::Job => "ROLLBACK TO job; RELEASE job",
            Step::Commit => {
                let _ = Self::commit(state).await;
                return;
            }
        };
        if let Some(conn) = state.conn.as_mut() {
            let _ = conn.batch_execute(undo).await;
        }
        state.step = Step::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Frames in the WAL now: `mxFrame` of the WAL index's header, at byte 16 of the `-shm`
    /// file (native byte order).
    fn wal_frames(db: &str) -> u32 {
        let shm = std::fs::read(format!("{db}-shm")).unwrap_or_default();
        shm.get(16..20)
            .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()))
    }

    /// Under writes that never pause (a batch is open nearly all the time), the checkpointer's
    /// second pass still gets its turn between two batches, so the WAL starts over round after
    /// round well before the backstop (whose checkpoint runs inside a commit). Before, the pass
    /// was skipped whenever a batch was open, and under such writes the WAL started over only at
    /// the backstop. What is counted is restarts from below the backstop, not the largest WAL
    /// seen: a checkpointer kept off the CPU for a while (a loaded machine) may let the WAL reach
    /// the backstop now and then, which the backstop is there for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_writes_that_never_pause() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db").to_string_lossy().into_owned();
        let writer = Arc::new(SqliteWriter::new(
            db.clone(),
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                .into(),
        ));
        writer
            .run(async |c| {
                c.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
                    .await
                    .map_err(failed)
            })
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (writer, stop, written) = (writer.clone(), stop.clone(), written.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        writer
                            .run(async |c| {
                                c.batch_execute(
                                    "INSERT INTO t (body) VALUES (hex(randomblob(1000)))",
                                )
                                .await
                                .map_err(failed)
                            })
                            .await
                            .unwrap();
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Watch the WAL while the writers go on: count the times it starts over (its frame
        // count drops) from below the backstop, and those from the backstop. Bounded by rows
        // written, not by time.
        let (mut early, mut at_backstop, mut peak, mut last) = (0, 0, 0, 0);
        while early < 5 && written.load(Ordering::Relaxed) < 300_000 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let frames = wal_frames(&db);
            if frames < last {
                if peak < BACKSTOP_WAL_PAGES {
                    early += 1;
                } else {
                    at_backstop += 1;
                }
                peak = 0;
            }
            peak = peak.max(frames);
            last = frames;
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        assert!(
            early >= 5,
            "the WAL started over {early} times below the backstop ({BACKSTOP_WAL_PAGES} frames) \
             and {at_backstop} times at it, in {} writes",
            written.load(Ordering::Relaxed)
        );
    }

    /// A pass tells what it left uncopied (the catch-up passes stop on it): the frames a
    /// reader's snapshot holds back, then none.
    #[test]
    fn a_checkpoint_pass_tells_the_frames_it_left() {
        use diesel::Connection as _;
        use diesel::connection::SimpleConnection as _;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db").to_string_lossy().into_owned();
        let mut writer = SqliteConnection::establish(&db).unwrap();
        writer
            .batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (body TEXT NOT NULL); \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
                 INSERT INTO t SELECT hex(randomblob(2000)) FROM n;",
            )
            .unwrap();
        let frames = wal_frames(&db) as i64;
        assert!(frames > 100, "the inserts left {frames} frames in the WAL");
        // A reader holding a snapshot from before more writes keeps the pass from copying those.
        let mut reader = SqliteConnection::establish(&db).unwrap();
        reader
            .batch_execute("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        writer
            .batch_execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
                 INSERT INTO t SELECT hex(randomblob(2000)) FROM n;",
            )
            .unwrap();
        let mut checkpointer = SqliteConnection::establish(&db).unwrap();
        let row = passive_checkpoint(&mut checkpointer).unwrap();
        assert_eq!(row.log, wal_frames(&db) as i64);
        assert!(
            row.checkpointed >= frames && row.checkpointed < row.log,
            "{frames} frames before the reader's snapshot, {} in the WAL, {} copied",
            row.log,
            row.checkpointed
        );
        assert_eq!(row.left(), row.log - row.checkpointed);
        reader.batch_execute("COMMIT;").unwrap();
        let row = passive_checkpoint(&mut checkpointer).unwrap();
        assert_eq!(row.checkpointed, row.log, "nothing holds the rest back now");
        assert_eq!(row.left(), 0);
    }
}
