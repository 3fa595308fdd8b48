//! One clock for the keep-alive comments of every SSE stream.
//!
//! An SSE stream sends `: keep-alive` when `[replies] sse_keepalive_secs` pass, so proxies and
//! load balancers do not close it while a reply is quiet. Each stream owning a timer would cost
//! a timer allocation and a timer-wheel entry per open stream; instead one task ticks a `watch`
//! channel every period and each stream waits on its receiver (two words, no allocation). A
//! stream's first comment comes at the clock's next tick, so within one period of opening, and
//! one every period after — as with a timer of its own.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

/// The shared keep-alive clock; see the module documentation.
#[derive(Debug)]
pub struct KeepAliveClock {
    tick: watch::Sender<u64>,
}

impl KeepAliveClock {
    /// A clock ticking every `period` (at least a millisecond), driven by a task on `runtime`
    /// that ends when the clock is dropped.
    pub fn start(period: Duration, runtime: &tokio::runtime::Handle) -> Arc<Self> {
        let period = period.max(Duration::from_millis(1));
        let clock = Arc::new(Self {
            tick: watch::Sender::new(0),
        });
        runtime.spawn(run(Arc::downgrade(&clock), period));
        clock
    }

    /// A receiver whose `changed()` resolves at each tick after this call; `Err` once the clock
    /// is gone (the stream then ends).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }
}

async fn run(clock: Weak<KeepAliveClock>, period: Duration) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(clock) = clock.upgrade() else {
            return;
        };
        clock.tick.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn every_subscriber_hears_each_tick_and_the_clock_stops_with_its_owner() {
        let clock = KeepAliveClock::start(
            Duration::from_millis(20),
            &tokio::runtime::Handle::current(),
        );
        let mut a = clock.subscribe();
        let mut b = clock.subscribe();
        a.changed().await.unwrap();
        b.changed().await.unwrap();
        let first = *a.borrow_and_update();
        assert!(first >= 1, "a tick came");
        // The two saw the same clock: b's tick is a's or a later one, never an earlier one.
        assert!(*b.borrow_and_update() >= first);
        a.changed().await.unwrap();
        assert!(*a.borrow_and_update() > first, "and then another");
        // A subscriber that joins between ticks waits for the next one.
        let mut late = clock.subscribe();
        let joined = *late.borrow();
        late.changed().await.unwrap();
        assert!(*late.borrow_and_update() > joined);
        drop(clock);
        // A tick may have come just before the drop; after it, the receiver reports the end.
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            while late.changed().await.is_ok() {}
        })
        .await;
        assert!(ended.is_ok(), "no clock, no more ticks");
    }
}
