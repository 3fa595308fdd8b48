//! The change feed on both backends: appended in commit order, read per owner or organization
//! after a cursor, trimmed by its retention.

use std::collections::HashMap;

use chat_threads_application::AppError;
use chat_threads_application::feed::{FeedEntry, FeedFilter, FeedScope, FeedStore, NewFeedEvent};
use chat_threads_domain::{MessageId, OrgId, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::dialect::Dialect;
use super::error::DbError;
use super::prepared::{Bind as _, Bound, Sql, sql};
use super::schema::{feed_events, feed_floor, threads};
use super::store::SqlStore;
use super::types::sql::{PTime, PUuid};
use super::types::{DbTime, DbUuid};
use diesel::sql_types::{Integer, Nullable, Text};

#[derive(Debug, Insertable)]
#[diesel(table_name = feed_events)]
struct NewRow<'a> {
    at: DbTime,
    thread_id: DbUuid,
    owner: &'a str,
    org_id: Option<&'a str>,
    product: Option<&'a str>,
    kind: &'a str,
    reply_id: Option<DbUuid>,
    data: &'a str,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = feed_events)]
struct Row {
    seq: i64,
    at: DbTime,
    thread_id: DbUuid,
    owner: String,
    org_id: Option<String>,
    product: Option<String>,
    kind: String,
    reply_id: Option<DbUuid>,
    data: String,
}

impl From<Row> for FeedEntry {
    fn from(r: Row) -> Self {
        FeedEntry {
            cursor: r.seq,
            at: r.at.0,
            thread_id: ThreadId::from_uuid(r.thread_id.0),
            owner: r.owner,
            org_id: r.org_id.map(OrgId::from_stored),
            product: r.product,
            kind: r.kind,
            reply_id: r.reply_id.map(|m| MessageId::from_uuid(m.0)),
            data: r.data,
        }
    }
}

type Owners = HashMap<uuid::Uuid, (String, Option<String>, Option<String>)>;

/// SQLite: the entry goes straight into the log (one writer: the order it is written in is the
/// commit order), with its thread's owner, organization and product.
const KEEP_SQLITE: &str = "INSERT INTO feed_events \
     (at, kind, reply_id, data, thread_id, owner, org_id, product) \
     SELECT ?, ?, ?, ?, id, owner, org_id, product FROM threads WHERE id = ?";

/// PostgreSQL: the entry goes to the outbox; `ct_append_feed` gives it its cursor in commit
/// order (migration 000030).
const KEEP_PG: &str = "INSERT INTO feed_outbox \
     (at, kind, reply_id, data, thread_id, owner, org_id, product) \
     SELECT ?, ?, ?, ?, id, owner, org_id, product FROM threads WHERE id = ?";

/// The statement [`keep`] makes: five values bound to a fixed text.
pub(super) type Keep<'a> = Bound<
    Bound<
        Bound<Bound<Bound<Sql, PTime, DbTime>, Text, &'a str>, Nullable<PUuid>, Option<DbUuid>>,
        Text,
        &'a str,
    >,
    PUuid,
    DbUuid,
>;

/// Writes a change feed entry inside the transaction of the change it reports (run it with
/// `.execute(conn)` in a `write_tx!` body): the change and its entry commit together.
pub(super) fn keep(dialect: Dialect, e: &NewFeedEvent) -> Keep<'_> {
    let text = match dialect {
        Dialect::Sqlite => KEEP_SQLITE,
        Dialect::Postgres => KEEP_PG,
    };
    sql(text)
        .bind::<PTime, _>(DbTime(e.at))
        .bind::<Text, _>(e.kind)
        .bind::<Nullable<PUuid>, _>(e.reply_id.map(|m| DbUuid(m.as_uuid())))
        .bind::<Text, _>(e.data.as_str())
        .bind::<PUuid, _>(DbUuid(e.thread_id.as_uuid()))
}

/// Runs a store block with its error type pinned to [`DbError`], so `?` and `return` inside it
/// end the block, not the transaction around it: how a write computes its result before
/// keeping the entries its report makes of it.
pub(super) async fn block<T>(f: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
    f.await
}

