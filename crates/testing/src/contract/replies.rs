//! Streamed replies: starting one atomically, the busy rule, orphans and their release.

use chat_threads_application::feed::silent;

use super::*;

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
    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
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
        .release_reply(
            t.id,
            regen.id,
            MessageStatus::Failed,
            later,
            &chat_threads_application::feed::silent,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.status, MessageStatus::Failed);
    assert!(
        store
            .release_reply(
                t.id,
                regen.id,
                MessageStatus::Failed,
                later,
                &chat_threads_application::feed::silent
            )
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

/// Follow-ups queued under a streaming reply: stored `queued` as the active leaf, read back as
/// `queued`; started one at a time (never while a reply streams, never twice), the others
/// moved under the new reply; ended (cancelled) with the leaf moved back; stalled queues found.
pub async fn queued_followups<S: Store>(store: S) {
    use chat_threads_application::Anchor;
    use chat_threads_domain::MessageStatus;
    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
    let now = chat_threads_domain::to_micros(chrono::Utc::now());
    let scope = alice().scope();
    let long_ago = now - chrono::TimeDelta::hours(1);
    let (_, running) = begin(
        &store,
        "instance-a",
        &scope,
        t.id,
        long_ago,
        Some((
            Anchor::Append(None),
            new_message(Role::User, MessageStatus::Complete, now),
        )),
        (
            None,
            new_message(Role::Assistant, MessageStatus::Streaming, now),
        ),
    )
    .await
    .unwrap();
    let queued = |n: i64| {
        let mut m = new_message(
            Role::User,
            MessageStatus::Queued,
            now + chrono::TimeDelta::milliseconds(n),
        );
        m.author = Some(chat_threads_domain::Author::of(&alice()));
        m
    };
    let q1 = store
        .queue_message(&scope, t.id, running.id, queued(1), &silent)
        .await
        .unwrap()
        .unwrap();
    let q2 = store
        .queue_message(&scope, t.id, running.id, queued(2), &silent)
        .await
        .unwrap()
        .unwrap();
    let q3 = store
        .queue_message(&scope, t.id, running.id, queued(3), &silent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (q1.status, q1.parent_id),
        (MessageStatus::Queued, Some(running.id))
    );
    let read = s.messages.read(&alice(), t.id, q2.id).await.unwrap();
    assert_eq!(read.status, MessageStatus::Queued);
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .active_leaf_id,
        Some(q3.id)
    );
    assert_eq!(
        store.first_queued(t.id).await.unwrap().map(|m| m.id),
        Some(q1.id)
    );
    // Not while the reply streams; the queue is not stalled then.
    let reply = new_message(Role::Assistant, MessageStatus::Streaming, now);
    assert!(
        store
            .start_queued(
                "instance-a",
                &scope,
                t.id,
                q1.id,
                long_ago,
                reply.clone(),
                &silent
            )
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.stalled_queues().await.unwrap().is_empty());
    // The third is cancelled: the leaf goes to the newest still waiting.
    let cancelled = store
        .end_queued(t.id, q3.id, MessageStatus::Cancelled, now, &silent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, MessageStatus::Cancelled);
    assert!(
        store
            .end_queued(t.id, q3.id, MessageStatus::Cancelled, now, &silent)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .active_leaf_id,
        Some(q2.id)
    );
    // The reply ends: the queue is stalled until its first message starts.
    store
        .release_reply(
            t.id,
            running.id,
            MessageStatus::Complete,
            now,
            &chat_threads_application::feed::silent,
        )
        .await
        .unwrap();
    assert_eq!(store.stalled_queues().await.unwrap(), [t.id]);
    let (user, r1) = store
        .start_queued(
            "instance-a",
            &scope,
            t.id,
            q1.id,
            long_ago,
            reply.clone(),
            &silent,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((user.id, user.status), (q1.id, MessageStatus::Complete));
    assert_eq!(r1.parent_id, Some(q1.id));
    let moved = s.messages.read(&alice(), t.id, q2.id).await.unwrap();
    assert_eq!((moved.parent_id, moved.depth), (Some(r1.id), r1.depth + 1));
    assert_eq!(moved.status, MessageStatus::Queued);
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .active_leaf_id,
        Some(q2.id)
    );
    // Never twice.
    let again = new_message(Role::Assistant, MessageStatus::Streaming, now);
    assert!(
        store
            .start_queued("instance-b", &scope, t.id, q1.id, long_ago, again, &silent)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.first_queued(t.id).await.unwrap().map(|m| m.id),
        Some(q2.id)
    );
}

/// Calls given whole are remembered by key: found again, replaced by a newer reply, refused for
/// a reply of another thread, and gone with their thread.
pub async fn remembered_histories<S: Store>(store: S) {
    use chat_threads_domain::MessageStatus;
    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
    let other = s.thread(&alice()).await;
    let now = chat_threads_domain::to_micros(chrono::Utc::now());
    let scope = alice().scope();
    let reply = |n: i64| {
        new_message(
            Role::Assistant,
            MessageStatus::Complete,
            now + chrono::TimeDelta::milliseconds(n),
        )
    };
    let first = store
        .append_message(&scope, t.id, None, reply(1))
        .await
        .unwrap();
    let second = store
        .append_message(&scope, t.id, None, reply(2))
        .await
        .unwrap();
    assert_eq!(store.find_history("k").await.unwrap(), None);
    store.remember_history("k", t.id, first.id).await.unwrap();
    assert_eq!(
        store.find_history("k").await.unwrap(),
        Some((t.id, first.id))
    );
    store.remember_history("k", t.id, second.id).await.unwrap();
    assert_eq!(
        store.find_history("k").await.unwrap(),
        Some((t.id, second.id)),
        "the newer reply"
    );
    store
        .remember_history("elsewhere", other.id, first.id)
        .await
        .unwrap();
    assert_eq!(
        store.find_history("elsewhere").await.unwrap(),
        None,
        "a reply is remembered only in its own thread"
    );
    store.purge_thread(&scope, t.id).await.unwrap();
    assert_eq!(
        store.find_history("k").await.unwrap(),
        None,
        "gone with the thread"
    );
}
