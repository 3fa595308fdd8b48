//! The contract every store must pass, written once and run against the in-memory store, a
//! SQLite file and PostgreSQL. Each check drives the real services over a fresh store.
//!
//! Use [`crate::contract_tests!`] to instantiate the suite for a store factory. One long file on
//! purpose: it is test code, one check per function, read top to bottom like a specification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashSet;

use chat_threads_domain::{Limits, MessageId, Principal, Role, SCOPE_ORG_ADMIN, ThreadStatus};
use serde_json::json;

use chat_threads_application::billing::{BalanceStore, Charge, ChargeKind, Hold, NewCredit};
use chat_threads_application::messages::{DeleteScope, MessagePatch};
use chat_threads_application::replies::ReplyStore;
use chat_threads_application::transfer::{ImportOutcome, ImportStore, TransferService};
use chat_threads_application::usage::{Usage, UsageStore};
use chat_threads_application::{
    AppError, AppendMessage, CreateThread, DeletedFilter, ForkMode, ListThreads, MessageFilter,
    MessageService, MessageStore, SearchStore, SummaryService, SummaryStore, SystemClock,
    ThreadService, ThreadStore, UpdateThread,
};

/// A store implementing every port the contract checks.
pub trait Store:
    ThreadStore
    + MessageStore
    + SummaryStore
    + SearchStore
    + ImportStore
    + ReplyStore
    + UsageStore
    + BalanceStore
    + chat_threads_application::files::FileStore
    + chat_threads_application::files::BlobStore
{
}
impl<
    T: ThreadStore
        + MessageStore
        + SummaryStore
        + SearchStore
        + ImportStore
        + ReplyStore
        + UsageStore
        + BalanceStore
        + chat_threads_application::files::FileStore
        + chat_threads_application::files::BlobStore,
> Store for T
{
}

/// The three services over one store.
#[derive(Debug)]
pub struct Services<S> {
    pub threads: ThreadService<S, SystemClock>,
    pub messages: MessageService<S, SystemClock>,
    pub summaries: SummaryService<S, SystemClock>,
    pub transfer: TransferService<S, SystemClock>,
}

pub fn services<S: Store>(store: S) -> Services<S> {
    Services {
        threads: ThreadService::new(store.clone(), SystemClock, Limits::default()),
        messages: MessageService::new(store.clone(), SystemClock, Limits::default()),
        summaries: SummaryService::new(store.clone(), SystemClock, Limits::default()),
        transfer: TransferService::new(store, SystemClock, Limits::default()),
    }
}

fn alice() -> Principal {
    Principal::user("alice", None)
}
fn bob() -> Principal {
    Principal::user("bob", None)
}
/// Alice as a member of an organization (the same owner as `alice()`).
fn alice_in(org: &str) -> Principal {
    Principal::user("alice", Some(org))
}

fn user(text: &str) -> AppendMessage {
    AppendMessage {
        content: text.into(),
        ..AppendMessage::default()
    }
}

fn assistant(text: &str) -> AppendMessage {
    AppendMessage {
        role: Some("assistant".into()),
        content: text.into(),
        ..AppendMessage::default()
    }
}