/// Moves this many outbox rows between two vacuums of it (PostgreSQL): every row is inserted
/// and soon deleted, and autovacuum may be off or slow to come. The vacuum never truncates the
/// table (migration 000031: that took a lock every append waits for, and waited seconds for it).
const VACUUM_EVERY: u64 = 5_000;

/// Entries stored before `feed_events` is first analyzed by this process (PostgreSQL); after
/// that, a tenth of the rows the last ANALYZE counted (autovacuum's own rule, 10 %).
const ANALYZE_FIRST: u64 = 1_000;

/// When `feed_events` is analyzed next (PostgreSQL). The log grows from empty to millions of
/// rows, and a statement's generic plan keeps the table size it was planned with: planned
/// while the log was small, the live tail's read stayed a sequential scan of the whole table
/// (in the HTTP benchmark's second round of appends, 150-280 ms a read and a feed lag of
/// 0.2-0.6 s, docs/operations.md). An ANALYZE updates the statistics and makes every cached
/// plan on the table be planned again; autovacuum does it when on, the feed writer does it
/// itself as the log grows, as it vacuums the outbox (autovacuum may be off or behind).
#[derive(Debug, Default)]
pub(crate) struct FeedStats {
    /// Entries stored since the last ANALYZE was started.
    grown: std::sync::atomic::AtomicU64,
    /// Entries after which the next one starts (0: [`ANALYZE_FIRST`]).
    due: std::sync::atomic::AtomicU64,
    /// An ANALYZE is running.
    running: std::sync::atomic::AtomicBool,
}

/// How many rows an ANALYZE found.
#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl SqlStore {
    /// Counts `n` more entries in the log and, once enough have come since the last time,
    /// analyzes `feed_events` in a task of its own (the feed writer does not wait for it).
    fn feed_grew(&self, n: u64) {
        use std::sync::atomic::{AtomicU64, Ordering};
        let stats = &self.feed_stats;
        let grown = stats.grown.fetch_add(n, Ordering::Relaxed) + n;
        // (Qualified: diesel's `RunQueryDsl::load` would be taken for `.load` here.)
        let due = AtomicU64::load(&stats.due, Ordering::Relaxed).max(ANALYZE_FIRST);
        if grown < due || stats.running.swap(true, Ordering::AcqRel) {
            return;
        }
        stats.grown.store(0, Ordering::Relaxed);
        let store = self.clone();
        tokio::spawn(async move {
            let r: Result<i64, DbError> = with_conn!(store, |conn, _d| {
                use diesel_async::SimpleAsyncConnection as _;
                conn.batch_execute("ANALYZE feed_events").await?;
                Ok(sql("SELECT reltuples::bigint AS n FROM pg_class \
                        WHERE oid = 'feed_events'::regclass")
                .get_result::<Rows>(conn)
                .await?
                .n)
            });
            let stats = &store.feed_stats;
            match r {
                Ok(rows) => stats.due.store(
                    (u64::try_from(rows).unwrap_or(0) / 10).max(ANALYZE_FIRST),
                    Ordering::Relaxed,
                ),
                Err(e) => {
                    tracing::warn!(cause = %e.0.chain(), "analyzing the change feed failed");
                }
            }
            stats.running.store(false, Ordering::Release);
        });
    }

    /// PostgreSQL: the whole batch in one statement, `ct_append_feed` (migration 000030): the
    /// advisory lock held to its commit (cursors in commit order across instances), the outbox
    /// moved, owners looked up, entries inserted in order, other instances woken — one round
    /// trip, on the feed writer's own connection ([`FeedConnection`]).
    async fn append_feed_pg(&self, events: &[NewFeedEvent]) -> Result<(), AppError> {
        let entries: Vec<serde_json::Value> = events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "thread_id": e.thread_id.as_uuid(),
                    "kind": e.kind,
                    "reply_id": e.reply_id.map(|m| m.as_uuid()),
                    "data": e.data,
                })
            })
            .collect();
        let entries = serde_json::Value::Array(entries).to_string();
        let mut slot = self.feed_conn.0.lock().await;
        let conn = match &mut *slot {
            Some(conn) => conn,
            None => {
                let opened = AsyncPgConnection::establish(self.db.url().expose())
                    .await
                    .map_err(|e| AppError::unavailable_from("the change feed's connection", e))?;
                slot.insert(opened)
            }
        };
        let r = sql("SELECT ct_append_feed(CAST(? AS jsonb)) AS n")
            .bind::<Text, _>(entries.as_str())
            .get_result::<Stored>(conn)
            .await;
        let stored = match r {
            Ok(s) => s.n,
            Err(e) => {
                // Opened again at the next call: the error may have been the connection's.
                *slot = None;
                return Err(DbError::from(e).0);
            }
        };
        drop(slot);
        self.outbox_moved(stored).await;
        Ok(())
    }

    /// Counts the entries the feed's statements stored (those moved out of the outbox and a
    /// batch's own, which the statements count together), vacuums the outbox every
    /// [`VACUUM_EVERY`] of them (a failure is only logged: the next one tries again) and
    /// analyzes the log as it grows ([`FeedStats`]).
    async fn outbox_moved(&self, n: i32) {
        use std::sync::atomic::Ordering;
        let n = u64::try_from(n).unwrap_or(0);
        if n > 0 {
            self.feed_grew(n);
        }
        let before = self.outbox.fetch_add(n, Ordering::Relaxed);
        if before + n < VACUUM_EVERY {
            return;
        }
        self.outbox.store(0, Ordering::Relaxed);
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            use diesel_async::SimpleAsyncConnection as _;
            conn.batch_execute("VACUUM feed_outbox").await?;
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!(cause = %e.0.chain(), "vacuuming the change feed's outbox failed");
        }
    }
}

