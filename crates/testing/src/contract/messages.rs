//! Messages: appending, the active path, parents, filters, judgements and summaries.

use super::*;

/// Appends chain under the active leaf; the active path pages backwards by cursor.
pub async fn append_and_read_active_path<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let input = if i % 2 == 0 {
            user(&format!("m{i}"))
        } else {
            assistant(&format!("m{i}"))
        };
        let m = s.say(&alice(), t.id, input).await;
        assert_eq!(m.depth, i);
        assert_eq!(m.parent_id, ids.last().copied());
        ids.push(m.id);
    }
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(thread.message_count, 7);
    assert_eq!(thread.active_leaf_id, ids.last().copied());
    assert!(thread.last_message_at.is_some());

    let all = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&all.data), ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
    assert!(!all.has_more);

    let last3 = s
        .messages
        .active_path(&alice(), t.id, None, Some(3), MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&last3.data), ["m4", "m5", "m6"]);
    assert!(last3.has_more);
    let prev = s
        .messages
        .active_path(
            &alice(),
            t.id,
            last3.next_cursor,
            Some(3),
            MessageFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(texts(&prev.data), ["m1", "m2", "m3"]);
    let first = s
        .messages
        .active_path(
            &alice(),
            t.id,
            prev.next_cursor,
            Some(3),
            MessageFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(texts(&first.data), ["m0"]);
    assert!(!first.has_more && first.next_cursor.is_none());

    let roles: Vec<Role> = all.data.iter().map(|m| m.role).collect();
    assert_eq!(roles[0], Role::User);
    assert_eq!(roles[1], Role::Assistant);
    let bad = s
        .messages
        .active_path(
            &alice(),
            t.id,
            Some("garbage".into()),
            Some(3),
            MessageFilter::default(),
        )
        .await;
    assert!(matches!(bad, Err(AppError::InvalidCursor)));
    let bad = s
        .messages
        .active_path(&alice(), t.id, None, Some(0), MessageFilter::default())
        .await;
    assert_eq!(bad.unwrap_err().code(), "validation_failed");
}

/// An explicit parent must exist, be in the same thread and be live.
pub async fn parent_rules<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let other = s.thread(&alice()).await;
    let [a, b] = s.chain(&alice(), t.id, ["a", "b"]).await;
    let foreign = s.say(&alice(), other.id, user("f")).await;

    let under_a = s
        .say(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(a.id),
                ..user("a2")
            },
        )
        .await;
    assert_eq!((under_a.parent_id, under_a.depth), (Some(a.id), 1));
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(
        thread.active_leaf_id,
        Some(under_a.id),
        "an explicit parent starts a branch"
    );

    let unknown = MessageId::new();
    let err = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(unknown),
                ..user("x")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "parent_not_found");
    let err = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(foreign.id),
                ..user("x")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "parent_in_other_thread");
    s.messages
        .delete(&alice(), t.id, b.id, DeleteScope::Subtree)
        .await
        .unwrap();
    let err = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(b.id),
                ..user("x")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "parent_deleted");
    let count = s
        .threads
        .get(&alice(), t.id, false)
        .await
        .unwrap()
        .message_count;
    assert_eq!(count, 2, "refused appends write nothing");

    let err = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                role: Some("robot".into()),
                ..user("x")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    let err = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                content_type: Some("json".into()),
                ..user("{not json")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "content_not_json");
}

/// A deep chain reads its last messages by walking parent links.
pub async fn deep_chain<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    for i in 0..120 {
        s.say(&alice(), t.id, user(&format!("n{i}"))).await;
    }
    let last = s
        .messages
        .active_path(&alice(), t.id, None, Some(50), MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(last.data.len(), 50);
    assert_eq!(last.data.first().unwrap().content.as_str(), "n70");
    assert_eq!(last.data.last().unwrap().content.as_str(), "n119");
    assert_eq!(last.data.last().unwrap().depth, 119);
}

