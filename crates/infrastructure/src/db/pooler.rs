//! Start-up check that PostgreSQL connections are not pooled per transaction.
//!
//! The service needs each client connection to keep one server session: its statements are
//! prepared once per connection under generated names (`s0`, `s1` …), the event bus holds a
//! `LISTEN`, and an instance is known to be alive by its connections' `application_name`. A
//! pooler in transaction or statement mode (PgBouncer's `pool_mode = transaction|statement`)
//! hands each transaction to whichever server connection is free, so two instances' statements
//! collide (`prepared statement "s5" already exists`), a `LISTEN` is lost, and liveness lies.
//! PgBouncer's session mode and direct connections are fine.
//!
//! The check, with two fresh client connections A and B, using the simple protocol only:
//! A asks its server process id; B opens a transaction and asks its own; A asks again while B's
//! transaction holds its server connection. Without per-transaction pooling each client keeps
//! its own server process, so B's differs from A's and A's does not change. A pooler in
//! transaction mode gives B the connection A just released (PgBouncer reuses the most recent
//! one), or moves A to another, or makes A wait for the one B holds; statement mode refuses
//! B's `BEGIN`. Any of these refuses to start, with one line naming the problem and the fix.

use std::time::Duration;

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::pool::{SetupError, redact};

/// What is refused, and how to fix it (one line, for the start-up error).
const FIX: &str = "the database URL goes through a connection pooler in transaction or \
statement mode (PgBouncer pool_mode = transaction|statement), which chat-threads cannot use: \
its prepared statements, LISTEN/NOTIFY and liveness need one server session per connection; \
set pool_mode = session for this database (or connect directly) — see docs/operations.md, \
\"Connection poolers\"";

/// Refuses per-transaction pooling between this process and PostgreSQL (see the module docs).
pub(crate) async fn refuse_transaction_pooling(url: &str) -> Result<(), SetupError> {
    let unreachable =
        |e: tokio_postgres::Error| SetupError::Unreachable(format!("{}: {e}", redact(url)));
    let a = open(url).await.map_err(unreachable)?;
    let b = open(url).await.map_err(unreachable)?;
    let first = pid(&a).await.map_err(unreachable)?;
    if b.simple_query("BEGIN").await.is_err() {
        // Statement pooling refuses transaction blocks.
        return Err(SetupError::Pooler(FIX.to_owned()));
    }
    let theirs = pid(&b).await.map_err(unreachable)?;
    let again = tokio::time::timeout(Duration::from_secs(3), pid(&a)).await;
    let _ = b.simple_query("ROLLBACK").await;
    match again {
        Ok(Ok(again)) if again == first && theirs != first => Ok(()),
        Ok(Err(e)) => Err(unreachable(e)),
        // A moved, B took A's server, or A waits for the server B holds.
        _ => Err(SetupError::Pooler(FIX.to_owned())),
    }
}

async fn open(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The server process id behind `client`, over the simple protocol (no named statement).
async fn pid(client: &Client) -> Result<i64, tokio_postgres::Error> {
    let rows = client.simple_query("SELECT pg_backend_pid()").await?;
    Ok(rows
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .unwrap_or_default())
}
