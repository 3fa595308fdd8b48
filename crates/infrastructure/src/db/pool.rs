//! Connection pools for both backends, chosen from the database URL scheme.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chat_threads_application::AppError;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::FutureExt;

use super::dialect::Dialect;
use super::migrations::{self, Direction, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
use super::pg_pools::PgPools;

/// The SQLite connection type used by the pool.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Why the database could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL is not a usable `sqlite://` or `postgres://` URL.
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Unreachable(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The connections go through a pooler in a mode the service cannot use.
    #[error("unusable connection pooler: {0}")]
    Pooler(String),
}

/// A database URL. Its `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Parses `sqlite://path/to/file.db` (relative or, with a third slash, absolute) or
    /// `postgres://user:password@host:port/db` (also `postgresql://`).
    pub fn parse(raw: &str) -> Result<Self, SetupError> {
        let raw = raw.trim();
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(SetupError::BadUrl(
                    "sqlite URL has no file path (sqlite://./data/chat.db)".into(),
                ));
            }
            return Ok(Self {
                raw: raw.to_owned(),
                backend: Backend::Sqlite,
            });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let parsed = url::Url::parse(raw)
                .map_err(|e| SetupError::BadUrl(format!("{e} in {}", redact(raw))))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(SetupError::BadUrl(format!("no host in {}", redact(raw))));
            }
            return Ok(Self {
                raw: raw.to_owned(),
                backend: Backend::Postgres,
            });
        }
        Err(SetupError::BadUrl(format!(
            "unsupported scheme in {}: use sqlite://FILE or postgres://USER@HOST/DB",
            redact(raw)
        )))
    }

    /// The same database, with connections that tell PostgreSQL who they are
    /// (`application_name`), so other instances can see this instance is alive. SQLite URLs are
    /// returned as they are.
    pub fn with_application_name(&self, name: &str) -> Self {
        if self.backend != Backend::Postgres {
            return self.clone();
        }
        match url::Url::parse(&self.raw) {
            Ok(mut url) => {
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "application_name")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair("application_name", name);
                Self {
                    raw: url.to_string(),
                    backend: self.backend,
                }
            }
            Err(_) => self.clone(),
        }
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its secret, for the driver only.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The SQLite file path (SQLite URLs only).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let path = self
            .raw
            .strip_prefix("sqlite://")
            .or_else(|| self.raw.strip_prefix("sqlite:"))?;
        Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", redact(&self.raw))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.raw))
    }
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Maximum open connections.
    pub max_connections: usize,
    /// How long a request waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a lock before giving up (PRAGMA busy_timeout).
    pub sqlite_busy_timeout: Duration,
    /// When SQLite syncs the file to disk (PRAGMA synchronous).
    pub sqlite_synchronous: SqliteSynchronous,
    /// PostgreSQL: reads (statements outside a write transaction) running at once in this
    /// process; 0 is twice the cores the process may use. Writes use the whole pool.
    pub max_concurrent_reads: usize,
}

/// SQLite's `PRAGMA synchronous` in WAL mode: what a commit survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Syncs at checkpoints, not at every commit: a crash of the process loses nothing; a power
    /// loss or OS crash can lose the last commits (never corrupts the file). The default.
    #[default]
    Normal,
    /// Syncs the WAL at every commit: a commit survives a power loss too, at the price of one
    /// fsync per write transaction.
    Full,
}

impl SqliteSynchronous {
    /// The PRAGMA value.
    pub fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
            sqlite_synchronous: SqliteSynchronous::Normal,
            max_concurrent_reads: 0,
        }
    }
}