/// Message lists narrow by role and by words, in both views.
pub async fn message_filters<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    s.chain(
        &alice(),
        t.id,
        [
            "Plan the Lisbon trip",
            "Lisbon in May is lovely",
            "Book flights",
            "Flights booked to Lisbon",
        ],
    )
    .await;
    let f = |role: Option<&str>, text: Option<&str>| {
        chat_threads_application::message_filter(role, text).unwrap()
    };
    let tree = s
        .messages
        .tree(&alice(), t.id, None, None, f(Some("assistant"), None))
        .await
        .unwrap();
    assert_eq!(
        texts(&tree.data),
        ["Lisbon in May is lovely", "Flights booked to Lisbon"]
    );
    let tree = s
        .messages
        .tree(&alice(), t.id, None, None, f(None, Some("lisbon")))
        .await
        .unwrap();
    assert_eq!(tree.data.len(), 3);
    let tree = s
        .messages
        .tree(
            &alice(),
            t.id,
            None,
            Some(1),
            f(Some("user"), Some("LISBON")),
        )
        .await
        .unwrap();
    assert_eq!(texts(&tree.data), ["Plan the Lisbon trip"]);
    assert!(!tree.has_more);
    let path = s
        .messages
        .active_path(&alice(), t.id, None, Some(1), f(None, Some("lisbon")))
        .await
        .unwrap();
    assert_eq!(texts(&path.data), ["Flights booked to Lisbon"]);
    assert!(path.has_more);
    let earlier = s
        .messages
        .active_path(
            &alice(),
            t.id,
            path.next_cursor,
            Some(5),
            f(None, Some("lisbon")),
        )
        .await
        .unwrap();
    assert_eq!(
        texts(&earlier.data),
        ["Plan the Lisbon trip", "Lisbon in May is lovely"]
    );
    assert!(!earlier.has_more);
    let err = s
        .messages
        .tree(&alice(), t.id, None, None, MessageFilter::default())
        .await;
    assert!(err.is_ok());
    assert!(chat_threads_application::message_filter(Some("robot"), None).is_err());
}

/// Feedback and reactions are set, replaced and cleared; bad ones are refused.
pub async fn feedback_and_reactions<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let m = s.say(&alice(), t.id, assistant("answer")).await;
    let m1 = s
        .messages
        .feedback(
            &alice(),
            t.id,
            m.id,
            Some(("down".into(), Some("wrong year".into()))),
        )
        .await
        .unwrap();
    let fb = m1.feedback.clone().unwrap();
    assert_eq!(fb.rating.as_str(), "down");
    assert_eq!(fb.text.unwrap().as_str(), "wrong year");
    let m2 = s
        .messages
        .reaction(&alice(), t.id, m.id, Some("👍".into()))
        .await
        .unwrap();
    assert_eq!(m2.reaction.unwrap().as_str(), "👍");
    let back = s.messages.get(&alice(), t.id, m.id).await.unwrap();
    assert_eq!(back.feedback, m1.feedback);
    assert_eq!(back.reaction.as_ref().map(|r| r.as_str()), Some("👍"));

    let cleared = s
        .messages
        .feedback(&alice(), t.id, m.id, None)
        .await
        .unwrap();
    assert!(cleared.feedback.is_none());
    let cleared = s
        .messages
        .reaction(&alice(), t.id, m.id, None)
        .await
        .unwrap();
    assert!(cleared.reaction.is_none());
    let err = s
        .messages
        .reaction(&alice(), t.id, m.id, Some("nope".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    let err = s
        .messages
        .feedback(&alice(), t.id, m.id, Some(("meh".into(), None)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    let err = s
        .messages
        .reaction(&alice(), t.id, MessageId::new(), Some("👍".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::MessageNotFound));
}

/// Summaries are stored per thread, newest first, and must cover a message of that thread.
pub async fn summaries<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let other = s.thread(&alice()).await;
    let [m1, m2] = s.chain(&alice(), t.id, ["one", "two"]).await;
    let foreign = s.say(&alice(), other.id, user("x")).await;
    let first = s
        .summaries
        .add(&alice(), t.id, m1.id, "first".into(), Some("echo".into()))
        .await
        .unwrap();
    let second = s
        .summaries
        .add(&alice(), t.id, m2.id, "second".into(), None)
        .await
        .unwrap();
    let list = s.summaries.list(&alice(), t.id).await.unwrap();
    assert_eq!(list, vec![second.clone(), first]);
    assert_eq!(
        s.summaries.latest(&alice(), t.id).await.unwrap(),
        Some(second)
    );
    let err = s
        .summaries
        .add(&alice(), t.id, foreign.id, "x".into(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "message_unusable",
        "the thread exists; the message named in the body does not"
    );
    assert!(matches!(
        s.summaries.list(&bob(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
}
