//! First pages of the active path and their stamps: a caller holding a page's stamp learns
//! whether the page still reads the same, and any change to what the page shows changes it.

use super::*;
use chat_threads_application::messages::{PathRead, PathStamp};

/// Reads the first page of 50 holding `held`; the page and its stamp, or `None` when the
/// held stamp is still the page's.
async fn first<S: Store>(
    s: &Fixture<S>,
    who: &Principal,
    t: ThreadId,
    held: Option<&PathStamp>,
) -> Option<(Vec<Message>, Option<PathStamp>)> {
    match s.messages.first_path_page(who, t, 50, held).await.unwrap() {
        PathRead::Unchanged => None,
        PathRead::Read { page, stamp } => Some((page.data, stamp)),
    }
}

/// The page as the plain read gives it.
async fn plain<S: Store>(s: &Fixture<S>, t: ThreadId) -> Vec<Message> {
    s.messages
        .active_path(&alice(), t, None, Some(50), MessageFilter::default())
        .await
        .unwrap()
        .data
}

/// After `change`, the page held with `stamp` no longer reads the same: the read gives the
/// page as it is now (the plain read's) and a new stamp, which then holds.
async fn changed<S: Store>(
    s: &Fixture<S>,
    t: ThreadId,
    stamp: &PathStamp,
    what: &str,
) -> PathStamp {
    let Some((page, Some(now))) = first(s, &alice(), t, Some(stamp)).await else {
        panic!("{what}: the page held before it still read as unchanged");
    };
    assert_ne!(&now, stamp, "{what}");
    assert_eq!(page, plain(s, t).await, "{what}");
    assert!(first(s, &alice(), t, Some(&now)).await.is_none(), "{what}");
    now
}

pub async fn first_pages_and_their_stamps<S: Store>(store: S) {
    let s = Fixture::new(store.clone());
    let t = s.thread(&alice()).await;
    // An empty thread has no stamp.
    let (page, stamp) = first(&s, &alice(), t.id, None).await.unwrap();
    assert!(page.is_empty() && stamp.is_none());
    let [q, a, q2] = s
        .chain(&alice(), t.id, ["question", "answer", "again"])
        .await;
    let (page, stamp) = first(&s, &alice(), t.id, None).await.unwrap();
    assert_eq!(page, plain(&s, t.id).await);
    let Some(stamp) = stamp else {
        // A store that keeps no stamps never gives one.
        s.say(&alice(), t.id, assistant("more")).await;
        let (page, stamp) = first(&s, &alice(), t.id, None).await.unwrap();
        assert!(stamp.is_none());
        assert_eq!(page, plain(&s, t.id).await);
        return;
    };
    // Held and unchanged: no page.
    assert!(first(&s, &alice(), t.id, Some(&stamp)).await.is_none());
    // Access is checked before the stamp: someone else gets no page, held stamp or not.
    let err = s
        .messages
        .first_path_page(&bob(), t.id, 50, Some(&stamp))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::ThreadNotFound), "{err:?}");

    // Every change to what the page shows changes its stamp.
    s.messages
        .feedback(&alice(), t.id, a.id, Some(("up".into(), None)))
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "feedback").await;
    s.messages
        .reaction(&alice(), t.id, a.id, Some("👍".into()))
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "a reaction").await;
    let patch = MessagePatch {
        content: Some("the question, better".into()),
        ..MessagePatch::default()
    };
    s.messages
        .revise(&alice(), t.id, q.id, patch)
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "an edit in place").await;
    s.say(&alice(), t.id, assistant("and again")).await;
    let stamp = changed(&s, t.id, &stamp, "an append").await;
    s.messages
        .delete(&alice(), t.id, q2.id, DeleteScope::Message)
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "a tombstone").await;
    s.messages.restore(&alice(), t.id, q2.id).await.unwrap();
    let stamp = changed(&s, t.id, &stamp, "a restore").await;
    let leaf = plain(&s, t.id).await.last().unwrap().id;
    s.messages
        .delete(&alice(), t.id, leaf, DeleteScope::Subtree)
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "a deleted leaf").await;

    // Writes of a message from outside the message service: a reply begun, its text as it
    // streams, its end, and the sweep that fails a reply left streaming.
    let now = || chat_threads_domain::to_micros(chrono::Utc::now());
    let streaming = chat_threads_domain::MessageStatus::Streaming;
    let (_, reply) = store
        .begin_reply("instance-a", &alice().scope(), t.id, reply_start(now()))
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "a reply begun").await;
    store
        .update_reply(t.id, reply.id, reply_text("so far", streaming), now())
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "a reply's text as it streams").await;
    let end = reply_text(
        "so far, and all",
        chat_threads_domain::MessageStatus::Complete,
    );
    store
        .update_reply(t.id, reply.id, end, now())
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "a reply's end").await;
    let (_, stuck) = store
        .begin_reply("instance-a", &alice().scope(), t.id, reply_start(now()))
        .await
        .unwrap();
    let stamp = changed(&s, t.id, &stamp, "another reply begun").await;
    assert!(
        store
            .recover_stale(now() + chrono::TimeDelta::seconds(1))
            .await
            .unwrap()
            >= 1
    );
    let stamp = changed(&s, t.id, &stamp, "a stale reply failed by the sweep").await;
    assert_eq!(plain(&s, t.id).await.last().map(|m| m.id), Some(stuck.id));

    // A deleted thread: no page, held stamp or not.
    s.threads.delete(&alice(), t.id).await.unwrap();
    let err = s
        .messages
        .first_path_page(&alice(), t.id, 50, Some(&stamp))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::ThreadNotFound), "{err:?}");
}
