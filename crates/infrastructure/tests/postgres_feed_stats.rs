//! The change feed's log is analyzed as it grows (crates/infrastructure/src/db/feed.rs,
//! `FeedStats`): with autovacuum off or behind, a cached generic plan of the live tail's read
//! would otherwise keep the size the log had when it was planned. Skipped unless
//! `TEST_DATABASE_URL` is set (required when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chat_threads_application::CreateThread;
use chat_threads_application::feed::{FeedStore, NewFeedEvent};
use chat_threads_domain::Principal;
use chat_threads_testing::contract::services;

/// `feed_events`' row count as its last ANALYZE (or VACUUM) found it; -1 before any.
async fn analyzed_rows(client: &tokio_postgres::Client) -> f32 {
    client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'feed_events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_analyzed_as_it_grows() {
    let Some(url) = support::pg_url().await else {
        return;
    };
    let store = chat_threads_infrastructure::SqlStore::new(support::open(&url).await);
    let (client, conn) = tokio_postgres::connect(url.expose(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let alice = Principal::user("alice", None);
    let (thread, _) = services(store.clone())
        .threads
        .create(&alice, CreateThread::default())
        .await
        .unwrap();
    let batch = |n: usize| -> Vec<NewFeedEvent> {
        (0..n)
            .map(|i| NewFeedEvent {
                at: chrono::Utc::now(),
                thread_id: thread.id,
                kind: "message.created",
                reply_id: None,
                data: format!(r#"{{"n":{i}}}"#),
            })
            .collect()
    };
    // The new database's tables were never analyzed. 600 entries (and the thread's creation)
    // are not enough for an ANALYZE: the first comes after 1,000.
    store.append_feed(&batch(600)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(analyzed_rows(&client).await < 0.0);
    // 600 more: past 1,000, the log is analyzed in the background.
    store.append_feed(&batch(600)).await.unwrap();
    let mut rows = analyzed_rows(&client).await;
    for _ in 0..300 {
        if rows >= 1_200.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rows = analyzed_rows(&client).await;
    }
    assert!(
        rows >= 1_200.0,
        "feed_events was not analyzed: reltuples {rows}"
    );
    let read: i64 = client
        .query_one("SELECT count(*) FROM feed_events", &[])
        .await
        .unwrap()
        .get(0);
    assert!(read >= 1_200, "{read} entries");
}
