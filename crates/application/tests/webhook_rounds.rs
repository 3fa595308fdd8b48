//! When the webhook dispatcher runs a round (each one a write transaction on a real store: it
//! takes the leases). Holding no webhook, commits do not wake it: under load the feed grows
//! hundreds of times a second, and a round per growth cost a fifth of PostgreSQL's
//! transactions and a quarter of the service's CPU per append (docs/operations.md). Holding
//! one, each growth wakes it, so new entries go out at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_threads_application::webhooks::WebhookStore;
use chat_threads_application::webhooks::dispatch::{DispatchSettings, Dispatcher};
use chat_threads_application::{Clock, SystemClock};
use chat_threads_domain::Timestamp;
use chat_threads_testing::contract::new_webhook;
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

fn dispatcher(
    store: MemoryStore,
    rounds: Rounds,
) -> Dispatcher<MemoryStore, FakeWebhookSender, Rounds> {
    Dispatcher::new(
        store,
        FakeWebhookSender::default(),
        rounds,
        DispatchSettings {
            instance: "here".into(),
            lease: Duration::from_secs(60),
            // Longer than either test: every round after the first is a wake-up by the feed.
            interval: Duration::from_secs(600),
            backoff: Duration::from_secs(5),
            retry_window: Duration::from_secs(3600),
            disable_after: 50,
        },
    )
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
    let hook = new_webhook(SystemClock.now());
    assert!(store.create_webhook(&hook, 10).await.unwrap());
    let rounds = Rounds::default();
    let grown = tokio::sync::watch::channel(0u64).0;
    let task = tokio::spawn(dispatcher(store.clone(), rounds.clone()).run(Some(grown.subscribe())));
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
