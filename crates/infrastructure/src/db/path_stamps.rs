//! Stamps of first pages of the active path on PostgreSQL
//! ([`chat_threads_application::messages::PathStamp`]): the rows of the page's window, each with
//! its `xmin` — the transaction that wrote the version of the row a statement sees. Any change
//! to a row (an edit, feedback, a reaction, a delete or restore, a reply's text) writes a new
//! version with a new `xmin`, and a version never gets an `xmin` it had before, so the same
//! window (same leaf, same rows in the same order) with the same `xmin`s reads the same page.
//! Nothing is added to any write: the check reads what PostgreSQL keeps anyway, and takes no
//! lock. SQLite has no such column; its reads, in-process, cost what a check would.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;

use super::models::MESSAGE_COLUMNS;
use super::tree_sql::ActivePathQuery;
use super::types::sql::PUuid;

/// Each row's version as a number (`xid` has no binary form diesel reads).
const XMIN: &str = "m.xmin::text::bigint";

/// [`ActivePathQuery`] with each row's `xmin` after its columns: the page's read on
/// PostgreSQL, which gives the page's stamp with it.
#[derive(Debug, Clone, QueryId)]
pub(super) struct StampedPathQuery(pub ActivePathQuery);

impl QueryFragment<Pg> for StampedPathQuery {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        self.0.window_sql(out, &[MESSAGE_COLUMNS, XMIN])
    }
}

impl Query for StampedPathQuery {
    type SqlType = (<ActivePathQuery as Query>::SqlType, BigInt);
}

/// The stamp alone: the id and `xmin` of each row of [`ActivePathQuery`]'s window, newest
/// first — the same scan as the page's read, without the rows' columns.
#[derive(Debug, Clone, QueryId)]
pub(super) struct PathStampQuery(pub ActivePathQuery);

impl QueryFragment<Pg> for PathStampQuery {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        self.0.window_sql(out, &["m.id", XMIN])
    }
}

impl Query for PathStampQuery {
    type SqlType = (PUuid, BigInt);
}
