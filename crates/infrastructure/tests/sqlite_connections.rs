//! Every pooled SQLite connection carries the same settings, and writers queue instead of
//! failing with "database is locked".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chat_threads_infrastructure::db::{Database, PoolOptions, SqliteSynchronous};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pooled_connection_has_wal_foreign_keys_and_a_busy_timeout() {
    let url = support::sqlite_url();
    let options = PoolOptions {
        max_connections: 4,
        ..PoolOptions::default()
    };
    let db = Database::connect(&url, options).await.unwrap();
    // Hold several connections at once so the pool has to open distinct ones.
    let checks = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { db.sqlite_settings().await.unwrap().unwrap() })
    });
    for check in checks {
        let (journal, fk, busy, synchronous) = check.await.unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(fk, 1);
        assert_eq!(busy, options.sqlite_busy_timeout.as_millis() as i64);
        assert_eq!(synchronous, 1, "NORMAL by default");
    }
    // database.sqlite_synchronous = "full" reaches every connection.
    let full = PoolOptions {
        max_connections: 2,
        sqlite_synchronous: SqliteSynchronous::Full,
        ..PoolOptions::default()
    };
    let db = Database::connect(&support::sqlite_url(), full)
        .await
        .unwrap();
    for _ in 0..2 {
        let (_, _, _, synchronous) = db.sqlite_settings().await.unwrap().unwrap();
        assert_eq!(synchronous, 2);
    }
    assert!(support::sqlite_url().sqlite_path().is_some());
}

#[tokio::test]
async fn a_missing_folder_is_created_for_the_sqlite_file() {
    let base = support::sqlite_url();
    let dir = base.sqlite_path().unwrap().with_extension("");
    let nested = dir.join("a/b/chat.db");
    let url = chat_threads_infrastructure::db::DatabaseUrl::parse(&format!(
        "sqlite://{}",
        nested.display()
    ))
    .unwrap();
    Database::connect(&url, PoolOptions::default())
        .await
        .unwrap();
    assert!(nested.is_file());
}
