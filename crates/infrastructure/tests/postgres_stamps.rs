//! A first page's stamp on PostgreSQL is the `xmin` of its thread's row, and every write of
//! the thread's messages writes that row (migration 000033's triggers) — whoever makes it,
//! through the store or not. And where two writes still wait on each other in a cycle (a
//! message first, then its thread, against the thread first, then the message), the one
//! PostgreSQL fails is a retryable error (503), not an internal one. Skipped unless
//! `TEST_DATABASE_URL` is set (required when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use chat_threads_application::messages::PathStamp;
use chat_threads_application::replies::ReplyStore;
use chat_threads_application::{AppError, AppendMessage, CreateThread, MessageStore};
use chat_threads_domain::{MessageStatus, Principal, ThreadId};
use chat_threads_infrastructure::SqlStore;
use chat_threads_testing::contract::{reply_start, reply_text, services};

/// A store on a fresh database and a plain client of the same database.
async fn store_and_client() -> Option<(SqlStore, tokio_postgres::Client)> {
    let url = support::pg_url().await?;
    let store = SqlStore::new(support::open(&url).await);
    let (client, conn) = tokio_postgres::connect(url.expose(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    Some((store, client))
}

fn alice() -> Principal {
    Principal::user("alice", None)
}

/// A new thread of alice's, through the services on `store`.
async fn thread(store: &SqlStore) -> ThreadId {
    let (t, _) = services(store.clone())
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    t.id
}

/// The thread's stamp as a kept page's check reads it.
async fn stamp(store: &SqlStore, t: ThreadId) -> PathStamp {
    store
        .path_stamp(&alice().scope(), t, 51)
        .await
        .unwrap()
        .expect("PostgreSQL gives stamps")
}

/// `threads.revision` of `t` (how many times the triggers wrote the row).
async fn revision(client: &tokio_postgres::Client, t: ThreadId) -> i64 {
    client
        .query_one(
            &format!("SELECT revision FROM threads WHERE id = '{}'", t.as_uuid()),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Runs `sql` on its own (autocommit) or as written.
async fn run(client: &tokio_postgres::Client, sql: String) {
    client.batch_execute(&sql).await.unwrap();
}

#[tokio::test]
async fn any_write_of_a_message_writes_its_thread() {
    let Some((store, client)) = store_and_client().await else {
        return;
    };
    let s = services(store.clone());
    let t = thread(&store).await;
    let say = |parent| AppendMessage {
        role: Some("user".into()),
        content: "hello".into(),
        parent_id: parent,
        ..AppendMessage::default()
    };
    let root = s.messages.append(&alice(), t, say(None)).await.unwrap();
    let old = s
        .messages
        .append(&alice(), t, say(Some(root.id)))
        .await
        .unwrap();
    // A sibling of `old` under the root: the active leaf now; `old` is off the path.
    let leaf = s
        .messages
        .append(&alice(), t, say(Some(root.id)))
        .await
        .unwrap();
    let (page, Some(first)) = store.stamped_path(&alice().scope(), t, 51).await.unwrap() else {
        panic!("PostgreSQL gives stamps");
    };
    assert_eq!(
        page.iter().map(|m| m.id).collect::<Vec<_>>(),
        [root.id, leaf.id]
    );
    let before = stamp(&store, t).await;
    assert_eq!(first, before);

    // An UPDATE from outside the service.
    let r0 = revision(&client, t).await;
    run(
        &client,
        format!(
            "UPDATE messages SET metadata = '{{\"k\": 1}}' WHERE id = '{}'",
            leaf.id.as_uuid()
        ),
    )
    .await;
    let after_update = stamp(&store, t).await;
    assert_ne!(after_update, before, "an UPDATE of a message");
    assert_eq!(revision(&client, t).await, r0 + 1);

    // An UPDATE that touches no row writes nothing.
    run(
        &client,
        format!(
            "UPDATE messages SET metadata = '{{}}' WHERE id = '{}'",
            uuid::Uuid::now_v7()
        ),
    )
    .await;
    assert_eq!(stamp(&store, t).await, after_update, "no row updated");

    // A DELETE of a message off the path changes the stamp too (a thread's version is not
    // about its path alone).
    run(
        &client,
        format!("DELETE FROM messages WHERE id = '{}'", old.id.as_uuid()),
    )
    .await;
    let after_delete = stamp(&store, t).await;
    assert_ne!(after_delete, after_update, "a DELETE of a message");
    assert_eq!(revision(&client, t).await, r0 + 2);

    // A transaction that wrote the thread's row itself first is not made to write it again.
    run(
        &client,
        format!(
            "BEGIN; UPDATE threads SET title = 'renamed' WHERE id = '{id}'; \
             UPDATE messages SET metadata = '{{}}' WHERE thread_id = '{id}'; COMMIT;",
            id = t.as_uuid()
        ),
    )
    .await;
    assert_ne!(stamp(&store, t).await, after_delete);
    assert_eq!(revision(&client, t).await, r0 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_cycle_is_a_retryable_error() {
    let Some((store, client)) = store_and_client().await else {
        return;
    };
    let t = thread(&store).await;
    let now = || chat_threads_domain::to_micros(chrono::Utc::now());
    let (_, reply) = store
        .begin_reply("instance-a", &alice().scope(), t, reply_start(now()))
        .await
        .unwrap();

    // Another transaction holds the thread's row ...
    run(
        &client,
        format!(
            "BEGIN; UPDATE threads SET message_count = message_count WHERE id = '{}'",
            t.as_uuid()
        ),
    )
    .await;
    // ... while the reply's text is written: the message, then (the trigger) its thread.
    let flush = tokio::spawn({
        let store = store.clone();
        async move {
            let text = reply_text("so far", MessageStatus::Streaming);
            store.update_reply(t, reply.id, text, now()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... and the other transaction then wants the message: a cycle. PostgreSQL breaks it
    // after deadlock_timeout (1 s) in the transaction that has waited longer, the flush.
    run(
        &client,
        format!(
            "UPDATE messages SET content = 'theirs' WHERE id = '{}'; COMMIT",
            reply.id.as_uuid()
        ),
    )
    .await;
    let err = flush.await.unwrap().unwrap_err();
    assert!(
        matches!(err, AppError::StorageUnavailable(_)),
        "a lock cycle is worth a retry: {err:?}"
    );
    // Nothing of the failed write was kept, and the same write again goes through.
    let row = client
        .query_one(
            &format!(
                "SELECT content FROM messages WHERE id = '{}'",
                reply.id.as_uuid()
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "theirs");
    let text = reply_text("so far", MessageStatus::Streaming);
    let again = store.update_reply(t, reply.id, text, now()).await.unwrap();
    assert_eq!(again.content.as_str(), "so far");
}
