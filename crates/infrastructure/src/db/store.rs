//! The SQL store: one type implementing every storage port over either backend. Each port's
//! implementation lives with its feature (`threads.rs`, `messages.rs`, `search.rs`,
//! `summaries.rs`, `replies.rs`, `usage.rs`, `accounts.rs`, `idempotency.rs`, `transfer.rs`);
//! this file holds the type, binding helpers and readiness.

use chat_threads_application::AppError;
use chat_threads_domain::{MessageId, ThreadId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::dialect::Dialect;
use super::error::DbError;
use super::pool::Database;
use super::tree_sql::*;
use super::types::DbUuid;
use super::types::sql::PUuid;

/// The store over a [`Database`]. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) db: Database,
    /// Where file bytes go when not in the database (`files.storage = "s3"`).
    pub(crate) objects: Option<crate::objects::ObjectBlobs>,
    /// Thread owners seen here (see [`super::members`]).
    pub(crate) owners: std::sync::Arc<super::members::OwnerCache>,
    /// Change feed outbox rows moved since it was last vacuumed (see [`super::feed`]).
    pub(crate) outbox: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The change feed writer's own connection (PostgreSQL).
    pub(crate) feed_conn: std::sync::Arc<super::feed::FeedConnection>,
    /// When `feed_events` is analyzed next (PostgreSQL; see [`super::feed`]).
    pub(crate) feed_stats: std::sync::Arc<super::feed::FeedStats>,
}

impl SqlStore {
    /// The connection pool's usage, for metrics.
    pub fn pool_usage(&self) -> super::PoolUsage {
        self.db.pool_usage()
    }

    /// How plain appends were committed in groups on PostgreSQL (`None` on SQLite).
    pub fn append_groups(&self) -> Option<super::AppendGroups> {
        self.db.append_groups()
    }

    /// A store over an open database.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            objects: None,
            owners: std::sync::Arc::default(),
            outbox: std::sync::Arc::default(),
            feed_conn: std::sync::Arc::default(),
            feed_stats: std::sync::Arc::default(),
        }
    }

    /// The same store with file bytes in an object store instead of the database.
    pub fn with_objects(mut self, objects: crate::objects::ObjectBlobs) -> Self {
        self.objects = Some(objects);
        self
    }

    /// The database underneath.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// A status (or other fixed word) written into the statement's text, where a bound value
/// would not do: a partial index (`... WHERE status = 'streaming'`) is only matched against a
/// constant — by SQLite, whose query planner never reads bound values here (its stability
/// guarantee is on: see `.cargo/config.toml`), and by PostgreSQL's generic plans of prepared
/// statements. `word` is a constant of this crate, never input.
pub(super) fn constant(
    word: &'static str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    debug_assert!(word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    diesel::dsl::sql(&format!("'{word}'"))
}

pub(super) fn db_id(id: impl Copy + Into<IdLike>) -> DbUuid {
    DbUuid(id.into().0)
}

/// Anything with a UUID inside, for binding.
pub(super) struct IdLike(uuid::Uuid);
impl From<ThreadId> for IdLike {
    fn from(id: ThreadId) -> Self {
        Self(id.as_uuid())
    }
}
impl From<MessageId> for IdLike {
    fn from(id: MessageId) -> Self {
        Self(id.as_uuid())
    }
}

impl chat_threads_application::Readiness for SqlStore {
    async fn check(&self) -> Result<(), AppError> {
        self.db.ping().await
    }
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}

impl SqlStore {
    /// The query plan of the first page of a thread's active path, `limit` messages (the
    /// statement of [`ActivePathQuery`]: EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on
    /// PostgreSQL). For benchmarks and operators.
    pub async fn explain_active_path(
        &self,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> Result<Vec<String>, AppError> {
        use diesel::query_builder::{QueryBuilder, QueryFragment};
        use diesel::sql_types::Nullable;
        let query = ActivePathQuery::new(scope, thread_id, i64::from(limit));
        let r: Result<Vec<String>, DbError> = with_conn!(self, |conn, dialect| {
            // The statement's text with its placeholders; the values are bound below, in the
            // order the statement takes them.
            let explain = match dialect {
                Dialect::Sqlite => {
                    let mut out = diesel::sqlite::SqliteQueryBuilder::new();
                    query.to_sql(&mut out, &diesel::sqlite::Sqlite)?;
                    format!("EXPLAIN QUERY PLAN {}", out.finish())
                }
                Dialect::Postgres => {
                    let mut out = diesel::pg::PgQueryBuilder::default();
                    query.to_sql(&mut out, &diesel::pg::Pg)?;
                    format!("EXPLAIN (ANALYZE, COSTS OFF) {}", out.finish())
                }
            };
            let explain = diesel::sql_query(explain)
                .bind::<PUuid, _>(query.thread)
                .bind::<Text, _>(query.owner.clone())
                .bind::<Nullable<Text>, _>(query.org.clone())
                .bind::<PUuid, _>(query.thread)
                .bind::<BigInt, _>(query.limit);
            Ok(match dialect {
                Dialect::Sqlite => {
                    let rows: Vec<SqlitePlanRow> = explain.load(conn).await?;
                    rows.into_iter().map(|r| r.detail).collect()
                }
                Dialect::Postgres => {
                    let rows: Vec<PgPlanRow> = explain.load(conn).await?;
                    rows.into_iter().map(|r| r.plan).collect()
                }
            })
        });
        Ok(r?)
    }
}
