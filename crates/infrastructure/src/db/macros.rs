//! The two macros that expand one query body per backend.

use super::error::DbError;

/// Runs `$body` with a pooled connection `$conn` of whichever backend is configured; or, in
/// the `on` form, with the connection a helper was lent (a [`super::conn::Conn`]): one body,
/// expanded and type-checked once per connection type.
macro_rules! with_conn {
    (on $c:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match $c {
            $crate::db::conn::Conn::Sqlite($conn) => {
                let $dialect = $crate::db::Dialect::Sqlite;
                let _ = $dialect;
                $body
            }
            $crate::db::conn::Conn::Writer($conn) => {
                let $dialect = $crate::db::Dialect::Sqlite;
                let _ = $dialect;
                $body
            }
            $crate::db::conn::Conn::Postgres($conn) => {
                let $dialect = $crate::db::Dialect::Postgres;
                let _ = $dialect;
                $body
            }
        }
    }};
    ($store:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match &$store.db.pools {
            $crate::db::pool::Pools::Sqlite(pool, _) => {
                let span = $crate::spans::db_span("read", "sqlite", module_path!());
                $crate::db::macros::traced(span, async {
                    let mut pooled = pool
                        .get()
                        .await
                        .map_err(|e| $crate::db::DbError($crate::db::pool::pool_error(e)))?;
                    let $conn = &mut *pooled;
                    let $dialect = $crate::db::Dialect::Sqlite;
                    let _ = $dialect;
                    $body
                })
                .await
            }
            $crate::db::pool::Pools::Postgres(pool) => {
                let span = $crate::spans::db_span("read", "postgresql", module_path!());
                $crate::db::macros::traced(
                    span,
                    pool.reading(async {
                        let mut pooled = pool
                            .get()
                            .await
                            .map_err(|e| $crate::db::DbError($crate::db::pool::pool_error(e)))?;
                        let $conn = &mut *pooled;
                        let $dialect = $crate::db::Dialect::Postgres;
                        let _ = $dialect;
                        $body
                    }),
                )
                .await
            }
        }
    }};
}

/// Runs a store block in `span` (a database span when traces are exported, else none), its
/// error type pinned to [`DbError`], so `?` inside it stops there.
pub(crate) fn traced<T>(
    span: tracing::Span,
    f: impl Future<Output = Result<T, DbError>>,
) -> impl Future<Output = Result<T, DbError>> {
    tracing::Instrument::instrument(f, span)
}

/// Runs `$body` in a write transaction: on SQLite through the one writer (in a savepoint of a
/// `BEGIN IMMEDIATE` transaction it may share with writes queued beside it), an ordinary
/// transaction on PostgreSQL. Any error rolls everything back, so nothing is half-written.
macro_rules! write_tx {
    // A write that reports a change: `$report` (a `chat_threads_application::feed::Report`)
    // makes events of the body's result, and their change feed entries (at `$at`) are written
    // in the same transaction, after the body.
    ($store:expr, report($report:expr, $at:expr), |$conn:ident, $dialect:ident| $body:block) => {{
        let at = $at;
        let report = $report;
        write_tx!($store, |$conn, dialect| {
            let out = $crate::db::feed::block(async {
                let $dialect = dialect;
                let _ = $dialect;
                $body
            })
            .await?;
            for e in chat_threads_application::feed::reported(report, &out, at) {
                $crate::db::feed::keep(dialect, &e).execute($conn).await?;
            }
            Ok(out)
        })
    }};
    ($store:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match &$store.db.pools {
            $crate::db::pool::Pools::Sqlite(_, writer) => {
                // SQLite's one writer: writes take turns on its connection and share its
                // transactions (group commit, see db/writer.rs).
                let span = $crate::spans::db_span("write", "sqlite", module_path!());
                $crate::db::macros::traced(
                    span,
                    writer.run(async move |$conn| -> Result<_, $crate::db::DbError> {
                        let $dialect = $crate::db::Dialect::Sqlite;
                        let _ = $dialect;
                        $body
                    }),
                )
                .await
            }
            $crate::db::pool::Pools::Postgres(pool) => {
                let span = $crate::spans::db_span("write", "postgresql", module_path!());
                $crate::db::macros::traced(span, async {
                    let mut pooled = pool
                        .get()
                        .await
                        .map_err(|e| $crate::db::DbError($crate::db::pool::pool_error(e)))?;
                    pooled
                        .transaction(async move |$conn| -> Result<_, $crate::db::DbError> {
                            let $dialect = $crate::db::Dialect::Postgres;
                            let _ = $dialect;
                            $body
                        })
                        .await
                })
                .await
            }
        }
    }};
}
