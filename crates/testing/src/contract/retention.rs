//! Undoable deletes and the sweeper: restore within the window, forget after it.

use std::time::Duration;

use chat_threads_application::retention::RetentionService;

use super::*;

/// A subtree deleted and restored (the active leaf goes back), a tombstone hidden and restored,
/// deleted messages listed; then a sweep with a window already passed erases the tombstone's
/// content for good, removes the deleted rows and the deleted thread.
pub async fn undo_deletes_and_sweep<S: Store>(store: S) {
    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
    let [u1, a1, u2, a2] = s.chain(&alice(), t.id, ["u1", "a1", "u2", "a2"]).await;

    // The subtree from u2 goes; the active leaf moves to a1; deleted messages are listed.
    let out = s
        .messages
        .delete(&alice(), t.id, u2.id, DeleteScope::Subtree)
        .await
        .unwrap();
    assert_eq!((out.deleted, out.active_leaf_id), (2, Some(a1.id)));
    let trash = s
        .messages
        .tree(
            &alice(),
            t.id,
            None,
            None,
            MessageFilter {
                deleted: Some(DeletedFilter::Only),
                ..MessageFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        trash.data.iter().map(|m| m.id).collect::<Vec<_>>(),
        [u2.id, a2.id]
    );
    let read = s.messages.read(&alice(), t.id, u2.id).await.unwrap();
    assert!(read.deleted_at.is_some() && read.content.as_str() == "u2");

    // Undo: both back, the active leaf back at a2, the count whole again.
    let back = s.messages.restore(&alice(), t.id, u2.id).await.unwrap();
    assert_eq!((back.restored, back.active_leaf_id), (2, Some(a2.id)));
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(
        (thread.message_count, thread.active_leaf_id),
        (4, Some(a2.id))
    );
    let again = s.messages.restore(&alice(), t.id, u2.id).await.unwrap();
    assert_eq!(
        again.restored, 0,
        "restoring a live message changes nothing"
    );

    // A child cannot come back before its parent.
    s.messages
        .delete(&alice(), t.id, u2.id, DeleteScope::Subtree)
        .await
        .unwrap();
    let err = s.messages.restore(&alice(), t.id, a2.id).await.unwrap_err();
    assert!(matches!(err, AppError::NotRestorable(_)), "{err:?}");

    // A tombstone: its content hidden everywhere, then back.
    s.messages
        .delete(&alice(), t.id, u1.id, DeleteScope::Message)
        .await
        .unwrap();
    let tomb = s.messages.read(&alice(), t.id, u1.id).await.unwrap();
    assert!(tomb.is_tombstone() && tomb.content.as_str().is_empty());
    let back = s.messages.restore(&alice(), t.id, u1.id).await.unwrap();
    assert_eq!((back.restored, back.message.content.as_str()), (1, "u1"));
    s.messages
        .delete(&alice(), t.id, u1.id, DeleteScope::Message)
        .await
        .unwrap();

    // A deleted thread of bob's, then a sweep whose window has passed.
    let gone = s.thread(&bob()).await;
    s.say(&bob(), gone.id, user("bye")).await;
    s.threads.delete(&bob(), gone.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let sweeper = RetentionService::new(store, SystemClock, Duration::from_millis(1), 1);
    let swept = sweeper.sweep().await.unwrap();
    assert!(
        swept.erased >= 1 && swept.messages >= 1 && swept.threads >= 1,
        "{swept:?}"
    );
    let err = s.messages.restore(&alice(), t.id, u1.id).await.unwrap_err();
    assert!(matches!(err, AppError::NotRestorable(_)), "{err:?}");
    let tomb = s.messages.read(&alice(), t.id, u1.id).await.unwrap();
    assert!(tomb.is_tombstone(), "the tombstone stays in the tree");
    let err = s.messages.restore(&alice(), t.id, u2.id).await.unwrap_err();
    assert!(matches!(err, AppError::MessageNotFound), "{err:?}");
    let err = s.threads.restore(&bob(), gone.id).await.unwrap_err();
    assert!(matches!(err, AppError::ThreadNotFound), "{err:?}");
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        path.data.iter().map(|m| m.id).collect::<Vec<_>>(),
        [a1.id],
        "the path reads around the tombstone"
    );
}
