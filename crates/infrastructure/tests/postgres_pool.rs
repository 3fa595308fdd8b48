//! The PostgreSQL pool hands out connections without a `SELECT 1` probe: a connection whose
//! server side went away is recognised as closed and replaced, so after the server kills every
//! connection the next requests still succeed. Skipped unless `TEST_DATABASE_URL` is set
//! (required when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chat_threads_infrastructure::db::{Database, PoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_by_the_server_are_replaced() {
    let Some(url) = support::pg_url().await else {
        return;
    };
    let options = PoolOptions {
        max_connections: 2,
        ..PoolOptions::default()
    };
    let db = Database::connect(&url, options).await.unwrap();
    // Pooled connections, idle now (each thread takes its own pool's: one or two).
    let (a, b) = tokio::join!(db.ping(), db.ping());
    a.unwrap();
    b.unwrap();
    let open = db.pool_usage().idle;
    assert!(open >= 1, "{open}");

    let name = url::Url::parse(url.expose())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let admin = support::pg_admin_url().unwrap();
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let killed = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(killed, open as i64);
    drop(client);
    let _ = task.await;
    // The clients notice the closed sockets; the pool then opens new connections.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..5 {
        db.ping().await.unwrap();
    }
}
