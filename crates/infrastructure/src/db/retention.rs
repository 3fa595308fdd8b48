//! The sweeper's storage on both backends: bounded batches, each in its own short transaction;
//! on PostgreSQL one instance sweeps at a time (a transaction-level advisory lock).

use chat_threads_application::AppError;
use chat_threads_application::retention::{RetentionStore, Swept};
use chat_threads_domain::Timestamp;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use diesel::sql_types::Bool;

use super::conn::{AsConn, Conn};
use super::error::DbError;
use super::prepared::{self, Bind};
use super::schema::{messages, threads};
use super::store::SqlStore;
use super::types::{DbJson, DbTime, DbUuid};

/// The advisory lock key of the sweep (any fixed number; `ct` + "retention").
pub(super) const SWEEP_LOCK: i64 = 0x6374_7265_7465_6e74;

#[derive(QueryableByName)]
pub(super) struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub(super) locked: bool,
}

/// Whether this transaction may sweep: always on SQLite (one writer), on PostgreSQL when no
/// other instance's sweep holds the lock (it is released when the transaction ends).
pub(super) async fn sweep_lock(c: Conn<'_>) -> Result<bool, DbError> {
    with_conn!(on c, |conn, dialect| {
        if dialect == super::Dialect::Postgres {
            let l: Locked = prepared::sql("SELECT pg_try_advisory_xact_lock(?) AS locked")
                .bind::<diesel::sql_types::BigInt, _>(SWEEP_LOCK)
                .get_result(conn)
                .await?;
            Ok(l.locked)
        } else {
            Ok(true)
        }
    })
}

/// Erases the hidden content of these tombstones for good (with their revisions and their
/// files' references) and marks them erased; how many.
pub(super) async fn erase_tombstones(
    c: Conn<'_>,
    ids: &[DbUuid],
    now: Timestamp,
) -> Result<u64, DbError> {
    use super::schema::{message_files, message_revisions};
    if ids.is_empty() {
        return Ok(0);
    }
    with_conn!(on c, |conn, _d| {
        diesel::delete(message_revisions::table.filter(message_revisions::message_id.eq_any(ids)))
            .execute(conn)
            .await?;
        diesel::delete(message_files::table.filter(message_files::message_id.eq_any(ids)))
            .execute(conn)
            .await?;
        Ok(diesel::update(messages::table.filter(messages::id.eq_any(ids)))
            .set((
                messages::content.eq(""),
                messages::display_text.eq(None::<String>),
                messages::metadata.eq(DbJson(serde_json::json!({}))),
                messages::feedback_rating.eq(None::<String>),
                messages::feedback_text.eq(None::<String>),
                messages::reaction.eq(None::<String>),
                messages::attachments.eq(DbJson(serde_json::json!([]))),
                messages::parts.eq(DbJson(serde_json::json!([]))),
                messages::erased_at.eq(Some(DbTime(now))),
            ))
            .execute(conn)
            .await? as u64)
    })
}

/// The one rule of legal holds, as SQL over the thread aliased `t`: a hold on the thread
/// itself, or on its owner in its organization. The restore window's sweep and the retention
/// policies both leave such threads alone.
pub(super) fn held(t: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM legal_holds h WHERE h.thread_id = {t}.id \
         OR (h.principal = {t}.owner AND h.org_id = {t}.org_id))"
    )
}

/// Messages of threads under no legal hold.
static MESSAGE_NOT_HELD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = messages.thread_id AND {})",
        held("t")
    )
});

/// Threads under no legal hold.
static THREAD_NOT_HELD: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("NOT {}", held("threads")));

impl RetentionStore for SqlStore {
    async fn sweep_deleted(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
        batch: u32,
    ) -> Result<Swept, AppError> {
        let limit = i64::from(batch);
        let before = DbTime(cutoff);
        // Tombstones past the window: their hidden content goes, with its revisions and its
        // files' references (the files themselves go with the unreferenced-file sweep).
        let erased: Result<u64, DbError> = write_tx!(self, |conn, d| {
            if !sweep_lock(conn.any()).await? {
                return Ok(0);
            }
            let ids: Vec<DbUuid> = messages::table
                .filter(messages::tombstoned_at.lt(before))
                .filter(messages::erased_at.is_null())
                .filter(diesel::dsl::sql::<Bool>(&MESSAGE_NOT_HELD))
                .order((messages::tombstoned_at.asc(), messages::id.asc()))
                .select(messages::id)
                .limit(limit)
                .load(conn)
                .await?;
            erase_tombstones(conn.any(), &ids, now).await
        });
        // Messages deleted with their subtree, past the window: the rows go (the rows below
        // them, deleted with them or before, go along: ON DELETE CASCADE).
        let removed: Result<u64, DbError> = write_tx!(self, |conn, d| {
            if !sweep_lock(conn.any()).await? {
                return Ok(0);
            }
            let ids: Vec<DbUuid> = messages::table
                .filter(messages::deleted_at.lt(before))
                .filter(diesel::dsl::sql::<Bool>(&MESSAGE_NOT_HELD))
                .order((messages::deleted_at.asc(), messages::id.asc()))
                .select(messages::id)
                .limit(limit)
                .load(conn)
                .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(
                diesel::delete(messages::table.filter(messages::id.eq_any(&ids)))
                    .execute(conn)
                    .await? as u64,
            )
        });
        // Soft-deleted threads past the window: gone with everything in them.
        let purged: Result<u64, DbError> = write_tx!(self, |conn, d| {
            if !sweep_lock(conn.any()).await? {
                return Ok(0);
            }
            let ids: Vec<DbUuid> = threads::table
                .filter(threads::deleted_at.lt(before))
                .filter(diesel::dsl::sql::<Bool>(&THREAD_NOT_HELD))
                .order((threads::deleted_at.asc(), threads::id.asc()))
                .select(threads::id)
                .limit(limit)
                .load(conn)
                .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(
                diesel::delete(threads::table.filter(threads::id.eq_any(&ids)))
                    .execute(conn)
                    .await? as u64,
            )
        });
        Ok(Swept {
            erased: erased?,
            messages: removed?,
            threads: purged?,
        })
    }
}
