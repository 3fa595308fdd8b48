//! The change feed: what the hub publishes is logged in order, read per owner or organization
//! after a cursor, filtered, and trimmed by retention with a floor.

use std::sync::Arc;

use chat_threads_application::events::{Event, ThreadEvents};
use chat_threads_application::feed::{FeedFilter, FeedQueue, FeedService};

use super::*;

/// Appends by two owners of two organizations through a hub with the feed attached: each
/// owner reads their own entries in order (deltas and typing are not logged), an org admin
/// the organization's; `after`, types and thread filter; a purge raises the floor and an older
/// cursor is `cursor_expired`.
pub async fn change_feed<S: Store>(store: S) {
    let hub = ThreadEvents::default();
    let queue = FeedQueue::start(store.clone(), &tokio::runtime::Handle::current());
    hub.attach_recorder(Arc::new(queue.clone()));
    let messages =
        MessageService::new(store.clone(), SystemClock, Limits::default()).with_events(hub.clone());
    let threads = ThreadService::new(store.clone(), SystemClock, Limits::default());
    let feed = FeedService::new(store.clone(), SystemClock, Some(queue));
    let (alice, bob) = (alice_in("acme"), Principal::user("bob", Some("globex")));
    let ta = threads
        .create(&alice, CreateThread::default())
        .await
        .unwrap()
        .0;
    let tb = threads
        .create(&bob, CreateThread::default())
        .await
        .unwrap()
        .0;
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(
            messages
                .append(&alice, ta.id, user(&format!("a{i}")))
                .await
                .unwrap()
                .id,
        );
        messages
            .append(&bob, tb.id, user(&format!("b{i}")))
            .await
            .unwrap();
    }
    // Not logged: a delta and typing.
    hub.emit(ta.id, Event::MessageDelta { delta: "x".into() })
        .await;

    let all = FeedFilter::default();
    let page = feed.read(&alice, &all, 0, None).await.unwrap();
    let ids: Vec<String> = page
        .entries
        .iter()
        .map(|e| {
            let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
            data["message"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        mine.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert!(
        page.entries
            .iter()
            .all(|e| e.kind == "message.created" && e.thread_id == ta.id)
    );
    assert!(page.entries.windows(2).all(|w| w[0].cursor < w[1].cursor));
    assert!(!page.has_more);
    assert_eq!(page.cursor, page.entries[2].cursor);

    // After a cursor, a page size, filters.
    let rest = feed
        .read(&alice, &all, page.entries[0].cursor, Some(1))
        .await
        .unwrap();
    assert_eq!((rest.entries.len(), rest.has_more), (1, true));
    assert_eq!(rest.entries[0].cursor, page.entries[1].cursor);
    let none = FeedFilter {
        types: vec!["thread.updated".into()],
        ..FeedFilter::default()
    };
    assert!(
        feed.read(&alice, &none, 0, None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    let other = FeedFilter {
        thread_id: Some(tb.id),
        ..FeedFilter::default()
    };
    assert!(
        feed.read(&alice, &other, 0, None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );

    // An org admin reads the organization's entries, not another's.
    let mut admin = Principal::user("erin", Some("acme"));
    admin.scopes.push(SCOPE_ORG_ADMIN.into());
    let org = feed.read(&admin, &all, 0, None).await.unwrap();
    assert_eq!(org.entries, page.entries);
    assert!(feed.head().await.unwrap() >= page.cursor);

    // Retention: everything is older than a cutoff in the future; the floor rises and a
    // cursor below it has missed entries.
    let head = feed.head().await.unwrap();
    let purged = store
        .purge_feed(chrono::Utc::now() + chrono::TimeDelta::hours(1), 1000)
        .await
        .unwrap();
    assert_eq!(purged, 6);
    assert_eq!(store.feed_floor().await.unwrap(), head);
    let expired = feed.read(&alice, &all, 0, None).await.unwrap_err();
    assert_eq!(expired.code().as_str(), "cursor_expired");
    assert!(
        feed.read(&alice, &all, head, None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    // New entries continue after the floor.
    messages.append(&alice, ta.id, user("after")).await.unwrap();
    let next = feed.read(&alice, &all, head, None).await.unwrap();
    assert_eq!(next.entries.len(), 1);
    assert!(next.entries[0].cursor > head);
}
