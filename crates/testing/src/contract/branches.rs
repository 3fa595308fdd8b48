//! Branches: editing as a sibling, switching the active leaf, paging the tree, forking.

use super::*;

/// Editing adds a sibling that becomes the active leaf; branches and switching between them.
pub async fn edit_branches_and_switch<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let [q, a1, q2] = s
        .chain(&alice(), t.id, ["question", "answer 1", "follow-up"])
        .await;

    let edited = s
        .messages
        .edit(
            &alice(),
            t.id,
            q2.id,
            chat_threads_application::EditInput {
                content: "better follow-up".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.parent_id, Some(a1.id));
    assert_eq!(edited.depth, q2.depth);
    assert_eq!(edited.role, Role::User);
    assert!(edited.edited_at.is_some());
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        texts(&path.data),
        ["question", "answer 1", "better follow-up"]
    );

    let branches = s.messages.branches(&alice(), t.id).await.unwrap();
    let leaves: Vec<_> = branches.iter().map(|b| (b.leaf.id, b.active)).collect();
    assert_eq!(
        leaves,
        vec![(edited.id, true), (q2.id, false)],
        "newest first, active marked"
    );

    let thread = s
        .messages
        .set_active_leaf(&alice(), t.id, q2.id)
        .await
        .unwrap();
    assert_eq!(thread.active_leaf_id, Some(q2.id));
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&path.data), ["question", "answer 1", "follow-up"]);

    // Editing the root adds a second root.
    let root2 = s
        .messages
        .edit(
            &alice(),
            t.id,
            q.id,
            chat_threads_application::EditInput {
                content: "question v2".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((root2.parent_id, root2.depth), (None, 0));
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&path.data), ["question v2"]);
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .message_count,
        5
    );

    let other = s.thread(&alice()).await;
    let err = s
        .messages
        .set_active_leaf(&alice(), other.id, q.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "message_unusable");
    let err = s
        .messages
        .edit(
            &alice(),
            t.id,
            MessageId::new(),
            chat_threads_application::EditInput {
                content: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "message_not_found");
}

/// The active path is read right whatever branches lie around it: a branch made low in the
/// path, newer messages on another branch, a leaf switched back to an old branch or to the
/// middle of one; every page size, and paging back by cursor to the root.
pub async fn active_path_among_branches<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let old = s
        .chain(
            &alice(),
            t.id,
            ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"],
        )
        .await;
    // A branch off m1, newer than the whole old branch.
    let e2 = s
        .messages
        .edit(
            &alice(),
            t.id,
            old[2].id,
            chat_threads_application::EditInput {
                content: "e2".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let [_, _, e5] = s.chain(&alice(), t.id, ["e3", "e4", "e5"]).await;
    // And a regenerated last answer, newer still, that is not on the path read first.
    let e5b = s
        .say(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(e5.parent_id.unwrap()),
                ..assistant("e5b")
            },
        )
        .await;
    assert_eq!(e2.parent_id, Some(old[1].id));

    let cases: [(MessageId, &[&str]); 4] = [
        (e5.id, &["m0", "m1", "e2", "e3", "e4", "e5"]),
        (e5b.id, &["m0", "m1", "e2", "e3", "e4", "e5b"]),
        (old[7].id, &["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]),
        (old[4].id, &["m0", "m1", "m2", "m3", "m4"]),
    ];
    for (leaf, want) in cases {
        s.messages
            .set_active_leaf(&alice(), t.id, leaf)
            .await
            .unwrap();
        let all = s
            .messages
            .active_path(&alice(), t.id, None, None, MessageFilter::default())
            .await
            .unwrap();
        assert_eq!(texts(&all.data), want, "whole path to {leaf}");
        assert!(!all.has_more);
        for limit in 1..=want.len() as u32 + 1 {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor = None;
            loop {
                let page = s
                    .messages
                    .active_path(
                        &alice(),
                        t.id,
                        cursor,
                        Some(limit),
                        MessageFilter::default(),
                    )
                    .await
                    .unwrap();
                assert!(page.data.len() <= limit as usize);
                let mut texts: Vec<String> =
                    texts(&page.data).into_iter().map(str::to_owned).collect();
                texts.append(&mut seen);
                seen = texts;
                if !page.has_more {
                    break;
                }
                cursor = page.next_cursor;
            }
            assert_eq!(seen, want, "paged by {limit} to {leaf}");
        }
    }
}

/// The whole tree pages forward by cursor with no gap or repeat.
pub async fn tree_pages<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let root = s.say(&alice(), t.id, user("root")).await;
    let mut expected = vec![root.id];
    for i in 0..11 {
        let m = s
            .say(
                &alice(),
                t.id,
                AppendMessage {
                    parent_id: Some(root.id),
                    ..assistant(&format!("r{i}"))
                },
            )
            .await;
        expected.push(m.id);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .messages
            .tree(&alice(), t.id, cursor, Some(5), MessageFilter::default())
            .await
            .unwrap();
        seen.extend(page.data.iter().map(|m| m.id));
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(seen, expected);
    assert_eq!(s.messages.branches(&alice(), t.id).await.unwrap().len(), 11);
}

/// Forking copies the path (optionally with the branches below) into a new thread.
pub async fn fork_thread<S: Store>(store: S) {
    let s = Fixture::new(store);
    let (t, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Origin".into()),
                product: Some("docs".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    let [a, b] = s.chain(&alice(), t.id, ["a", "b"]).await;
    s.messages
        .feedback(&alice(), t.id, b.id, Some(("up".into(), None)))
        .await
        .unwrap();
    s.say(&alice(), t.id, user("c")).await;
    s.say(
        &alice(),
        t.id,
        AppendMessage {
            parent_id: Some(b.id),
            ..user("c-alt")
        },
    )
    .await;

    let fork = s
        .messages
        .fork(&alice(), t.id, b.id, ForkMode::Path, None)
        .await
        .unwrap();
    assert_ne!(fork.id, t.id);
    assert_eq!(fork.title.as_str(), "Origin");
    assert_eq!(fork.product.as_ref().map(|p| p.as_str()), Some("docs"));
    let origin = fork.forked_from.unwrap();
    assert_eq!((origin.thread_id, origin.message_id), (t.id, b.id));
    assert_eq!(fork.message_count, 2);
    let path = s
        .messages
        .active_path(&alice(), fork.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&path.data), ["a", "b"]);
    assert!(
        path.data
            .iter()
            .all(|m| m.thread_id == fork.id && m.id != a.id && m.id != b.id)
    );
    assert!(path.data[1].feedback.is_none(), "judgements are not copied");
    assert_eq!(s.threads.get(&alice(), fork.id, false).await.unwrap(), fork);

    let wide = s
        .messages
        .fork(
            &alice(),
            t.id,
            b.id,
            ForkMode::PathAndBranches,
            Some("Wide".into()),
        )
        .await
        .unwrap();
    assert_eq!(wide.message_count, 4);
    assert_eq!(wide.title.as_str(), "Wide");
    let leaves: HashSet<String> = s
        .messages
        .branches(&alice(), wide.id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.leaf.content.into_inner())
        .collect();
    assert_eq!(
        leaves,
        HashSet::from(["c".to_string(), "c-alt".to_string()])
    );
    let path = s
        .messages
        .active_path(&alice(), wide.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        texts(&path.data),
        ["a", "b"],
        "the copy of the fork point is the active leaf"
    );

    let err = s
        .messages
        .fork(&bob(), t.id, b.id, ForkMode::Path, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::ThreadNotFound));
    let err = s
        .messages
        .fork(&alice(), t.id, MessageId::new(), ForkMode::Path, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "message_unusable");
}
