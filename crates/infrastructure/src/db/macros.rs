//! The two macros that expand one query body per backend.

use super::error::DbError;

/// Runs `$body` with a pooled connection `$conn` of whichever backend is configured.
macro_rules! with_conn {
    ($store:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match &$store.db.pools {
            $crate::db::pool::Pools::Sqlite(pool) => {
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

/// Runs `$body` in a write transaction: `BEGIN IMMEDIATE` on SQLite (a deferred transaction
/// would fail with "database is locked" when it upgrades to a write under load), an ordinary
/// transaction on PostgreSQL. Any error rolls everything back, so nothing is half-written.
macro_rules! write_tx {
    ($store:expr, |$conn:ident, $dialect:ident| $body:block) => {{
        match &$store.db.pools {
            $crate::db::pool::Pools::Sqlite(pool) => {
                // Writers queue here, in order, before taking a connection.
                let _turn = $store.db.sqlite_writer.lock().await;
                let mut pooled = pool
                    .get()
                    .await
                    .map_err(|e| $crate::db::DbError($crate::db::pool::pool_error(e)))?;
                pooled
                    .immediate_transaction(async move |$conn| -> Result<_, $crate::db::DbError> {
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
