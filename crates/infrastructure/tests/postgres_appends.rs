//! Plain appends on PostgreSQL are committed in groups (crates/infrastructure/src/db/pg_appends.rs):
//! under concurrent appends some share a transaction, and each still gets its own answer — an
//! append that fails (here: a message id already taken) rolls its group back, and the others of
//! that group are then stored one by one. Skipped unless `TEST_DATABASE_URL` is set (required
//! when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chat_threads_application::{CreateThread, MessageFilter, MessageStore, NewMessage};
use chat_threads_domain::{MessageId, MessageStatus, Principal, Role, ThreadId};
use chat_threads_testing::contract::{new_message, services};

/// A user message of one character under `id`.
fn message(id: MessageId) -> NewMessage {
    let mut m = new_message(Role::User, MessageStatus::Complete, chrono::Utc::now());
    m.id = id;
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_appends_each_get_their_own_answer() {
    let Some(store) = support::pg_store().await else {
        return;
    };
    let alice = Principal::user("alice", None);
    let scope = alice.scope();
    let services = services(store.clone());
    let mut threads = Vec::new();
    for _ in 0..6 {
        let (t, _) = services
            .threads
            .create(&alice, CreateThread::default())
            .await
            .unwrap();
        threads.push(t.id);
    }
    let taken = store
        .append_message(&scope, threads[0], None, message(MessageId::new()))
        .await
        .unwrap()
        .id;
    let before = store.append_groups().unwrap();

    // Rounds of concurrent appends: most to one of the threads, every eleventh to a thread that
    // does not exist, and in the last rounds every seventh under an id already taken.
    let store = Arc::new(store);
    let mut landed: BTreeMap<ThreadId, usize> = BTreeMap::new();
    landed.insert(threads[0], 1);
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    // The first five rounds take no id twice, so their groups commit; the last five do.
    let mut grouped = before;
    for round in 0..10 {
        if round == 5 {
            grouped = store.append_groups().unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..48usize {
            let n = round * 48 + i;
            let (thread, id, want) = if round >= 5 && n % 7 == 3 {
                (threads[n % threads.len()], taken, "conflict")
            } else if n % 11 == 5 {
                (ThreadId::new(), MessageId::new(), "thread_not_found")
            } else {
                (threads[n % threads.len()], MessageId::new(), "ok")
            };
            *expected.entry(want.to_owned()).or_default() += 1;
            if want == "ok" {
                *landed.entry(thread).or_default() += 1;
            }
            let store = store.clone();
            let scope = scope.clone();
            tasks.push(tokio::spawn(async move {
                let r = store
                    .append_message(&scope, thread, None, message(id))
                    .await;
                (want, r)
            }));
        }
        for task in tasks {
            let (want, r) = task.await.unwrap();
            let code = match r {
                Ok(m) => {
                    assert_eq!(want, "ok", "{m:?}");
                    "ok".to_owned()
                }
                Err(e) => e.code().as_str().to_owned(),
            };
            *codes.entry(code).or_default() += 1;
        }
    }
    assert_eq!(codes, expected);

    assert!(
        grouped.committed > before.committed,
        "some appends shared a transaction: {grouped:?}"
    );
    let after = store.append_groups().unwrap();
    assert!(
        after.undone > grouped.undone,
        "a taken id rolled some group back: {after:?}"
    );

    // Each thread is one chain holding exactly the appends that succeeded on it.
    for t in threads {
        let thread = services.threads.get(&alice, t, false).await.unwrap();
        let want = landed.get(&t).copied().unwrap_or(0);
        assert!(want < 100, "the whole chain fits one page");
        assert_eq!(thread.message_count, want as i64);
        let path = services
            .messages
            .active_path(&alice, t, None, Some(100), MessageFilter::default())
            .await
            .unwrap();
        let depths: Vec<i64> = path.data.iter().map(|m| i64::from(m.depth)).collect();
        assert_eq!(depths, (0..want as i64).collect::<Vec<_>>());
    }
}
