//! Raw SQL that each connection prepares once and then reuses.
//!
//! `diesel::sql_query` marks its text unsafe to cache (it may be built from anything), so every
//! execution prepares it again: one more round trip on PostgreSQL, one more parse on SQLite. The
//! statements here are fixed texts (a handful per query, chosen from constants), so they are
//! cached by their text and bind types in the connection's statement cache like diesel's own
//! queries. The text is written once with `?` placeholders for both backends: each `?` becomes
//! the backend's placeholder (`$n` on PostgreSQL) as the value is bound, in order.

use std::borrow::Cow;
use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A fixed SQL text with `?` placeholders, before its values are bound.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    text: Cow<'static, str>,
}

/// Starts a cached statement. `text` must come from a bounded set of texts (constants, or
/// constants joined): each distinct text stays prepared on every connection that ran it.
pub(crate) fn sql(text: impl Into<Cow<'static, str>>) -> Sql {
    Sql { text: text.into() }
}

/// `query` with one more value bound to its next placeholder.
#[derive(Debug, Clone)]
pub(crate) struct Bound<Q, ST, U> {
    query: Q,
    value: U,
    /// Which placeholder this value fills (0-based).
    index: usize,
    _type: PhantomData<ST>,
}

/// What every cached statement can do: give its text and bind the next value.
pub(crate) trait Bind: Sized {
    /// The SQL text, `?` placeholders included.
    fn text(&self) -> &str;
    /// Values bound so far.
    fn bound(&self) -> usize;

    /// Binds `value` as SQL type `ST` to the next placeholder.
    fn bind<ST, U>(self, value: U) -> Bound<Self, ST, U> {
        let index = self.bound();
        Bound {
            query: self,
            value,
            index,
            _type: PhantomData,
        }
    }
}

impl Bind for Sql {
    fn text(&self) -> &str {
        &self.text
    }

    fn bound(&self) -> usize {
        0
    }
}

impl<Q: Bind, ST, U> Bind for Bound<Q, ST, U> {
    fn text(&self) -> &str {
        self.query.text()
    }

    fn bound(&self) -> usize {
        self.index + 1
    }
}

/// The text between placeholder `n - 1` and placeholder `n` (`n = 0`: before the first).
fn segment(text: &str, n: usize) -> QueryResult<&str> {
    text.split('?').nth(n).ok_or_else(|| {
        diesel::result::Error::QueryBuilderError(
            format!("more values bound than placeholders in: {text}").into(),
        )
    })
}

impl<DB: Backend> QueryFragment<DB> for Sql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(segment(&self.text, 0)?);
        Ok(())
    }
}

impl<DB, Q, ST, U> QueryFragment<DB> for Bound<Q, ST, U>
where
    DB: Backend + HasSqlType<ST>,
    Q: QueryFragment<DB> + Bind,
    U: ToSql<ST, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_bind_param::<ST, U>(&self.value)?;
        out.push_sql(segment(self.query.text(), self.index + 1)?);
        Ok(())
    }
}

// No static query id: the statement cache keys these by their text and bind types.
impl QueryId for Sql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, ST, U> QueryId for Bound<Q, ST, U> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Sql {
    type SqlType = Untyped;
}

impl<Q, ST, U> Query for Bound<Q, ST, U> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{BigInt, Text};

    #[test]
    fn placeholders_become_each_backends_own() {
        let q = sql("SELECT ? AS a, x FROM t WHERE y = ?")
            .bind::<Text, _>("a")
            .bind::<BigInt, _>(2_i64);
        let pg = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(
            pg.starts_with("SELECT $1 AS a, x FROM t WHERE y = $2"),
            "{pg}"
        );
        let lite = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        assert!(
            lite.starts_with("SELECT ? AS a, x FROM t WHERE y = ?"),
            "{lite}"
        );
    }

    #[test]
    fn the_statement_is_safe_to_cache_and_keyed_by_its_text() {
        let q = sql("DELETE FROM t WHERE id = ?").bind::<Text, _>("x");
        assert!(<Bound<Sql, Text, &str> as QueryId>::query_id().is_none());
        let built = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        assert!(built.starts_with("DELETE FROM t WHERE id = ?"));
    }

    #[test]
    fn too_many_values_is_an_error_not_a_wrong_statement() {
        let q = sql("SELECT 1 WHERE a = ?")
            .bind::<Text, _>("a")
            .bind::<Text, _>("b");
        let mut builder = diesel::pg::PgQueryBuilder::default();
        let r = QueryFragment::<diesel::pg::Pg>::to_sql(&q, &mut builder, &diesel::pg::Pg);
        assert!(r.is_err());
    }
}