/// PostgreSQL: the feed writer's own connection. Its moves of the outbox must not wait in the
/// pool's queue behind the very requests whose entries they move (under load that queue is as
/// long as the requests in flight); opened on first use, opened again after an error.
#[derive(Default)]
pub(crate) struct FeedConnection(tokio::sync::Mutex<Option<AsyncPgConnection>>);

impl std::fmt::Debug for FeedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedConnection").finish_non_exhaustive()
    }
}

/// How many entries `ct_append_feed` / `ct_settle_feed` stored.
#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Integer)]
    n: i32,
}

impl FeedStore for SqlStore {
    async fn append_feed(&self, events: &[NewFeedEvent]) -> Result<(), AppError> {
        if self.db.dialect() == Dialect::Postgres {
            return self.append_feed_pg(events).await;
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<DbUuid> = events
            .iter()
            .map(|e| DbUuid(e.thread_id.as_uuid()))
            .collect();
        ids.sort_by_key(|u| u.0);
        ids.dedup_by_key(|u| u.0);
        // SQLite: one writer, so cursors follow commit order already; the batch in the writer's
        // transaction.
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            let found: Vec<(DbUuid, String, Option<String>, Option<String>)> = threads::table
                .filter(threads::id.eq_any(&ids))
                .select((
                    threads::id,
                    threads::owner,
                    threads::org_id,
                    threads::product,
                ))
                .load(conn)
                .await?;
            let owners: Owners = found
                .into_iter()
                .map(|(id, owner, org, product)| (id.0, (owner, org, product)))
                .collect();
            let rows: Vec<NewRow<'_>> = events
                .iter()
                .filter_map(|e| {
                    let (owner, org, product) = owners.get(&e.thread_id.as_uuid())?;
                    Some(NewRow {
                        at: DbTime(e.at),
                        thread_id: DbUuid(e.thread_id.as_uuid()),
                        owner,
                        org_id: org.as_deref(),
                        product: product.as_deref(),
                        kind: e.kind,
                        reply_id: e.reply_id.map(|m| DbUuid(m.as_uuid())),
                        data: &e.data,
                    })
                })
                .collect();
            // Row by row: in-process, so no round trips to save (diesel's SQLite inserts take
            // one row of optional values at a time).
            for row in &rows {
                diesel::insert_into(feed_events::table)
                    .values(row)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        });
        Ok(r?)
    }

