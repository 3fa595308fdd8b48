//! Fresh databases for tests: a new SQLite file per test, and a new PostgreSQL database per test
//! when `TEST_DATABASE_URL` points at a server (required when `CI=true`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chat_threads_infrastructure::SqlStore;
use chat_threads_infrastructure::db::{Database, DatabaseUrl, PoolOptions};

/// A URL for a new, empty SQLite file.
pub fn sqlite_url() -> DatabaseUrl {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-dbs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.db", uuid::Uuid::now_v7().simple()));
    DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap()
}

/// The admin URL of the test PostgreSQL server, if configured. With `CI=true` a missing one is a
/// failure, not a skip.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
        }
        _ => None,
    }
}

/// Creates a new database on the test server and returns its URL.
pub async fn pg_url() -> Option<DatabaseUrl> {
    let admin = pg_admin_url()?;
    let name = format!("ct_test_{}", uuid::Uuid::now_v7().simple());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach TEST_DATABASE_URL: {e}"));
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(DatabaseUrl::parse(url.as_str()).unwrap())
}

/// Opens and migrates a database.
pub async fn open(url: &DatabaseUrl) -> Database {
    let db = Database::connect(url, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

/// A migrated SQLite store on a fresh file.
pub async fn sqlite_store() -> Option<SqlStore> {
    Some(SqlStore::new(open(&sqlite_url()).await))
}

/// A migrated PostgreSQL store in a fresh database, or `None` when PostgreSQL is not configured.
pub async fn pg_store() -> Option<SqlStore> {
    let url = pg_url().await?;
    Some(SqlStore::new(open(&url).await))
}
