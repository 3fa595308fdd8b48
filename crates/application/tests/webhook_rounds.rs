//! When the webhook dispatcher runs a round (each one a write transaction on a real store: it
//! takes the leases). Holding no webhook, commits do not wake it: under load the feed grows
//! hundreds of times a second, and a round per growth cost a fifth of PostgreSQL's
//! transactions and a quarter of the service's CPU per append (docs/operations.md). Holding
//! one, each growth wakes it, so new entries go out at once — and growths close together
//! share a round (`WOKEN_GAP`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_threads_application::CreateThread;
use chat_threads_application::feed::{FeedStore, NewFeedEvent};
use chat_threads_application::webhooks::WebhookStore;
use chat_threads_application::webhooks::dispatch::{DispatchSettings, Dispatcher, WOKEN_GAP};
use chat_threads_application::{Clock, SystemClock};
use chat_threads_domain::{Principal, Timestamp};
use chat_threads_testing::contract::{new_webhook, services};
use chat_threads_testing::fakes::FakeWebhookSender;
use chat_threads_testing::memory::MemoryStore;

/// The wall clock, counting reads. A round reads it once before it takes the leases, and
/// again only for feed entries or deliveries, which these tests never have: reads = rounds.
#[derive(Debug, Clone, Default)]
struct Rounds(Arc<AtomicUsize>);

impl Rounds {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits (at most 10 s) until more than `n` rounds ran; how many did.
    async fn past(&self, n: usize) -> usize {
        for _ in 0..1000 {
            if self.count() > n {
                return self.count();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no round after round {n}");
    }
}

impl Clock for Rounds {
    fn now(&self) -> Timestamp {
        self.0.fetch_add(1, Ordering::SeqCst);
        SystemClock.now()
    }
}

fn settings() -> DispatchSettings {
    DispatchSettings {
        instance: "here".into(),
        lease: Duration::from_secs(60),
        // Longer than any test: every round after the first is a wake-up by the feed.
        interval: Duration::from_secs(600),
        backoff: Duration::from_secs(5),
        retry_window: Duration::from_secs(3600),
        disable_after: 50,
    }
}

fn dispatcher(
    store: MemoryStore,
    rounds: Rounds,
) -> Dispatcher<MemoryStore, FakeWebhookSender, Rounds> {
    Dispatcher::new(store, FakeWebhookSender::default(), rounds, settings())
}

/// A webhook in `store`, and a dispatcher running over it (which takes it at its first round):
/// the rounds it runs, the feed's growth it is woken by, its task.
async fn running_with_a_webhook(
    store: &MemoryStore,
) -> (
    Rounds,
    tokio::sync::watch::Sender<u64>,
    tokio::task::JoinHandle<()>,
) {
    let hook = new_webhook(SystemClock.now());
    assert!(store.create_webhook(&hook, 10).await.unwrap());
    let rounds = Rounds::default();
    let grown = tokio::sync::watch::channel(0u64).0;
    let task = tokio::spawn(dispatcher(store.clone(), rounds.clone()).run(Some(grown.subscribe())));
    (rounds, grown, task)
}

#[tokio::test]
async fn holding_no_webhook_commits_do_not_wake_the_dispatcher() {
    let rounds = Rounds::default();
    let grown = tokio::sync::watch::channel(0u64).0;
    let task =
        tokio::spawn(dispatcher(MemoryStore::new(), rounds.clone()).run(Some(grown.subscribe())));
    assert_eq!(rounds.past(0).await, 1, "the first round runs at once");
    for _ in 0..200 {
        grown.send_modify(|g| *g += 1);
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rounds.count(), 1, "200 commits ran no round: none is held");
    task.abort();
}

#[tokio::test]
async fn holding_a_webhook_each_commit_wakes_the_dispatcher() {
    let store = MemoryStore::new();
    let (rounds, grown, task) = running_with_a_webhook(&store).await;
    let mut seen = rounds.past(0).await;
    for _ in 0..3 {
        grown.send_modify(|g| *g += 1);
        seen = rounds.past(seen).await;
    }
    // And the rounds took (and kept) the lease.
    let held = store
        .claim_webhooks("elsewhere", SystemClock.now(), SystemClock.now())
        .await
        .unwrap();
    assert!(
        held.is_empty(),
        "another instance takes nothing while the lease holds"
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn holding_a_webhook_growths_close_together_share_a_round() {
    let (rounds, grown, task) = running_with_a_webhook(&MemoryStore::new()).await;
    let first = rounds.past(0).await;
    // 200 commits at one instant (the test's clock is paused: it moves only when every task
    // waits): one round takes them all.
    for _ in 0..200 {
        grown.send_modify(|g| *g += 1);
        tokio::task::yield_now().await;
    }
    let second = rounds.past(first).await;
    assert_eq!(second, first + 1);
    tokio::time::sleep(WOKEN_GAP * 10).await;
    assert_eq!(rounds.count(), second, "nothing grew since that round");
    // A commit later still wakes it.
    grown.send_modify(|g| *g += 1);
    assert_eq!(rounds.past(second).await, second + 1);
    task.abort();
}

#[tokio::test]
async fn a_webhook_of_a_rare_event_moves_past_the_entries_it_skips() {
    let store = MemoryStore::new();
    let (thread, _) = services(store.clone())
        .threads
        .create(
            &Principal::user("alice", Some("acme")),
            CreateThread::default(),
        )
        .await
        .unwrap();
    let mut hook = new_webhook(SystemClock.now());
    hook.events = vec!["thread.deleted".into()];
    assert!(store.create_webhook(&hook, 10).await.unwrap());
    let logged = |kind: &'static str, n: usize| -> Vec<NewFeedEvent> {
        (0..n)
            .map(|i| NewFeedEvent {
                at: SystemClock.now(),
                thread_id: thread.id,
                kind,
                reply_id: None,
                data: format!(r#"{{"n":{i}}}"#),
            })
            .collect()
    };
    // More entries than a round reads at once, none of them of the webhook's event.
    store
        .append_feed(&logged("message.created", 1_200))
        .await
        .unwrap();
    let sender = FakeWebhookSender::default();
    let dispatcher = Dispatcher::new(store.clone(), sender.clone(), SystemClock, settings());
    assert_eq!(dispatcher.round().await, 1);
    let cursor = || async {
        let now = SystemClock.now();
        let held = store
            .claim_webhooks("here", now, now + chrono::TimeDelta::seconds(60))
            .await
            .unwrap();
        held[0].feed_cursor
    };
    // Its cursor is past them: the next round reads only what comes after.
    assert_eq!(cursor().await, store.feed_head().await.unwrap());
    assert!(sender.sent.lock().unwrap().is_empty());
    // Its event, when it comes, goes out.
    store
        .append_feed(&logged("thread.deleted", 1))
        .await
        .unwrap();
    dispatcher.round().await;
    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].2.contains("thread.deleted"), "{}", sent[0].2);
    assert_eq!(cursor().await, store.feed_head().await.unwrap());
}