fn texts(messages: &[chat_threads_domain::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

/// Create, read, update, archive a thread; external ids are unique per owner.
pub async fn thread_lifecycle<S: Store>(store: S) {
    let s = services(store);
    let (t, created) = s
        .threads
        .create(
            &alice_in("acme"),
            CreateThread {
                title: Some("  Planning  ".into()),
                product: Some("co_pilot".into()),
                org_id: Some("acme".into()),
                document_id: Some("doc-1".into()),
                external_id: Some("ext-1".into()),
                metadata: Some(json!({"source": "web", "n": 1})),
                system_prompt: Some("Be brief.".into()),
                model: Some("echo".into()),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(t.title.as_str(), "Planning");
    let got = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(got, t, "a thread reads back exactly as created");

    let (again, created) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                external_id: Some("ext-1".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(
        again.id, t.id,
        "an existing external id returns the existing thread"
    );
    let (bobs, created) = s
        .threads
        .create(
            &bob(),
            CreateThread {
                external_id: Some("ext-1".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    assert!(
        created && bobs.id != t.id,
        "external ids are unique per owner only"
    );

    let updated = s
        .threads
        .update(
            &alice(),
            t.id,
            UpdateThread {
                title: Some("Renamed".into()),
                metadata: Some(json!({"k": "v"})),
                system_prompt: Some(None),
                model: Some(Some("gpt-4o".into())),
                status: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.title.as_str(), "Renamed");
    assert_eq!(updated.metadata.to_value(), json!({"k": "v"}));
    assert_eq!(updated.system_prompt, None);
    assert_eq!(updated.model.as_ref().map(|m| m.as_str()), Some("gpt-4o"));
    assert!(updated.updated_at >= t.updated_at);

    let archived = s.threads.archive(&alice(), t.id).await.unwrap();
    assert_eq!(archived.status, ThreadStatus::Archived);
    let bad = s
        .threads
        .update(
            &alice(),
            t.id,
            UpdateThread {
                status: Some("gone".into()),
                ..UpdateThread::default()
            },
        )
        .await;
    assert_eq!(bad.unwrap_err().code(), "validation_failed");
    let too_long = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("x".repeat(201)),
                ..CreateThread::default()
            },
        )
        .await;
    assert_eq!(too_long.unwrap_err().code(), "limit_exceeded");
}

/// Another owner's thread does not exist for them, for reads and writes alike.
pub async fn owners_are_isolated<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let m = s
        .messages
        .append(&alice(), t.id, user("secret"))
        .await
        .unwrap();
    assert!(matches!(
        s.threads.get(&bob(), t.id, true).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.messages.append(&bob(), t.id, user("x")).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.messages.get(&bob(), t.id, m.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.delete(&bob(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.purge(&bob(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    let page = s
        .threads
        .list(&bob(), ListThreads::default())
        .await
        .unwrap();
    assert!(page.data.is_empty());
    assert!(
        s.threads
            .search(&bob(), "secret", None, None)
            .await
            .unwrap()
            .data
            .is_empty()
    );
    // Bob cannot hang a message under Alice's message either.
    let (bt, _) = s
        .threads
        .create(&bob(), CreateThread::default())
        .await
        .unwrap();
    let err = s
        .messages
        .append(
            &bob(),
            bt.id,
            AppendMessage {
                parent_id: Some(m.id),
                ..user("x")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "parent_not_found",
        "another owner's message is unknown, not foreign"
    );
    // Alice's data is unchanged.
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .message_count,
        1
    );
}

/// Soft delete hides, restore brings back, purge removes everything.
pub async fn delete_restore_purge<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let m = s.messages.append(&alice(), t.id, user("hi")).await.unwrap();
    s.summaries
        .add(&alice(), t.id, m.id, "greeting".into(), None)
        .await
        .unwrap();

    let deleted = s.threads.delete(&alice(), t.id).await.unwrap();
    assert!(deleted.deleted_at.is_some());
    assert!(matches!(
        s.threads.get(&alice(), t.id, false).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(s.threads.get(&alice(), t.id, true).await.is_ok());
    assert!(matches!(
        s.messages.append(&alice(), t.id, user("x")).await,
        Err(AppError::ThreadNotFound)
    ));
    let live = s
        .threads
        .list(&alice(), ListThreads::default())
        .await
        .unwrap();
    assert!(live.data.is_empty());
    let trash = s
        .threads
        .list(
            &alice(),
            ListThreads {
                deleted: DeletedFilter::Only,
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(trash.data.len(), 1);

    let restored = s.threads.restore(&alice(), t.id).await.unwrap();
    assert!(restored.deleted_at.is_none());
    assert_eq!(restored.message_count, 1);
    assert_eq!(
        s.messages
            .get(&alice(), t.id, m.id)
            .await
            .unwrap()
            .content
            .as_str(),
        "hi"
    );

    s.threads.purge(&alice(), t.id).await.unwrap();
    assert!(matches!(
        s.threads.get(&alice(), t.id, true).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.purge(&alice(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(
        s.threads
            .search(&alice(), "hi", None, None)
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

/// Appends chain under the active leaf; the active path pages backwards by cursor.
pub async fn append_and_read_active_path<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let input = if i % 2 == 0 {
            user(&format!("m{i}"))
        } else {
            assistant(&format!("m{i}"))
        };
        let m = s.messages.append(&alice(), t.id, input).await.unwrap();
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
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let (other, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let a = s.messages.append(&alice(), t.id, user("a")).await.unwrap();
    let b = s
        .messages
        .append(&alice(), t.id, assistant("b"))
        .await
        .unwrap();
    let foreign = s
        .messages
        .append(&alice(), other.id, user("f"))
        .await
        .unwrap();

    let under_a = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(a.id),
                ..user("a2")
            },
        )
        .await
        .unwrap();
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

/// Editing adds a sibling that becomes the active leaf; branches and switching between them.
pub async fn edit_branches_and_switch<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let q = s
        .messages
        .append(&alice(), t.id, user("question"))
        .await
        .unwrap();
    let a1 = s
        .messages
        .append(&alice(), t.id, assistant("answer 1"))
        .await
        .unwrap();
    let q2 = s
        .messages
        .append(&alice(), t.id, user("follow-up"))
        .await
        .unwrap();

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

    let (other, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
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

/// Deleting a message removes its subtree and moves the active leaf to its parent.
/// `PATCH` keeps id, place and children and the earlier versions; a concurrent edit of a stale
/// version is a conflict; `scope=message` leaves a tombstone the path and exports read around.
pub async fn edit_in_place_and_tombstones<S: Store>(store: S) {
    let s = services(store.clone());
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let a = s
        .messages
        .append(&alice(), t.id, user("first words"))
        .await
        .unwrap();
    let b = s
        .messages
        .append(&alice(), t.id, assistant("reply"))
        .await
        .unwrap();
    let c = s
        .messages
        .append(&alice(), t.id, user("follow-up"))
        .await
        .unwrap();
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
            .revise_message(&alice().scope(), t.id, a.id, stale)
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
            chat_threads_domain::DomainError::UnusableMessage(..)
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
    // Tombstoning the edited message drops its revisions.
    s.messages
        .delete(&alice(), t.id, a.id, DeleteScope::Message)
        .await
        .unwrap();
    let gone = s
        .messages
        .revisions(&alice(), t.id, a.id, None, None)
        .await
        .unwrap();
    assert!(gone.data.is_empty());
    // Appending still works below the tombstones, and the thread keeps its count.
    s.messages
        .append(&alice(), t.id, user("more"))
        .await
        .unwrap();
    let thread = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(thread.message_count, 4);
}

pub async fn delete_message_subtree<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let a = s.messages.append(&alice(), t.id, user("a")).await.unwrap();
    let b = s
        .messages
        .append(&alice(), t.id, assistant("b"))
        .await
        .unwrap();
    let c = s.messages.append(&alice(), t.id, user("c")).await.unwrap();
    let b2 = s
        .messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(a.id),
                ..assistant("b2")
            },
        )
        .await
        .unwrap();
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
    let fresh = s
        .messages
        .append(&alice(), t.id, user("again"))
        .await
        .unwrap();
    assert_eq!((fresh.parent_id, fresh.depth), (None, 0));
}

/// The whole tree pages forward by cursor with no gap or repeat.
pub async fn tree_pages<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let root = s
        .messages
        .append(&alice(), t.id, user("root"))
        .await
        .unwrap();
    let mut expected = vec![root.id];
    for i in 0..11 {
        let m = s
            .messages
            .append(
                &alice(),
                t.id,
                AppendMessage {
                    parent_id: Some(root.id),
                    ..assistant(&format!("r{i}"))
                },
            )
            .await
            .unwrap();
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
    let s = services(store);
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
    let a = s.messages.append(&alice(), t.id, user("a")).await.unwrap();
    let b = s
        .messages
        .append(&alice(), t.id, assistant("b"))
        .await
        .unwrap();
    s.messages
        .feedback(&alice(), t.id, b.id, Some(("up".into(), None)))
        .await
        .unwrap();
    s.messages.append(&alice(), t.id, user("c")).await.unwrap();
    s.messages
        .append(
            &alice(),
            t.id,
            AppendMessage {
                parent_id: Some(b.id),
                ..user("c-alt")
            },
        )
        .await
        .unwrap();

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

/// Feedback and reactions are set, replaced and cleared; bad ones are refused.
pub async fn feedback_and_reactions<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let m = s
        .messages
        .append(&alice(), t.id, assistant("answer"))
        .await
        .unwrap();
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
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let (other, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let m1 = s
        .messages
        .append(&alice(), t.id, user("one"))
        .await
        .unwrap();
    let m2 = s
        .messages
        .append(&alice(), t.id, assistant("two"))
        .await
        .unwrap();
    let foreign = s
        .messages
        .append(&alice(), other.id, user("x"))
        .await
        .unwrap();
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

/// Thread lists page by keyset with no gap or repeat, and every filter applies.
pub async fn list_filters_and_pages<S: Store>(store: S) {
    let s = services(store);
    let mut created = Vec::new();
    for i in 0..23 {
        let org = if i % 3 == 0 { "acme" } else { "globex" };
        let input = CreateThread {
            title: Some(format!("thread {i}")),
            product: Some(
                if i % 2 == 0 {
                    "co_pilot"
                } else {
                    "doc_creator"
                }
                .into(),
            ),
            org_id: Some(org.into()),
            document_id: (i == 5).then(|| "doc-5".to_string()),
            external_id: Some(format!("ext-{i}")),
            ..CreateThread::default()
        };
        created.push(s.threads.create(&alice_in(org), input).await.unwrap().0);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .threads
            .list(
                &alice(),
                ListThreads {
                    cursor,
                    limit: Some(7),
                    ..ListThreads::default()
                },
            )
            .await
            .unwrap();
        assert!(page.data.len() <= 7);
        seen.extend(page.data.iter().map(|t| t.id));
        if !page.has_more {
            assert!(page.next_cursor.is_none());
            break;
        }
        cursor = page.next_cursor;
    }
    let expected: Vec<_> = created.iter().rev().map(|t| t.id).collect();
    assert_eq!(seen, expected, "newest first, every thread once");

    let count = |f: ListThreads| {
        let threads = &s.threads;
        async move {
            threads
                .list(
                    &alice(),
                    ListThreads {
                        limit: Some(100),
                        ..f
                    },
                )
                .await
                .unwrap()
                .data
                .len()
        }
    };
    assert_eq!(
        count(ListThreads {
            product: Some("co_pilot".into()),
            ..ListThreads::default()
        })
        .await,
        12
    );
    assert_eq!(
        count(ListThreads {
            org_id: Some("acme".into()),
            ..ListThreads::default()
        })
        .await,
        8
    );
    assert_eq!(
        count(ListThreads {
            document_id: Some("doc-5".into()),
            ..ListThreads::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(ListThreads {
            external_id: Some("ext-7".into()),
            ..ListThreads::default()
        })
        .await,
        1
    );
    s.threads.archive(&alice(), created[0].id).await.unwrap();
    s.threads.delete(&alice(), created[1].id).await.unwrap();
    assert_eq!(
        count(ListThreads {
            status: Some("archived".into()),
            ..ListThreads::default()
        })
        .await,
        1
    );
    assert_eq!(count(ListThreads::default()).await, 22);
    assert_eq!(
        count(ListThreads {
            deleted: DeletedFilter::Include,
            ..ListThreads::default()
        })
        .await,
        23
    );
    assert_eq!(
        count(ListThreads {
            deleted: DeletedFilter::Only,
            ..ListThreads::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(ListThreads {
            product: Some("co_pilot".into()),
            org_id: Some("acme".into()),
            ..ListThreads::default()
        })
        .await,
        4
    );
    let bad = s
        .threads
        .list(
            &alice(),
            ListThreads {
                limit: Some(101),
                ..ListThreads::default()
            },
        )
        .await;
    assert_eq!(bad.unwrap_err().code(), "validation_failed");
    let bad = s
        .threads
        .list(
            &alice(),
            ListThreads {
                cursor: Some("x".into()),
                ..ListThreads::default()
            },
        )
        .await;
    assert!(matches!(bad, Err(AppError::InvalidCursor)));
}

/// Titles and message content are searchable by word.
pub async fn text_search<S: Store>(store: S) {
    let s = services(store);
    let (t1, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Quarterly budget review".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    let (t2, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Holiday plans".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    s.messages
        .append(&alice(), t1.id, user("What is the marketing budget?"))
        .await
        .unwrap();
    let hit = s
        .messages
        .append(
            &alice(),
            t2.id,
            assistant("Book the flights to Lisbon early"),
        )
        .await
        .unwrap();
    let gone = s
        .messages
        .append(&alice(), t2.id, user("Lisbon hotels please"))
        .await
        .unwrap();
    s.messages
        .delete(&alice(), t2.id, gone.id, DeleteScope::Subtree)
        .await
        .unwrap();

    let by_title = s
        .threads
        .list(
            &alice(),
            ListThreads {
                text: Some("budget".into()),
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_title.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t1.id]
    );
    let by_title = s
        .threads
        .list(
            &alice(),
            ListThreads {
                text: Some("holiday plans".into()),
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_title.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t2.id]
    );

    let hits = s
        .threads
        .search(&alice(), "lisbon", None, None)
        .await
        .unwrap()
        .data;
    assert_eq!(hits.len(), 1, "deleted messages are not found: {hits:?}");
    assert_eq!((hits[0].thread_id, hits[0].message_id), (t2.id, hit.id));
    assert_eq!(hits[0].thread_title, "Holiday plans");
    assert!(hits[0].snippet.contains("[Lisbon]"), "{}", hits[0].snippet);
    assert!(
        s.threads
            .search(&alice(), "nothing-matches-this", None, None)
            .await
            .unwrap()
            .data
            .is_empty()
    );
    // Search syntax characters are taken literally, never as an error.
    assert!(
        s.threads
            .search(&alice(), "\"budget* OR (", None, None)
            .await
            .is_ok()
    );
    let err = s
        .threads
        .search(&alice(), "   ", None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    // Search pages newest first with a cursor: no hit twice, none skipped.
    for i in 0..5 {
        s.messages
            .append(&alice(), t2.id, user(&format!("porto trip day {i}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .threads
            .search(&alice(), "porto", cursor.take(), Some(2))
            .await
            .unwrap();
        assert!(page.data.len() <= 2);
        seen.extend(page.data.iter().map(|h| h.snippet.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).rev().map(|i| format!("day {i}")).collect();
    assert_eq!(seen.len(), 5, "{seen:?}");
    for (snippet, day) in seen.iter().zip(&expected) {
        assert!(snippet.contains(day.as_str()), "{seen:?}");
    }
    let err = s
        .threads
        .search(&alice(), "porto", Some("garbage".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cursor");
}

/// Sixteen concurrent appends to one thread all land, in one chain, with an exact count.
pub async fn concurrent_appends<S: Store>(store: S) {
    let s = std::sync::Arc::new(services(store));
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
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
    let s = std::sync::Arc::new(services(store));
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let (bobs, _) = s
        .threads
        .create(&bob(), CreateThread::default())
        .await
        .unwrap();
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
    let s = std::sync::Arc::new(services(store));
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
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

/// A deep chain reads its last messages by walking parent links.
pub async fn deep_chain<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    for i in 0..120 {
        s.messages
            .append(&alice(), t.id, user(&format!("n{i}")))
            .await
            .unwrap();
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

/// An org admin reads the org's threads but cannot change them; members file threads under
/// their own org only.
pub async fn org_admin_reads_the_org<S: Store>(store: S) {
    let s = services(store);
    let dave = Principal::user("dave", Some("acme"));
    let mut carol = Principal::user("carol", Some("acme"));
    carol.scopes.push(SCOPE_ORG_ADMIN.into());
    let outsider = {
        let mut p = Principal::user("erin", Some("globex"));
        p.scopes.push(SCOPE_ORG_ADMIN.into());
        p
    };
    let (t, _) = s
        .threads
        .create(&dave, CreateThread::default())
        .await
        .unwrap();
    assert_eq!(
        t.org_id.as_ref().map(|o| o.as_str()),
        Some("acme"),
        "defaults to the member's org"
    );
    let m = s.messages.append(&dave, t.id, user("plan")).await.unwrap();
    let err = s
        .threads
        .create(
            &dave,
            CreateThread {
                org_id: Some("globex".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    // Without an organization, there is none to file a thread under.
    let err = s
        .threads
        .create(
            &bob(),
            CreateThread {
                org_id: Some("acme".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");

    assert_eq!(s.threads.get(&carol, t.id, false).await.unwrap().id, t.id);
    let listed = s
        .threads
        .list(&carol, ListThreads::default())
        .await
        .unwrap();
    assert_eq!(
        listed.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t.id]
    );
    let path = s
        .messages
        .active_path(&carol, t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&path.data), ["plan"]);
    assert!(s.messages.get(&carol, t.id, m.id).await.is_ok());

    assert!(matches!(
        s.messages.append(&carol, t.id, user("x")).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.delete(&carol, t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.messages
            .reaction(&carol, t.id, m.id, Some("👍".into()))
            .await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.get(&outsider, t.id, false).await,
        Err(AppError::ThreadNotFound)
    ));
    let plain = Principal::user("carol", Some("acme"));
    assert!(matches!(
        s.threads.get(&plain, t.id, false).await,
        Err(AppError::ThreadNotFound)
    ));
    assert_eq!(
        s.threads
            .get(&dave, t.id, false)
            .await
            .unwrap()
            .message_count,
        1
    );
}

/// Message lists narrow by role and by words, in both views.
pub async fn message_filters<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    for (i, text) in [
        "Plan the Lisbon trip",
        "Lisbon in May is lovely",
        "Book flights",
        "Flights booked to Lisbon",
    ]
    .iter()
    .enumerate()
    {
        let input = if i % 2 == 0 {
            user(text)
        } else {
            assistant(text)
        };
        s.messages.append(&alice(), t.id, input).await.unwrap();
    }
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

/// Export then import reproduces a thread's tree, active branch, judgements and summaries under
/// new ids; re-importing skips it; bad files are refused whole.
pub async fn export_and_import<S: Store>(store: S) {
    let s = services(store);
    let (t, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Trip".into()),
                external_id: Some("trip-1".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    let q = s
        .messages
        .append(&alice(), t.id, user("Where to?"))
        .await
        .unwrap();
    let a = s
        .messages
        .append(&alice(), t.id, assistant("Lisbon"))
        .await
        .unwrap();
    s.messages
        .reaction(&alice(), t.id, a.id, Some("👍".into()))
        .await
        .unwrap();
    let gone = s
        .messages
        .append(&alice(), t.id, user("oops"))
        .await
        .unwrap();
    s.messages
        .delete(&alice(), t.id, gone.id, DeleteScope::Subtree)
        .await
        .unwrap();
    s.messages
        .edit(
            &alice(),
            t.id,
            q.id,
            chat_threads_application::EditInput {
                content: "Where to in May?".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.messages
        .set_active_leaf(&alice(), t.id, a.id)
        .await
        .unwrap();
    s.summaries
        .add(&alice(), t.id, a.id, "Lisbon chosen".into(), None)
        .await
        .unwrap();

    let lines = s
        .transfer
        .export_thread(&alice(), t.id)
        .await
        .unwrap()
        .lines()
        .await
        .unwrap();
    assert_eq!(
        lines.len(),
        1 + 4 + 1,
        "thread, four messages (one deleted), one summary"
    );
    let body = lines.join("\n");
    let out = s.transfer.import_ndjson(&bob(), &body).await.unwrap();
    let ImportOutcome::Imported { id, messages, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(*messages, 4);
    let copy = s.threads.get(&bob(), *id, false).await.unwrap();
    assert_eq!((copy.title.as_str(), copy.message_count), ("Trip", 3));
    assert_eq!(copy.owner, bob().owner());
    let path = s
        .messages
        .active_path(&bob(), *id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        texts(&path.data),
        ["Where to?", "Lisbon"],
        "the active branch survives"
    );
    assert_eq!(
        path.data[1].reaction.as_ref().map(|r| r.as_str()),
        Some("👍")
    );
    assert_eq!(s.messages.branches(&bob(), *id).await.unwrap().len(), 2);
    let summaries = s.summaries.list(&bob(), *id).await.unwrap();
    assert_eq!(summaries[0].covers_message_id, path.data[1].id);

    // The same file again: skipped (same external id), nothing duplicated.
    let again = s.transfer.import_ndjson(&bob(), &body).await.unwrap();
    assert!(
        matches!(&again[0], ImportOutcome::Skipped { .. }),
        "{again:?}"
    );
    // Exporting everything covers every live thread.
    s.threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let (extra, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    s.threads.delete(&alice(), extra.id).await.unwrap();
    let all = s.transfer.export_all(&alice()).lines().await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|l| l.contains("\"type\":\"thread\""))
            .count(),
        2,
        "the deleted thread is left out"
    );

    // Bad files are refused whole, naming the line.
    let orphan = body
        .lines()
        .filter(|l| !l.contains("\"type\":\"thread\""))
        .collect::<Vec<_>>()
        .join("\n");
    let err = s.transfer.import_ndjson(&bob(), &orphan).await.unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let mut reordered: Vec<&str> = body.lines().collect();
    reordered.swap(1, 3);
    let err = s
        .transfer
        .import_ndjson(&bob(), &reordered.join("\n"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    assert!(s.transfer.import_ndjson(&bob(), "{not json").await.is_err());
    assert_eq!(
        s.threads
            .list(&bob(), ListThreads::default())
            .await
            .unwrap()
            .data
            .len(),
        1,
        "nothing half-imported"
    );
}

/// Responses never grow with the data: pages stop at `limits.page_bytes` (with a cursor to the
/// rest), and an export reads the store in small batches, parents always before children.
pub async fn pages_and_exports_are_bounded<S: Store>(store: S) {
    let s = services(store);
    let budget = Limits::default().page_bytes;
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let big = "x".repeat(budget * 2 / 5); // two fit in a page, three do not
    for _ in 0..5 {
        s.messages.append(&alice(), t.id, user(&big)).await.unwrap();
    }
    // The whole path (no limit) and a tree page both stop at the budget, then continue.
    let mut seen = 0;
    let mut cursor = None;
    loop {
        let page = s
            .messages
            .active_path(&alice(), t.id, cursor, None, MessageFilter::default())
            .await
            .unwrap();
        assert!(
            !page.data.is_empty() && page.data.len() <= 2,
            "{}",
            page.data.len()
        );
        seen += page.data.len();
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(seen, 5, "every message reached through the cursors");
    let first = s
        .messages
        .tree(&alice(), t.id, None, Some(100), MessageFilter::default())
        .await
        .unwrap();
    assert_eq!((first.data.len(), first.has_more), (2, true));

    // An export of more messages than one batch, in order.
    let (long, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    for i in 0..70 {
        s.messages
            .append(&alice(), long.id, user(&format!("m{i}")))
            .await
            .unwrap();
    }
    let lines = s
        .transfer
        .export_thread(&alice(), long.id)
        .await
        .unwrap()
        .lines()
        .await
        .unwrap();
    assert_eq!(lines.len(), 1 + 70);
    assert_parents_first(&lines);

    // A child stamped earlier than its parent (possible in imported files) still follows it.
    let tid = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0042);
    let file = [
        json!({"type": "thread", "id": tid, "title": "Odd clock", "active_leaf_id": null,
               "product": null, "org_id": null, "document_id": null, "external_id": null,
               "system_prompt": null, "model": null, "created_at": null, "updated_at": null,
               "deleted_at": null, "expires_at": null}),
        json!({"type": "message", "id": "00000000-0000-4000-8000-000000000001", "thread_id": tid,
               "parent_id": null, "role": "user", "content": "parent", "model": null,
               "prompt_tokens": null, "completion_tokens": null, "feedback": null, "reaction": null,
               "display_text": null, "edited_at": null, "deleted_at": null,
               "created_at": "2030-01-01T00:00:02Z"}),
        json!({"type": "message", "id": "00000000-0000-4000-8000-000000000002", "thread_id": tid,
               "parent_id": "00000000-0000-4000-8000-000000000001", "role": "assistant",
               "content": "child", "model": null, "prompt_tokens": null, "completion_tokens": null,
               "feedback": null, "reaction": null, "display_text": null, "edited_at": null,
               "deleted_at": null, "created_at": "2030-01-01T00:00:01Z"}),
    ]
    .map(|l| l.to_string())
    .join("\n");
    let out = s.transfer.import_ndjson(&alice(), &file).await.unwrap();
    let ImportOutcome::Imported { id, .. } = &out[0] else {
        panic!("{out:?}")
    };
    let lines = s
        .transfer
        .export_thread(&alice(), *id)
        .await
        .unwrap()
        .lines()
        .await
        .unwrap();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains("\"parent\"") && lines[2].contains("\"child\""),
        "{lines:?}"
    );
    assert_parents_first(&lines);
}

fn assert_parents_first(lines: &[String]) {
    let mut seen = std::collections::HashSet::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["type"] == "message" {
            if let Some(p) = v["parent_id"].as_str() {
                assert!(seen.contains(p), "parent {p} after its child");
            }
            seen.insert(v["id"].as_str().unwrap().to_owned());
        }
    }
}

/// ChatGPT's conversations.json: the mapping tree, hidden nodes dropped, current_node active.
pub async fn chatgpt_import<S: Store>(store: S) {
    let s = services(store);
    let export = json!([{
        "title": "Rust help",
        "create_time": 1_700_000_000.5,
        "update_time": 1_700_000_100.0,
        "conversation_id": "conv-1",
        "current_node": "a2",
        "mapping": {
            "root": {"id": "root", "message": null, "parent": null, "children": ["sys"]},
            "sys": {"id": "sys", "parent": "root", "children": ["u1"],
                    "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]}}},
            "u1": {"id": "u1", "parent": "sys", "children": ["a1", "a2"],
                   "message": {"author": {"role": "user"}, "create_time": 1_700_000_001.0,
                               "content": {"content_type": "text", "parts": ["What is a lifetime?"]}}},
            "a1": {"id": "a1", "parent": "u1", "children": [],
                   "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["First answer"]},
                               "metadata": {"model_slug": "gpt-4o"}}},
            "a2": {"id": "a2", "parent": "u1", "children": [],
                   "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["Regenerated ", "answer"]}}}
        }
    }]);
    let out = s
        .transfer
        .import_chatgpt(&alice(), export.to_string().as_bytes())
        .await
        .unwrap();
    let ImportOutcome::Imported { id, messages, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        *messages, 3,
        "the empty root and hidden system prompt are dropped"
    );
    let t = s.threads.get(&alice(), *id, false).await.unwrap();
    assert_eq!(t.title.as_str(), "Rust help");
    assert_eq!(
        t.external_id.as_ref().map(|e| e.as_str()),
        Some("chatgpt:conv-1")
    );
    let path = s
        .messages
        .active_path(&alice(), *id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        texts(&path.data),
        ["What is a lifetime?", "Regenerated \nanswer"]
    );
    assert_eq!(path.data[0].depth, 0);
    assert_eq!(s.messages.branches(&alice(), *id).await.unwrap().len(), 2);
    let again = s
        .transfer
        .import_chatgpt(&alice(), export.to_string().as_bytes())
        .await
        .unwrap();
    assert!(matches!(&again[0], ImportOutcome::Skipped { .. }));
    assert!(s.transfer.import_chatgpt(&alice(), b"{}").await.is_err());
}

/// Balances: credits and the ledger; a reply's hold is placed with its start and refused when
/// the balance minus live holds cannot cover it (nothing stored); the debit goes with the usage
/// and drops the hold; a reply that ends without a debit stops holding; an account belongs to
/// the organization that first credited it.
pub async fn balances_hold_and_debit<S: Store>(store: S) {
    use chat_threads_application::Anchor;
    use chat_threads_domain::MessageStatus;
    let s = services(store.clone());
    let now = chat_threads_domain::to_micros(chrono::Utc::now());
    let credit = |amount: i64, org: Option<&str>| NewCredit {
        id: uuid::Uuid::now_v7(),
        account: "user:alice".into(),
        org_id: org.map(str::to_owned),
        amount,
        max_balance: 1_000,
        note: Some("top-up".into()),
        actor: "service:billing".into(),
        at: now,
    };
    assert_eq!(store.balance("user:alice").await.unwrap(), None);
    let (b, entry) = store.credit(credit(10, Some("acme"))).await.unwrap();
    assert_eq!(
        (b.amount, b.held, b.org_id.as_deref()),
        (10, 0, Some("acme"))
    );
    assert_eq!(
        (entry.kind.as_str(), entry.amount, entry.balance_after),
        ("credit", 10, 10)
    );
    assert_eq!(entry.actor.as_deref(), Some("service:billing"));
    assert!(matches!(
        store.credit(credit(5, Some("other"))).await,
        Err(AppError::BalanceNotFound)
    ));
    assert!(matches!(
        store.credit(credit(991, Some("acme"))).await,
        Err(AppError::Domain(
            chat_threads_domain::DomainError::TooLarge { .. }
        ))
    ));

    let msg = |role: Role, status: MessageStatus| new_message(role, status, now);
    let start = |amount: i64| chat_threads_application::replies::ReplyStart {
        busy_since: now - chrono::TimeDelta::hours(1),
        user: Some((
            Anchor::Append(None),
            msg(Role::User, MessageStatus::Complete),
        )),
        reply: (None, msg(Role::Assistant, MessageStatus::Streaming)),
        hold: Some(Hold {
            account: "user:alice".into(),
            amount,
        }),
    };
    let scope = alice().scope();
    let (t1, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let (t2, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let (_, r1) = store
        .begin_reply("i", &scope, t1.id, start(8))
        .await
        .unwrap();
    assert_eq!(store.balance("user:alice").await.unwrap().unwrap().held, 8);
    // The second reply would need 3 with 2 available: refused, and nothing of it is stored.
    let err = store
        .begin_reply("i", &scope, t2.id, start(3))
        .await
        .unwrap_err();
    match &err {
        AppError::InsufficientBalance {
            balance,
            held,
            available,
            required,
            ..
        } => assert_eq!((*balance, *held, *available, *required), (10, 8, 2, 3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.threads
            .get(&alice(), t2.id, false)
            .await
            .unwrap()
            .message_count,
        0
    );
    let (_, r2) = store
        .begin_reply("i", &scope, t2.id, start(2))
        .await
        .unwrap();
    assert_eq!(store.balance("user:alice").await.unwrap().unwrap().held, 10);

    // The first reply costs 3: debited with its usage, its hold gone.
    let usage = Usage {
        prompt_tokens: 40,
        completion_tokens: 2,
    };
    let charge = Charge {
        id: uuid::Uuid::now_v7(),
        account: "user:alice".into(),
        amount: 3,
        kind: ChargeKind::Reply,
        thread_id: Some(t1.id),
        message_id: Some(r1.id),
        at: now + chrono::TimeDelta::seconds(1),
    };
    store
        .add_usage(&alice().owner(), "2026-11-24", "m", usage, Some(&charge))
        .await
        .unwrap();
    let b = store.balance("user:alice").await.unwrap().unwrap();
    assert_eq!((b.amount, b.held), (7, 2), "debited, and only r2 holds");
    assert_eq!(
        store
            .usage_on(&alice().owner(), "2026-11-24")
            .await
            .unwrap(),
        usage
    );
    // The second reply fails without a debit: once it no longer streams, it holds nothing.
    store
        .release_reply(t2.id, r2.id, MessageStatus::Failed, now)
        .await
        .unwrap();
    assert_eq!(store.balance("user:alice").await.unwrap().unwrap().held, 0);

    let ledger = store.ledger("user:alice", None, 10).await.unwrap();
    assert_eq!(ledger.len(), 2);
    let debit = &ledger[0];
    assert_eq!(
        (debit.kind.as_str(), debit.amount, debit.balance_after),
        ("reply", -3, 7)
    );
    assert_eq!(debit.model.as_deref(), Some("m"));
    assert_eq!(
        (debit.prompt_tokens, debit.completion_tokens),
        (Some(40), Some(2))
    );
    assert_eq!(
        (debit.thread_id, debit.message_id),
        (Some(t1.id), Some(r1.id))
    );
    let page = store
        .ledger(
            "user:alice",
            Some(chat_threads_application::billing::LedgerCursor {
                created_at: debit.created_at,
                id: debit.id,
            }),
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].kind, "credit");
    assert!(store.ledger("user:bob", None, 10).await.unwrap().is_empty());
}

/// A message of one character, as a reply's start stores it.
fn new_message(
    role: Role,
    status: chat_threads_domain::MessageStatus,
    now: chat_threads_domain::Timestamp,
) -> chat_threads_application::NewMessage {
    chat_threads_application::NewMessage {
        id: MessageId::new(),
        role,
        content: chat_threads_domain::Content::parse("x".into(), &Limits::default()).unwrap(),
        content_type: chat_threads_domain::ContentType::Text,
        display_text: None,
        status,
        model: None,
        prompt_tokens: None,
        completion_tokens: None,
        metadata: chat_threads_domain::Metadata::default(),
        edited_at: None,
        created_at: now,
        attachments: Vec::new(),
    }
}

/// `begin_reply` without a hold.
async fn begin<S: Store>(
    store: &S,
    instance: &str,
    scope: &chat_threads_domain::Scope,
    thread_id: chat_threads_domain::ThreadId,
    busy_since: chat_threads_domain::Timestamp,
    user: Option<(
        chat_threads_application::Anchor,
        chat_threads_application::NewMessage,
    )>,
    reply: (
        Option<chat_threads_application::Anchor>,
        chat_threads_application::NewMessage,
    ),
) -> Result<
    (
        Option<chat_threads_domain::Message>,
        chat_threads_domain::Message,
    ),
    AppError,
> {
    let start = chat_threads_application::replies::ReplyStart {
        busy_since,
        user,
        reply,
        hold: None,
    };
    store.begin_reply(instance, scope, thread_id, start).await
}

/// Starting a reply stores the user message and the placeholder together or not at all, and
/// refuses while another reply of the thread is streaming.
pub async fn begin_reply_is_atomic<S: Store>(store: S) {
    use chat_threads_application::Anchor;
    use chat_threads_domain::MessageStatus;
    let s = services(store.clone());
    let (t, _) = s
        .threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap();
    let now = chat_threads_domain::to_micros(chrono::Utc::now());
    let msg = |role: Role, status: MessageStatus| new_message(role, status, now);
    let scope = alice().scope();
    let long_ago = now - chrono::TimeDelta::hours(1);
    // A reply anchored beside an unknown message fails, and the user message is not kept.
    let err = begin(
        &store,
        "instance-a",
        &scope,
        t.id,
        long_ago,
        Some((
            Anchor::Append(None),
            msg(Role::User, MessageStatus::Complete),
        )),
        (
            Some(Anchor::SiblingOf(MessageId::new())),
            msg(Role::Assistant, MessageStatus::Streaming),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "message_unusable");
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .message_count,
        0,
        "nothing half-written"
    );

    let (user, reply) = begin(
        &store,
        "instance-a",
        &scope,
        t.id,
        long_ago,
        Some((
            Anchor::Append(None),
            msg(Role::User, MessageStatus::Complete),
        )),
        (None, msg(Role::Assistant, MessageStatus::Streaming)),
    )
    .await
    .unwrap();
    let user = user.unwrap();
    assert_eq!(reply.parent_id, Some(user.id));
    let err = begin(
        &store,
        "instance-a",
        &scope,
        t.id,
        long_ago,
        None,
        (
            Some(Anchor::SiblingOf(reply.id)),
            msg(Role::Assistant, MessageStatus::Streaming),
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AppError::GenerationInProgress));
    // A streaming reply older than `busy_since` belongs to a dead process and does not block.
    let later = now + chrono::TimeDelta::seconds(1);
    let (_, regen) = begin(
        &store,
        "instance-a",
        &scope,
        t.id,
        later,
        None,
        (
            Some(Anchor::SiblingOf(reply.id)),
            msg(Role::Assistant, MessageStatus::Streaming),
        ),
    )
    .await
    .unwrap();
    assert_eq!(regen.parent_id, Some(user.id));
    assert!(matches!(
        begin(
            &store,
            "instance-a",
            &bob().scope(),
            t.id,
            later,
            None,
            (None, msg(Role::Assistant, MessageStatus::Streaming))
        )
        .await,
        Err(AppError::ThreadNotFound)
    ));

    // The regeneration is written by instance-a. For instance-a it is its own; for instance-b
    // it is an orphan (instance-a has no open connection and, on one-instance backends, only
    // the asking instance is alive).
    assert!(
        store
            .orphaned_replies("instance-a", Some(t.id))
            .await
            .unwrap()
            .is_empty()
    );
    let orphans = store.orphaned_replies("instance-b", None).await.unwrap();
    assert!(orphans.contains(&(t.id, regen.id)), "{orphans:?}");
    let released = store
        .release_reply(t.id, regen.id, MessageStatus::Failed, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.status, MessageStatus::Failed);
    assert!(
        store
            .release_reply(t.id, regen.id, MessageStatus::Failed, later)
            .await
            .unwrap()
            .is_none(),
        "released once"
    );
    assert!(
        store
            .orphaned_replies("instance-b", Some(t.id))
            .await
            .unwrap()
            .iter()
            .all(|(_, id)| *id != regen.id)
    );
}

/// Instantiates every contract check as a `#[tokio::test]` for a store factory.
///
/// `$make` is an async expression yielding `Option<store>`; `None` skips (a backend that is not
/// configured for this run).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            thread_lifecycle, owners_are_isolated, delete_restore_purge,
            append_and_read_active_path, parent_rules, edit_branches_and_switch,
            delete_message_subtree, tree_pages, fork_thread, feedback_and_reactions, summaries,
            list_filters_and_pages, text_search, concurrent_appends, failed_writes_fail_alone,
            abandoned_writes_leave_the_store_usable, deep_chain,
            org_admin_reads_the_org, message_filters, export_and_import, chatgpt_import,
            begin_reply_is_atomic, pages_and_exports_are_bounded, edit_in_place_and_tombstones,
            balances_hold_and_debit);
    };
    (@each $make:expr; $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(store) = $make.await {
                    $crate::contract::$name(store).await;
                }
            }
        )+
    };
}
