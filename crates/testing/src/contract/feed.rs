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

/// The entries a store writes with the changes they report: an append's, a sibling's (what its
/// report makes),
/// a reply's start (user message and placeholder, numbered 1 and 2 in the reply's log) and end
/// are in the log once it is settled, each exactly the event subscribers get — with the parent
/// and depth the store chose — in the order the changes committed, interleaved in that order
/// with entries the feed's writer appends; a refused change leaves no entry.
pub async fn entries_are_written_with_their_changes<S: Store>(store: S) {
    use chat_threads_application::events::ThreadEvent;
    use chat_threads_application::feed::{FeedScope, NewFeedEvent, created_entry};
    use chat_threads_application::replies::ReplyUpdate;
    use chat_threads_application::{Anchor, NewMessage};
    use chat_threads_domain::MessageStatus;

    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
    let scope = alice().scope();
    let now = || chat_threads_domain::to_micros(chrono::Utc::now());
    let msg = |role: Role, status: MessageStatus| new_message(role, status, now());
    let live = |m: &Message| ThreadEvent::thread(m.thread_id, Event::created(m)).data_json();

    let first = store
        .append_message(&scope, t.id, None, msg(Role::User, MessageStatus::Complete))
        .await
        .unwrap();
    // Under the active leaf: the store picks the parent and depth.
    let second = store
        .append_message(
            &scope,
            t.id,
            None,
            msg(Role::Assistant, MessageStatus::Complete),
        )
        .await
        .unwrap();
    assert_eq!((second.parent_id, second.depth), (Some(first.id), 1));
    let refused = store
        .append_message(
            &scope,
            t.id,
            Some(MessageId::new()),
            msg(Role::User, MessageStatus::Complete),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "parent_not_found");
    let sibling = store
        .add_sibling(
            &scope,
            t.id,
            second.id,
            msg(Role::Assistant, MessageStatus::Complete),
            &|m: &Message| vec![ThreadEvent::thread(m.thread_id, Event::created(m))],
        )
        .await
        .unwrap();
    // An entry through the feed's writer, between two changes.
    let written = NewFeedEvent {
        at: now(),
        thread_id: t.id,
        kind: "thread.updated",
        reply_id: None,
        data: r#"{"type":"thread.updated"}"#.into(),
    };
    store
        .append_feed(std::slice::from_ref(&written))
        .await
        .unwrap();
    let user_msg: NewMessage = msg(Role::User, MessageStatus::Complete);
    let start = chat_threads_application::replies::ReplyStart {
        busy_since: now() - chrono::TimeDelta::hours(1),
        user: Some((Anchor::Append(None), user_msg)),
        reply: (None, msg(Role::Assistant, MessageStatus::Streaming)),
        hold: None,
    };
    let (user, reply) = store
        .begin_reply("instance-a", &scope, t.id, start)
        .await
        .unwrap();
    let user = user.unwrap();
    let end = ThreadEvent {
        thread_id: t.id,
        seq: Some(5),
        reply_id: Some(reply.id),
        data: Event::MessageCompleted {
            content: "done".into(),
            usage: None,
        },
    };
    let end_entry = chat_threads_application::feed::entry(&end, now()).unwrap();
    store
        .update_reply(
            t.id,
            reply.id,
            ReplyUpdate {
                content: "done",
                parts: &[],
                status: MessageStatus::Complete,
                usage: None,
                entry: Some(&end_entry),
            },
            now(),
        )
        .await
        .unwrap();

    store.settle_feed().await.unwrap();
    let entries = store
        .read_feed(
            &FeedScope::Owner("user:alice".into()),
            &FeedFilter::default(),
            0,
            100,
        )
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.kind.as_str(), e.data.as_str()))
        .collect();
    let (u, r) = (
        created_entry(&user, Some((reply.id, 1))),
        created_entry(&reply, Some((reply.id, 2))),
    );
    let (a, b, c) = (live(&first), live(&second), live(&sibling));
    assert_eq!(
        got,
        vec![
            ("message.created", a.as_str()),
            ("message.created", b.as_str()),
            ("message.created", c.as_str()),
            ("thread.updated", written.data.as_str()),
            ("message.created", u.data.as_str()),
            ("message.created", r.data.as_str()),
            ("message.completed", end_entry.data.as_str()),
        ]
    );
    assert!(u.data.contains(r#""seq":1"#) && r.data.contains(r#""seq":2"#));
    assert_eq!(entries[4].reply_id, Some(reply.id));
    assert!(entries.windows(2).all(|w| w[0].cursor < w[1].cursor));
    assert!(
        entries
            .iter()
            .all(|e| e.thread_id == t.id && e.owner == "user:alice")
    );
}
