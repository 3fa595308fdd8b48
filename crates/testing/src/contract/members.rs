//! Members of a thread: roles, authors, "shared with me", removal at once.

use chat_threads_application::events::ThreadEvents;
use chat_threads_application::members::{AddMember, MemberService};

use super::*;

fn add(principal: &str, role: &str) -> AddMember {
    AddMember {
        principal: principal.into(),
        role: role.into(),
    }
}

/// The owner adds and changes members; editors write (as authors) into the owner's thread,
/// viewers read; `shared_with_me` lists the thread for its members; removal counts at once.
pub async fn members_and_authors<S: Store>(store: S) {
    let members = MemberService::new(store.clone(), SystemClock, ThreadEvents::default());
    let s = Fixture::new(store);
    let carol = Principal::user("carol", None);
    let t = s.thread(&alice()).await;
    let first = s.say(&alice(), t.id, user("hello")).await;
    assert_eq!(
        first.author.as_ref().map(|a| a.id.as_str()),
        Some("user:alice")
    );

    let (m, created) = members
        .add(&alice(), t.id, add("user:bob", "viewer"))
        .await
        .unwrap();
    assert!(created && m.role == chat_threads_domain::MemberRole::Viewer);
    let (_, created) = members
        .add(&alice(), t.id, add("user:bob", "editor"))
        .await
        .unwrap();
    assert!(!created, "a second add changes the role");
    members
        .add(&alice(), t.id, add("user:carol", "viewer"))
        .await
        .unwrap();
    let err = members
        .add(&bob(), t.id, add("user:dan", "viewer"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    let err = members
        .add(&alice(), t.id, add("user:alice", "viewer"))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        chat_threads_application::ErrorCode::InconsistentRequest
    );

    // The editor writes into alice's thread, as himself; the viewer reads and cannot write.
    let said = s.say(&bob(), t.id, user("from bob")).await;
    assert_eq!(
        said.author.as_ref().map(|a| a.id.as_str()),
        Some("user:bob")
    );
    assert_eq!(said.parent_id, Some(first.id));
    let path = s
        .messages
        .active_path(&carol, t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(path.data.len(), 2);
    let err = s
        .messages
        .append(&carol, t.id, user("no"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    let err = s
        .threads
        .update(
            &bob(),
            t.id,
            UpdateThread {
                title: Some("x".into()),
                ..UpdateThread::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Forbidden(_)),
        "settings stay the owner's: {err:?}"
    );

    let shared = s
        .threads
        .list(
            &bob(),
            ListThreads {
                shared_with_me: true,
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(shared.data.iter().map(|t| t.id).collect::<Vec<_>>(), [t.id]);
    let own = s
        .threads
        .list(&bob(), ListThreads::default())
        .await
        .unwrap();
    assert!(own.data.is_empty(), "bob's own threads are his");
    let listed = members.list(&carol, t.id).await.unwrap();
    assert_eq!(listed.len(), 2);

    // Removal and leaving count at the next request.
    members.remove(&alice(), t.id, "user:carol").await.unwrap();
    let err = s
        .messages
        .active_path(&carol, t.id, None, None, MessageFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::ThreadNotFound), "{err:?}");
    members.remove(&bob(), t.id, "user:bob").await.unwrap();
    let err = s
        .messages
        .append(&bob(), t.id, user("gone"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::ThreadNotFound), "{err:?}");
    let err = members
        .remove(&alice(), t.id, "user:bob")
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::MemberNotFound), "{err:?}");
    assert!(members.list(&alice(), t.id).await.unwrap().is_empty());
    // The thread's messages keep their authors.
    let path = s
        .messages
        .active_path(&alice(), t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    let authors: Vec<_> = path
        .data
        .iter()
        .map(|m| m.author.as_ref().map(|a| a.id.clone()))
        .collect();
    assert_eq!(
        authors,
        [Some("user:alice".to_owned()), Some("user:bob".to_owned())]
    );
}
