//! One connection of either backend, as the persistence helpers shared by the stores take it:
//! a helper is a named `async fn` over [`Conn`] whose body [`with_conn!`]'s `on` form expands
//! per backend, so its query text is written once and checked against each connection type.

use diesel_async::AsyncPgConnection;

use super::pool::SqliteConn;
use super::writer::WriterConn;

/// A connection borrowed from a pool, SQLite's writer or a PostgreSQL transaction.
pub(crate) enum Conn<'a> {
    /// A pooled SQLite connection (reads).
    Sqlite(&'a mut SqliteConn),
    /// SQLite's one writer, inside its transaction.
    Writer(&'a mut WriterConn),
    /// A PostgreSQL connection, pooled or inside a transaction.
    Postgres(&'a mut AsyncPgConnection),
}

/// Lends a connection of any backend to a helper: `helper(conn.any(), …)`.
pub(crate) trait AsConn {
    /// This connection, borrowed as a [`Conn`].
    fn any(&mut self) -> Conn<'_>;
}

impl AsConn for SqliteConn {
    fn any(&mut self) -> Conn<'_> {
        Conn::Sqlite(self)
    }
}

impl AsConn for WriterConn {
    fn any(&mut self) -> Conn<'_> {
        Conn::Writer(self)
    }
}

impl AsConn for AsyncPgConnection {
    fn any(&mut self) -> Conn<'_> {
        Conn::Postgres(self)
    }
}

impl AsConn for Conn<'_> {
    fn any(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Writer(c) => Conn::Writer(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }
}
