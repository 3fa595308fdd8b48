//! Stamps of first pages of the active path on PostgreSQL
//! ([`chat_threads_application::messages::PathStamp`]): the `xmin` of the thread's row — the
//! transaction that wrote the version of the row a statement sees.
//!
//! Every write that can change what a page of the thread shows writes the thread's row: an
//! append, a branch switch, a delete or restore update it themselves, and every other write of
//! a message (feedback, a reaction, an edit, a reply's text, a tombstone, a sweep, an erasure)
//! bumps its `revision` through the `messages_changed_*` triggers (migration
//! `2026-12-08-000033_thread_versions`). A version never gets an `xmin` it had before, so the
//! same `xmin` means no such write committed since. The check is then one primary-key probe of
//! one row, and takes no lock. SQLite has no such column; its reads, in-process, cost about
//! what a check would.

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::MESSAGE_COLUMNS;
use super::prepared::{self, Bind};
use super::tree_sql::ActivePathQuery;
use super::types::sql::PUuid;

/// The thread row's version as a number (`xid` has no binary form diesel reads), in the
/// window's first step (`l`, which reads the thread's row for its active leaf).
const THREAD_XMIN: &str = "t.xmin::text::bigint";

/// [`ActivePathQuery`] with the thread's version after each row's columns: the page's read on
/// PostgreSQL, which gives the page's stamp with it, from the same snapshot.
#[derive(Debug, Clone, QueryId)]
pub(super) struct StampedPathQuery(pub ActivePathQuery);

impl QueryFragment<Pg> for StampedPathQuery {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        self.0.window_sql(
            out,
            &[MESSAGE_COLUMNS, "(SELECT v FROM l)"],
            Some(THREAD_XMIN),
        )
    }
}

impl Query for StampedPathQuery {
    type SqlType = (<ActivePathQuery as Query>::SqlType, BigInt);
}

/// The stamp alone: the version of the thread's row, when the scope reads the thread (the
/// same condition as [`ActivePathQuery`]'s).
const THREAD_VERSION: &str = "SELECT t.xmin::text::bigint AS v FROM threads t \
     WHERE t.id = ? AND t.deleted_at IS NULL AND (t.owner = ? OR t.org_id = ?)";

/// A row of [`THREAD_VERSION`].
#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// The version of the thread [`ActivePathQuery`] reads, `None` when the scope reads no such
/// live thread.
pub(super) async fn thread_version(
    conn: &mut AsyncPgConnection,
    query: &ActivePathQuery,
) -> diesel::QueryResult<Option<i64>> {
    let row: Option<Version> = diesel::OptionalExtension::optional(
        prepared::sql(THREAD_VERSION)
            .bind::<PUuid, _>(query.thread)
            .bind::<Text, _>(query.owner.as_str())
            .bind::<Nullable<Text>, _>(query.org.as_deref())
            .get_result(conn)
            .await,
    )?;
    Ok(row.map(|r| r.v))
}