    async fn settle_feed(&self) -> Result<(), AppError> {
        if self.db.dialect() != Dialect::Postgres {
            return Ok(());
        }
        let r: Result<i32, DbError> = with_conn!(self, |conn, _d| {
            Ok(sql("SELECT ct_settle_feed() AS n")
                .get_result::<Stored>(conn)
                .await?
                .n)
        });
        self.outbox_moved(r?).await;
        Ok(())
    }

    async fn read_feed(
        &self,
        scope: &FeedScope,
        filter: &FeedFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, AppError> {
        let r: Result<Vec<FeedEntry>, DbError> = with_conn!(self, |conn, _d| {
            let mut q = feed_events::table
                .filter(feed_events::seq.gt(after))
                .select(Row::as_select())
                .into_boxed();
            q = match scope {
                FeedScope::Owner(o) => q.filter(feed_events::owner.eq(o.as_str())),
                FeedScope::Org(org) => q.filter(feed_events::org_id.eq(org.as_str())),
            };
            if !filter.types.is_empty() {
                q = q.filter(feed_events::kind.eq_any(&filter.types));
            }
            if let Some(t) = filter.thread_id {
                q = q.filter(feed_events::thread_id.eq(DbUuid(t.as_uuid())));
            }
            if let Some(p) = &filter.product {
                q = q.filter(feed_events::product.eq(p.as_str()));
            }
            let rows: Vec<Row> = q
                .order(feed_events::seq.asc())
                .limit(i64::from(limit))
                .load(conn)
                .await?;
            Ok(rows.into_iter().map(FeedEntry::from).collect())
        });
        Ok(r?)
    }

    async fn feed_floor(&self) -> Result<i64, AppError> {
        let r: Result<i64, DbError> = with_conn!(self, |conn, _d| {
            Ok(feed_floor::table
                .select(feed_floor::seq)
                .first::<i64>(conn)
                .await
                .optional()?
                .unwrap_or(0))
        });
        Ok(r?)
    }

    async fn feed_head(&self) -> Result<i64, AppError> {
        let r: Result<i64, DbError> = with_conn!(self, |conn, _d| {
            Ok(feed_events::table
                .select(diesel::dsl::max(feed_events::seq))
                .first::<Option<i64>>(conn)
                .await?
                .unwrap_or(0))
        });
        let head = r?;
        Ok(head.max(self.feed_floor().await?))
    }

    async fn purge_feed(&self, cutoff: Timestamp, batch: u32) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            let seqs: Vec<i64> = feed_events::table
                .filter(feed_events::at.lt(DbTime(cutoff)))
                .order(feed_events::seq.asc())
                .select(feed_events::seq)
                .limit(i64::from(batch))
                .load(conn)
                .await?;
            let Some(&last) = seqs.last() else {
                return Ok(0);
            };
            diesel::update(feed_floor::table.filter(feed_floor::seq.lt(last)))
                .set(feed_floor::seq.eq(last))
                .execute(conn)
                .await?;
            Ok(
                diesel::delete(feed_events::table.filter(feed_events::seq.le(last)))
                    .execute(conn)
                    .await? as u64,
            )
        });
        Ok(r?)
    }
}

#[cfg(test)]
mod tests {
    /// The advisory lock `ct_append_feed` holds to its commit ("ctfeed"), so cursors are
    /// assigned in commit order: a reader never sees a cursor before a lower one commits.
    const APPEND_LOCK: i64 = 0x6374_6665_6564;

    /// The notification `ct_append_feed` sends so other instances' tailing readers know the
    /// feed grew (the event listener recognises it by its `feed` key; see bus.rs).
    const GREW: &str = r#"{"feed":1}"#;

    #[test]
    fn the_append_function_takes_the_feed_lock_and_wakes_the_bus() {
        let sql =
            include_str!("../../../../migrations/postgres/2026-12-06-000030_feed_outbox/up.sql");
        assert!(sql.contains(&format!("pg_advisory_xact_lock({APPEND_LOCK})")));
        assert!(sql.contains(&format!("pg_notify('{}', '{GREW}')", crate::bus::CHANNEL)));
    }
}
