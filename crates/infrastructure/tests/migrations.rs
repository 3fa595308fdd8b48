//! Every migration applies, reverts and applies again, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chat_threads_infrastructure::db::Database;

async fn up_down_up(db: &Database) {
    let applied = db.migrate().await.unwrap();
    assert!(
        !applied.is_empty(),
        "a fresh database has migrations to apply"
    );
    assert!(
        db.migrate().await.unwrap().is_empty(),
        "migrating twice is a no-op"
    );
    let reverted = db.revert_all().await.unwrap();
    assert_eq!(reverted.len(), applied.len());
    let again = db.migrate().await.unwrap();
    assert_eq!(again, applied);
    db.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_migrations_go_up_down_and_up() {
    let url = support::sqlite_url();
    let db = Database::connect(&url, Default::default()).await.unwrap();
    up_down_up(&db).await;
}

#[tokio::test]
async fn postgres_migrations_go_up_down_and_up() {
    let Some(url) = support::pg_url().await else {
        return;
    };
    let db = Database::connect(&url, Default::default()).await.unwrap();
    up_down_up(&db).await;
}

/// An append's update of its thread is HOT on PostgreSQL: no index of `threads` covers a column
/// an append changes (the list's order lives in `thread_activity`), so the update writes no
/// index entry. Checked on the statement the service runs, in one transaction, with the
/// transaction's own statistics; and the list order follows the appends.
#[tokio::test]
async fn postgres_appends_update_their_thread_without_touching_its_indexes() {
    let Some(url) = support::pg_url().await else {
        return;
    };
    support::open(&url).await;
    let (client, conn) = tokio_postgres::connect(url.expose(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "INSERT INTO threads (id, owner, created_at, updated_at) VALUES \
             ('00000000-0000-7000-8000-000000000001', 'ann', now() - interval '2 h', now() - interval '2 h'), \
             ('00000000-0000-7000-8000-000000000002', 'ann', now() - interval '1 h', now() - interval '1 h')",
        )
        .await
        .unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    for i in 0..5 {
        client
            .query(
                "SELECT parent_id, depth FROM ct_append_message(\
                 '00000000-0000-7000-8000-000000000001', 'ann', NULL, gen_random_uuid(), 'user', \
                 $1, 'text', NULL, 'complete', NULL, NULL, NULL, '{}'::jsonb, now(), 1, '[]'::jsonb, 'ann', NULL)",
                &[&format!("message {i}")],
            )
            .await
            .unwrap();
    }
    let row = client
        .query_one(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'threads'",
            &[],
        )
        .await
        .unwrap();
    let (updates, hot): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(updates, 5);
    assert_eq!(hot, 5, "every append's thread update is HOT");
    client.batch_execute("COMMIT").await.unwrap();
    // The thread appended to is now the newest in the list's order.
    let order: Vec<String> = client
        .query(
            "SELECT thread_id::text FROM thread_activity WHERE owner = 'ann' \
             ORDER BY updated_at DESC, thread_id DESC",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        order,
        [
            "00000000-0000-7000-8000-000000000001",
            "00000000-0000-7000-8000-000000000002"
        ]
    );
}