impl PoolOptions {
    /// How many PostgreSQL reads may run at once (`max_concurrent_reads`, 0: twice the cores).
    pub fn concurrent_reads(&self) -> usize {
        match self.max_concurrent_reads {
            0 => 2 * std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

/// How much of a SQLite file reads map into memory (`PRAGMA mmap_size`).
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

#[derive(Clone)]
pub(crate) enum Pools {
    /// The pool (reads, and single statements) and the one writer (write transactions).
    Sqlite(
        Pool<SqliteConn>,
        std::sync::Arc<super::writer::SqliteWriter>,
    ),
    Postgres(PgPools),
}

/// The database: a pool for the backend the URL names. Cloning shares the pool.
#[derive(Clone)]
pub struct Database {
    pub(crate) pools: Pools,
    url: DatabaseUrl,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

pub(crate) fn pool_error(e: PoolError) -> AppError {
    AppError::unavailable(pool_error_message(&e))
}

/// What [`pool_error`] says: the root cause ("Connection refused", "unable to open database
/// file") named, not just the pool's wrapper.
pub(crate) fn pool_error_message(e: &PoolError) -> String {
    let mut message = format!("no database connection: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Connections of the pool: handed out, and open but idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Checked out by a request or a task.
    pub in_use: usize,
    /// Open and waiting in the pool.
    pub idle: usize,
}

impl Database {
    /// Gives the calling thread (an HTTP worker, once, as it starts) a PostgreSQL pool of its
    /// own, while one is left (one per core); other threads share one. The statements of the
    /// requests it runs are then sent and answered on this thread ([`PgPools`]). Whether it
    /// got one (SQLite: nothing to claim, `false`).
    pub fn claim_thread_pool(&self) -> bool {
        match &self.pools {
            Pools::Sqlite(..) => false,
            Pools::Postgres(p) => p.claim(),
        }
    }

    /// How many connections are in use and idle right now.
    pub fn pool_usage(&self) -> PoolUsage {
        let status = match &self.pools {
            Pools::Sqlite(p, _) => p.status(),
            Pools::Postgres(p) => p.status(),
        };
        PoolUsage {
            in_use: status.size.saturating_sub(status.available),
            idle: status.available,
        }
    }

    /// How plain appends were committed in groups on PostgreSQL (`None` on SQLite, whose one
    /// writer groups every write, db/writer.rs).
    pub fn append_groups(&self) -> Option<super::AppendGroups> {
        match &self.pools {
            Pools::Sqlite(..) => None,
            Pools::Postgres(p) => Some(p.append_groups()),
        }
    }

    /// Opens a pool (creating the SQLite file and its folder if needed) and checks that one
    /// connection can be made, so a bad URL or a down server fails at start-up.
    pub async fn connect(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, SetupError> {
        let pools = match url.backend() {
            Backend::Sqlite => {
                if let Some(dir) = url.sqlite_path().as_deref().and_then(|p| p.parent())
                    && !dir.as_os_str().is_empty()
                {
                    {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            SetupError::Unreachable(format!("cannot create {}: {e}", dir.display()))
                        })?;
                    }
                }
                let busy_ms = options.sqlite_busy_timeout.as_millis();
                let synchronous = options.sqlite_synchronous.pragma();
                // Every connection (the pool's and the writer's) gets the same settings: WAL lets
                // readers run beside the writer, busy_timeout makes writers queue instead of
                // failing, foreign keys are off by default in SQLite, and `synchronous` is what a
                // commit survives (database.sqlite_synchronous). `mmap_size` lets reads take
                // pages straight from the file's mapping (shared by every connection, in the
                // OS page cache) instead of a read() into each connection's own page cache.
                // `busy_timeout` comes first: `journal_mode` takes a lock, and without the
                // timeout a connection opened while another holds one failed at once with
                // "database is locked" (seen as the checkpointer's warning when it opened its
                // connection during start-up).
                let setup = format!(
                    "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous}; \
                     PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
                );
                let pool_setup = setup.clone();
                let mut config = ManagerConfig::<SqliteConn>::default();
                // No `SELECT 1` at every checkout: on SQLite it is no round trip, but every
                // statement of the pool's connections runs on tokio's blocking threads, so the
                // probe cost each read a hop to another thread and back (~3 % of a page read's
                // CPU, and its wake-ups). A connection is never shared mid-statement (the
                // wrapper finishes a statement whose caller went away before the next one runs)
                // and a broken one is still dropped by diesel-async's `is_broken`.
                config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |url: &str| {
                    let url = url.to_owned();
                    let setup = pool_setup.clone();
                    async move {
                        let mut conn = SqliteConn::establish(&url).await?;
                        conn.batch_execute(&setup)
                            .await
                            .map_err(ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let path = url.sqlite_path().unwrap_or_default();
                let path = path.to_string_lossy().into_owned();
                // SQLite has one writer at a time: write transactions of this process run
                // through this one (first come, first served, queued ones committed together)
                // instead of polling the database lock with `busy_timeout` back-off, which made
                // write latency spike under load.
                let writer = super::writer::SqliteWriter::new(path.clone(), setup);
                let manager =
                    AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
                Pools::Sqlite(build_pool(manager, options)?, std::sync::Arc::new(writer))
            }
            Backend::Postgres => {
                super::pooler::refuse_transaction_pooling(url.expose()).await?;
                // No `SELECT 1` at every checkout (a round trip per request): a connection whose
                // server went away is closed on the client side, and diesel-async's
                // `is_broken` (checked when a connection goes back and before it is handed
                // out) drops it — a broken connection is detected by its error, not by a probe.
                let config = || {
                    let mut config = ManagerConfig::<AsyncPgConnection>::default();
                    config.recycling_method =
                        diesel_async::pooled_connection::RecyclingMethod::Fast;
                    config
                };
                Pools::Postgres(PgPools::new(url.expose(), options, config)?)
            }
        };
        let db = Self {
            pools,
            url: url.clone(),
        };
        db.ping()
            .await
            .map_err(|e| SetupError::Unreachable(format!("{url}: {e}")))?;
        Ok(db)
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The SQL dialect in use.
    pub fn dialect(&self) -> Dialect {
        match self.pools {
            Pools::Sqlite(..) => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The URL (redacted when printed).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs a trivial query; used by `/readyz`.
    pub async fn ping(&self) -> Result<(), AppError> {
        let q = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"));
        let one: i32 = match &self.pools {
            Pools::Sqlite(p, _) => q.get_result(&mut *p.get().await.map_err(pool_error)?).await,
            Pools::Postgres(p) => q.get_result(&mut *p.get().await.map_err(pool_error)?).await,
        }
        .map_err(super::error::classify)?;
        if one == 1 {
            Ok(())
        } else {
            Err(AppError::internal("SELECT 1 returned something else"))
        }
    }

    /// The effective settings of one pooled SQLite connection: `(journal_mode, foreign_keys,
    /// busy_timeout_ms, synchronous)`. `None` on PostgreSQL. For diagnostics and tests.
    pub async fn sqlite_settings(&self) -> Result<Option<(String, i64, i64, i64)>, AppError> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            foreign_keys: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            busy_timeout: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            synchronous: i64,
        }
        let Pools::Sqlite(pool, _) = &self.pools else {
            return Ok(None);
        };
        let mut conn = pool.get().await.map_err(pool_error)?;
        let row: Row = diesel::sql_query(
            "SELECT (SELECT journal_mode FROM pragma_journal_mode) AS journal_mode, \
             (SELECT foreign_keys FROM pragma_foreign_keys) AS foreign_keys, \
             (SELECT timeout FROM pragma_busy_timeout) AS busy_timeout, \
             (SELECT synchronous FROM pragma_synchronous) AS synchronous",
        )
        .get_result(&mut *conn)
        .await
        .map_err(super::error::classify)?;
        Ok(Some((
            row.journal_mode,
            row.foreign_keys,
            row.busy_timeout,
            row.synchronous,
        )))
    }

    /// Applies every pending migration. Returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<String>, SetupError> {
        self.run_migrations(Direction::Up).await
    }

    /// Reverts every applied migration (used by tests and `chat-threads migrate --revert-all`).
    pub async fn revert_all(&self) -> Result<Vec<String>, SetupError> {
        self.run_migrations(Direction::DownAll).await
    }

    async fn run_migrations(&self, direction: Direction) -> Result<Vec<String>, SetupError> {
        let url = self.url.clone();
        // diesel_migrations is synchronous: run it on a blocking thread with its own connection.
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || match url.backend() {
            Backend::Sqlite => {
                let path = url.sqlite_path().unwrap_or_default();
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(|e| SetupError::Unreachable(e.to_string()))?;
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .map_err(|e| SetupError::Unreachable(e.to_string()))?;
                migrations::run(&mut conn, MIGRATIONS_SQLITE, direction)
                    .map_err(SetupError::Migration)
            }
            Backend::Postgres => {
                let _guard = handle.enter();
                let mut conn =
                    <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(
                        url.expose(),
                    )
                    .map_err(|e| SetupError::Unreachable(e.to_string()))?;
                migrations::run(&mut conn, MIGRATIONS_POSTGRES, direction)
                    .map_err(SetupError::Migration)
            }
        })
        .await
        .map_err(|e| SetupError::Migration(format!("migration task failed: {e}")))?
    }
}

pub(super) fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    options: PoolOptions,
) -> Result<Pool<C>, SetupError>
where
    AsyncDieselConnectionManager<C>:
        deadpool::managed::Manager<Type = C, Error = diesel_async::pooled_connection::PoolError>,
{
    Pool::builder(manager)
        .max_size(options.max_connections.max(1))
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| SetupError::Unreachable(e.to_string()))
}
