//! Live events per thread: new messages, reply progress, typing. Subscribers (WebSocket
//! connections) receive them; an optional bridge carries them to and from other instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chat_threads_domain::ThreadId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

/// An event of a thread, in the envelope SSE and WebSocket share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadEvent {
    /// The thread.
    pub thread_id: ThreadId,
    /// Event name (`message.created`, `message.delta`, `typing.started` ...).
    pub event: String,
    /// The reply's seq for reply events (the SSE id), absent for others.
    pub seq: Option<u64>,
    /// The reply whose log this event belongs to, for reply events.
    pub reply_id: Option<chat_threads_domain::MessageId>,
    /// The payload.
    pub data: Value,
}

/// Events per thread, kept per subscriber in a bounded queue.
const CHANNEL: usize = 1024;

/// Carries events to other instances (PostgreSQL LISTEN/NOTIFY); absent on a single instance.
pub trait EventBridge: Send + Sync + 'static {
    /// Sends an event to the other instances.
    fn forward(&self, event: &ThreadEvent);
}

#[derive(Default)]
struct Inner {
    channels: HashMap<ThreadId, broadcast::Sender<ThreadEvent>>,
    presence: HashMap<ThreadId, usize>,
}

/// The in-process hub of thread events and live connections.
#[derive(Clone, Default)]
pub struct ThreadEvents {
    inner: Arc<Mutex<Inner>>,
    bridge: Option<Arc<dyn EventBridge>>,
}

impl std::fmt::Debug for ThreadEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadEvents")
            .field("bridged", &self.bridge.is_some())
            .finish_non_exhaustive()
    }
}

impl ThreadEvents {
    /// A hub that also forwards its events through `bridge`.
    pub fn with_bridge(bridge: Arc<dyn EventBridge>) -> Self {
        Self {
            inner: Arc::default(),
            bridge: Some(bridge),
        }
    }

    /// Publishes an event produced here: to local subscribers and to other instances.
    pub fn publish(&self, event: ThreadEvent) {
        if let Some(bridge) = &self.bridge {
            bridge.forward(&event);
        }
        self.deliver(event);
    }

    /// Delivers an event to local subscribers only (events arriving from other instances).
    pub fn deliver(&self, event: ThreadEvent) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some(tx) = inner.channels.get(&event.thread_id)
            && tx.send(event.clone()).is_err()
        {
            // Nobody listens any more.
            inner.channels.remove(&event.thread_id);
        }
    }

    /// Subscribes to a thread's events.
    pub fn subscribe(&self, thread_id: ThreadId) -> broadcast::Receiver<ThreadEvent> {
        let Ok(mut inner) = self.inner.lock() else {
            return broadcast::channel(1).1;
        };
        inner
            .channels
            .entry(thread_id)
            .or_insert_with(|| broadcast::channel(CHANNEL).0)
            .subscribe()
    }

    /// Registers a live connection on a thread; the guard unregisters it when dropped.
    pub fn join(&self, thread_id: ThreadId) -> PresenceGuard {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.presence.entry(thread_id).or_default() += 1;
        }
        PresenceGuard {
            events: self.clone(),
            thread_id,
        }
    }

    /// Live connections on a thread in this instance.
    pub fn presence(&self, thread_id: ThreadId) -> usize {
        self.inner
            .lock()
            .ok()
            .and_then(|i| i.presence.get(&thread_id).copied())
            .unwrap_or(0)
    }
}

/// Unregisters a connection from a thread's presence when dropped.
#[derive(Debug)]
pub struct PresenceGuard {
    events: ThreadEvents,
    thread_id: ThreadId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.events.inner.lock()
            && let Some(n) = inner.presence.get_mut(&self.thread_id)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.presence.remove(&self.thread_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_their_threads_events_and_presence_follows_guards() {
        let hub = ThreadEvents::default();
        let (a, b) = (ThreadId::new(), ThreadId::new());
        let mut rx = hub.subscribe(a);
        hub.publish(ThreadEvent {
            thread_id: b,
            event: "x".into(),
            seq: None,
            reply_id: None,
            data: Value::Null,
        });
        hub.publish(ThreadEvent {
            thread_id: a,
            event: "y".into(),
            seq: Some(1),
            reply_id: None,
            data: Value::Null,
        });
        assert_eq!(rx.recv().await.unwrap().event, "y");
        let g1 = hub.join(a);
        let g2 = hub.join(a);
        assert_eq!(hub.presence(a), 2);
        drop(g1);
        assert_eq!(hub.presence(a), 1);
        drop(g2);
        assert_eq!(hub.presence(a), 0);
    }
}
