//! Concurrent writes: appends that race, writes that fail, and callers that go away.

use super::*;

/// Sixteen concurrent appends to one thread all land, in one chain, with an exact count.
pub async fn concurrent_appends<S: Store>(store: S) {
    let s = std::sync::Arc::new(Fixture::new(store));
    let t = s.thread(&alice()).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.messages
                .append(&alice(), t.id, user(&format!("c{i}")))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(thread.message_count, 16);
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        path.data.len(),
        16,
        "every append went under the previous leaf"
    );
    let depths: Vec<i32> = path.data.iter().map(|m| m.depth).collect();
    assert_eq!(depths, (0..16).collect::<Vec<_>>());
}

/// Concurrent writes that fail (an unknown parent, another owner's thread) fail alone: the
/// writes beside them — on SQLite often in the same transaction as a failed one — all land, and
/// the failed ones leave nothing behind.
pub async fn failed_writes_fail_alone<S: Store>(store: S) {
    let s = std::sync::Arc::new(Fixture::new(store));
    let t = s.thread(&alice()).await;
    let bobs = s.thread(&bob()).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            match i % 3 {
                0 => {
                    let mut bad = user("under a parent that does not exist");
                    bad.parent_id = Some(MessageId::new());
                    s.messages.append(&alice(), t.id, bad).await
                }
                1 => s.messages.append(&alice(), bobs.id, user("not mine")).await,
                _ => {
                    s.messages
                        .append(&alice(), t.id, user(&format!("ok{i}")))
                        .await
                }
            }
        }));
    }
    let mut codes = std::collections::BTreeMap::new();
    for task in tasks {
        let code = match task.await.unwrap() {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        };
        *codes.entry(code).or_insert(0) += 1;
    }
    assert_eq!(
        codes,
        [
            ("ok", 10),
            ("parent_not_found", 10),
            ("thread_not_found", 10)
        ]
        .into_iter()
        .collect()
    );
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(thread.message_count, 10);
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert!(
        path.data
            .iter()
            .all(|m| m.content.as_str().starts_with("ok"))
    );
    let depths: Vec<i32> = path.data.iter().map(|m| m.depth).collect();
    assert_eq!(
        depths,
        (0..10).collect::<Vec<_>>(),
        "one chain of the ten that landed"
    );
    let bobs = s.threads.get(&bob(), bobs.id, false).await.unwrap();
    assert_eq!(bobs.message_count, 0);
}

/// Writes whose callers go away mid-flight (a dropped request) leave the store consistent and
/// usable: each either landed whole or not at all, and later writes go through.
pub async fn abandoned_writes_leave_the_store_usable<S: Store>(store: S) {
    let s = std::sync::Arc::new(Fixture::new(store));
    let t = s.thread(&alice()).await;
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let s = s.clone();
        let task = tokio::spawn(async move {
            s.messages
                .append(&alice(), t.id, user(&format!("a{i}")))
                .await
        });
        if i % 2 == 0 {
            tokio::time::sleep(std::time::Duration::from_micros(150 * (i % 7))).await;
            task.abort();
        }
        tasks.push(task);
    }
    for task in tasks {
        let _ = task.await;
    }
    for i in 0..5 {
        s.messages
            .append(&alice(), t.id, user(&format!("after{i}")))
            .await
            .expect("writes go through after abandoned ones");
    }
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    let path = s
        .messages
        .active_path(&alice(), t.id, None, Some(100), MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(path.data.len() as i64, thread.message_count);
    let depths: Vec<i64> = path.data.iter().map(|m| i64::from(m.depth)).collect();
    assert_eq!(depths, (0..thread.message_count).collect::<Vec<_>>());
    assert!(
        thread.message_count >= 25,
        "the 20 kept and the 5 after landed"
    );
}
