//! The two macros that expand one query body per backend.

use super::error::DbError;

/// Runs `$body` with a pooled connection `$conn` of whichever backend is configured.
macro_rules! with_conn {
    ($store:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match &$store.db.pools {
            $crate::db::pool::Pools::Sqlite(pool, _) => {
                $crate::db::macros::scoped(async {
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
                $crate::db::macros::scoped(async {
                    let mut pooled = pool
                        .get()
                        .await
                        .map_err(|e| $crate::db::DbError($crate::db::pool::pool_error(e)))?;
                    let $conn = &mut *pooled;
                    let $dialect = $crate::db::Dialect::Postgres;
                    let _ = $dialect;
                    $body
                })
                .await
            }
        }
    }};
}

/// Pins the error type of a store block to [`DbError`], so `?` inside it stops there.
pub(crate) fn scoped<T>(
    f: impl Future<Output = Result<T, DbError>>,
) -> impl Future<Output = Result<T, DbError>> {
    f
}

/// Runs `$body` in a write transaction: on SQLite through the one writer (in a savepoint of a
/// `BEGIN IMMEDIATE` transaction it may share with writes queued beside it), an ordinary
/// transaction on PostgreSQL. Any error rolls everything back, so nothing is half-written.
macro_rules! write_tx {
    ($store:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match &$store.db.pools {
            $crate::db::pool::Pools::Sqlite(_, writer) => {
                // SQLite's one writer: writes take turns on its connection and share its
                // transactions (group commit, see db/writer.rs).
                writer
                    .run(async move |$conn| -> Result<_, $crate::db::DbError> {
                        let $dialect = $crate::db::Dialect::Sqlite;
                        let _ = $dialect;
                        $body
                    })
                    .await
            }
            $crate::db::pool::Pools::Postgres(pool) => {
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
            }
        }
    }};
}
