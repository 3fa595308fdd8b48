//! Streamed replies: starting one atomically, the busy rule, orphans and their release.

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
