//! Edits in place with their revisions, tombstones, and deleting a subtree.

use super::*;

/// `PATCH` keeps id, place and children and the earlier versions; a concurrent edit of a stale
/// version is a conflict; `scope=message` leaves a tombstone the path and exports read around.
pub async fn edit_in_place_and_tombstones<S: Store>(store: S) {
    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
    let [a, b, c] = s
        .chain(&alice(), t.id, ["first words", "reply", "follow-up"])
        .await;
    assert_eq!((a.version, a.edited_at), (1, None));

    let patch = |content: &str| MessagePatch {
        content: Some(content.into()),
        ..MessagePatch::default()
    };
    let a2 = s
        .messages
        .revise(&alice(), t.id, a.id, patch("second words"))
        .await
        .unwrap();
    assert_eq!((a2.id, a2.parent_id, a2.version), (a.id, None, 2));
    assert_eq!(a2.content.as_str(), "second words");
    assert!(a2.edited_at.is_some());
    let a3 = s
        .messages
        .revise(
            &alice(),
            t.id,
            a.id,
            MessagePatch {
                display_text: Some(Some("shown".into())),
                metadata: Some(json!({"k": 1})),
                ..MessagePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((a3.version, a3.content.as_str()), (3, "second words"));
    assert_eq!(a3.display_text.as_deref(), Some("shown"));
    // The earlier versions, oldest first, paged.
    let first = s
        .messages
        .revisions(&alice(), t.id, a.id, None, Some(1))
        .await
        .unwrap();
    assert_eq!(first.data.len(), 1);
    assert_eq!(
        (first.data[0].version, first.data[0].content.as_str()),
        (1, "first words")
    );
    assert!(first.has_more);
    let rest = s
        .messages
        .revisions(&alice(), t.id, a.id, first.next_cursor, Some(10))
        .await
        .unwrap();
    assert_eq!(rest.data.len(), 1);
    assert_eq!(
        (rest.data[0].version, rest.data[0].content.as_str()),
        (2, "second words")
    );
    assert!(!rest.has_more);
    // The tree is unchanged: no sibling, the children still hang below.
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        path.data.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![a.id, b.id, c.id]
    );
    // Nothing to change, a stale version, another owner.
    let same = s
        .messages
        .revise(&alice(), t.id, a.id, MessagePatch::default())
        .await
        .unwrap();
    assert_eq!(same.version, 3, "an empty patch changes nothing");
    // A revision made from version 1 when the message is at 3: someone edited meanwhile.
    let stale = chat_threads_application::messages::Revision {
        from_version: 1,
        content: chat_threads_domain::Content::from_stored("stale".into()),
        display_text: None,
        metadata: chat_threads_domain::Metadata::default(),
        at: chrono::Utc::now(),
    };
    assert!(matches!(
        store
            .revise_message(
                &alice().scope(),
                t.id,
                a.id,
                stale,
                &chat_threads_application::feed::silent
            )
            .await,
        Err(AppError::Conflict(_))
    ));
    assert!(matches!(
        s.messages.revise(&bob(), t.id, a.id, patch("hijack")).await,
        Err(AppError::ThreadNotFound)
    ));

    // b alone: a tombstone, c still attached below it.
    let out = s
        .messages
        .delete(&alice(), t.id, b.id, DeleteScope::Message)
        .await
        .unwrap();
    assert_eq!((out.deleted, out.active_leaf_id), (1, Some(c.id)));
    let tomb = s.messages.get(&alice(), t.id, b.id).await.unwrap();
    assert!(tomb.is_tombstone());
    assert_eq!(tomb.content.as_str(), "");
    assert!(tomb.metadata.to_value().as_object().unwrap().is_empty());
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        path.data.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![a.id, c.id],
        "the path reads around the tombstone"
    );
    let tree = s
        .messages
        .tree(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert!(tree.data.iter().any(|m| m.id == b.id && m.is_tombstone()));
    let c_now = s.messages.get(&alice(), t.id, c.id).await.unwrap();
    assert_eq!(c_now.parent_id, Some(b.id));
    // A tombstone cannot be edited, in place or as a sibling; deleting it again returns it.
    assert!(matches!(
        s.messages.revise(&alice(), t.id, b.id, patch("back")).await,
        Err(AppError::Domain(
            chat_threads_domain::DomainError::MessageUnusable(..)
        ))
    ));
    assert!(
        s.messages
            .edit(
                &alice(),
                t.id,
                b.id,
                chat_threads_application::EditInput {
                    content: "back".into(),
                    ..Default::default()
                },
            )
            .await
            .is_err()
    );
    let again = s
        .messages
        .delete(&alice(), t.id, b.id, DeleteScope::Message)
        .await
        .unwrap();
    assert_eq!(again.deleted, 1);
    // Tombstoning the edited message hides its revisions with its content; a restore brings
    // both back.
    s.messages
        .delete(&alice(), t.id, a.id, DeleteScope::Message)
        .await
        .unwrap();
    let hidden = s
        .messages
        .revisions(&alice(), t.id, a.id, None, None)
        .await
        .unwrap_err();
    assert!(matches!(hidden, AppError::MessageNotFound), "{hidden:?}");
    let back = s.messages.restore(&alice(), t.id, a.id).await.unwrap();
    assert_eq!(back.restored, 1);
    assert!(!back.message.is_tombstone() && !back.message.content.as_str().is_empty());
    let kept = s
        .messages
        .revisions(&alice(), t.id, a.id, None, None)
        .await
        .unwrap();
    assert!(!kept.data.is_empty());
    // Appending still works below the tombstones, and the thread keeps its count.
    s.say(&alice(), t.id, user("more")).await;
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(thread.message_count, 4);
}

/// Deleting a message removes its subtree and moves the active leaf to its parent.
pub async fn delete_message_subtree<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let [a, b, c] = s.chain(&alice(), t.id, ["a", "b", "c"]).await;
    let b2 = s
        .say(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(a.id),
                ..assistant("b2")
            },
        )
        .await;
    s.messages
        .set_active_leaf(&alice(), t.id, c.id)
        .await
        .unwrap();

    let out = s
        .messages
        .delete(&alice(), t.id, b.id, DeleteScope::Subtree)
        .await
        .unwrap();
    assert_eq!(out.deleted, 2, "b and its child c");
    assert_eq!(out.active_leaf_id, Some(a.id));
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(thread.message_count, 2);
    assert_eq!(thread.active_leaf_id, Some(a.id));
    assert!(matches!(
        s.messages.get(&alice(), t.id, c.id).await,
        Err(AppError::MessageNotFound)
    ));
    let branches = s.messages.branches(&alice(), t.id).await.unwrap();
    assert_eq!(
        branches.iter().map(|b| b.leaf.id).collect::<Vec<_>>(),
        vec![b2.id]
    );
    // Deleted messages stay visible in the tree view, marked.
    let tree = s
        .messages
        .tree(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(tree.data.len(), 4);
    assert_eq!(
        tree.data.iter().filter(|m| m.deleted_at.is_some()).count(),
        2
    );
    assert!(matches!(
        s.messages
            .delete(&alice(), t.id, b.id, DeleteScope::Subtree)
            .await,
        Err(AppError::MessageNotFound)
    ));

    let out = s
        .messages
        .delete(&alice(), t.id, a.id, DeleteScope::Subtree)
        .await
        .unwrap();
    assert_eq!(
        out,
        chat_threads_application::DeleteOutcome {
            deleted: 2,
            active_leaf_id: None
        }
    );
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .message_count,
        0
    );
    let fresh = s.say(&alice(), t.id, user("again")).await;
    assert_eq!((fresh.parent_id, fresh.depth), (None, 0));
}
