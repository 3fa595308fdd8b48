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
