//! Live events per thread: new messages, reply progress, typing. Subscribers (WebSocket
//! connections) receive them; an optional bridge carries them to and from other instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chat_threads_domain::ThreadId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

/// What happened. Its wire name (`message.created` ...) is the SSE `event:` field, the
/// WebSocket frame's `event`, and what travels between instances; an unknown name is refused,
/// never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A message was stored (appended, an edit's new version, a reply's placeholder).
    #[serde(rename = "message.created")]
    MessageCreated,
    /// The next piece of a reply's text.
    #[serde(rename = "message.delta")]
    MessageDelta,
    /// A reply finished.
    #[serde(rename = "message.completed")]
    MessageCompleted,
    /// A reply failed; its partial text is stored.
    #[serde(rename = "message.failed")]
    MessageFailed,
    /// A reply was stopped; its partial text is stored.
    #[serde(rename = "message.cancelled")]
    MessageCancelled,
    /// Feedback or a reaction on a message changed.
    #[serde(rename = "message.updated")]
    MessageUpdated,
    /// A message (with everything below it) was deleted.
    #[serde(rename = "message.deleted")]
    MessageDeleted,
    /// The thread's active branch changed.
    #[serde(rename = "branch.switched")]
    BranchSwitched,
    /// The thread's title, status, metadata, system prompt or model changed.
    #[serde(rename = "thread.updated")]
    ThreadUpdated,
    /// The thread was deleted (soft).
    #[serde(rename = "thread.deleted")]
    ThreadDeleted,
    /// The thread was restored.
    #[serde(rename = "thread.restored")]
    ThreadRestored,
    /// A summary of the thread was stored.
    #[serde(rename = "summary.created")]
    SummaryCreated,
    /// Someone (or the assistant) started writing.
    #[serde(rename = "typing.started")]
    TypingStarted,
    /// Someone (or the assistant) stopped writing.
    #[serde(rename = "typing.stopped")]
    TypingStopped,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreated => "message.created",
            Self::MessageDelta => "message.delta",
            Self::MessageCompleted => "message.completed",
            Self::MessageFailed => "message.failed",
            Self::MessageCancelled => "message.cancelled",
            Self::MessageUpdated => "message.updated",
            Self::MessageDeleted => "message.deleted",
            Self::BranchSwitched => "branch.switched",
            Self::ThreadUpdated => "thread.updated",
            Self::ThreadDeleted => "thread.deleted",
            Self::ThreadRestored => "thread.restored",
            Self::SummaryCreated => "summary.created",
            Self::TypingStarted => "typing.started",
            Self::TypingStopped => "typing.stopped",
        }
    }

    /// Whether this event is the last of a reply.
    pub fn ends_reply(self) -> bool {
        matches!(
            self,
            Self::MessageCompleted | Self::MessageFailed | Self::MessageCancelled
        )
    }
}

/// An event of a thread: one type for the reply logs, subscribers, SSE, WebSocket and the bus
/// between instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadEvent {
    /// The thread.
    pub thread_id: ThreadId,
    /// What happened.
    pub event: EventKind,
    /// The reply's seq for reply events (the SSE id), absent for others.
    pub seq: Option<u64>,
    /// The reply whose log this event belongs to, for reply events.
    pub reply_id: Option<chat_threads_domain::MessageId>,
    /// The payload.
    pub data: Value,
}

impl ThreadEvent {
    /// An event that is not part of a reply's log: the payload gets the thread id.
    pub fn thread(thread_id: ThreadId, event: EventKind, mut data: Value) -> Self {
        if let Value::Object(map) = &mut data {
            map.entry("thread_id")
                .or_insert_with(|| Value::String(thread_id.to_string()));
        }
        Self {
            thread_id,
            event,
            seq: None,
            reply_id: None,
            data,
        }
    }

    /// The Server-Sent Events frame: `id` (the reply's seq), `event` and `data`.
    pub fn sse_frame(&self) -> String {
        let mut frame = String::new();
        if let Some(seq) = self.seq {
            frame.push_str(&format!("id: {seq}\n"));
        }
        frame.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            self.event.as_str(),
            self.data
        ));
        frame
    }

    /// The WebSocket frame: `{"type":"event","event":…,"id":seq|null,"data":…}`.
    pub fn ws_frame(&self) -> Value {
        serde_json::json!({"type": "event", "event": self.event, "id": self.seq, "data": self.data})
    }
}

/// Events per thread a subscriber may fall behind by. Each subscriber's task moves events on
/// to its connection's own queue as they come, so it lags only while its thread is not
/// scheduled; the ring is allocated in full for every thread with a subscriber and holds the
/// last events it carried (1,024 slots were ~130 KiB a thread).
const CHANNEL: usize = 256;

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
    /// Publishes `event` on the thread with `data` (the thread id is added).
    pub fn emit(&self, thread_id: ThreadId, event: EventKind, data: Value) {
        self.publish(ThreadEvent::thread(thread_id, event, data));
    }

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

    #[test]
    fn one_event_has_one_wire_form_everywhere() {
        let t = ThreadId::new();
        let e = ThreadEvent {
            thread_id: t,
            event: EventKind::MessageDelta,
            seq: Some(3),
            reply_id: None,
            data: serde_json::json!({"delta": "Hi"}),
        };
        assert_eq!(
            e.sse_frame(),
            "id: 3\nevent: message.delta\ndata: {\"delta\":\"Hi\"}\n\n"
        );
        assert_eq!(e.ws_frame()["event"], "message.delta");
        assert_eq!(e.ws_frame()["id"], 3);
        let over_the_bus: ThreadEvent =
            serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(over_the_bus, e);
        let unknown = serde_json::json!({"thread_id": t, "event": "message.exploded",
                                         "seq": null, "reply_id": null, "data": null});
        assert!(serde_json::from_value::<ThreadEvent>(unknown).is_err());
        assert!(EventKind::MessageFailed.ends_reply() && !EventKind::MessageDelta.ends_reply());
    }

    #[tokio::test]
    async fn subscribers_get_their_threads_events_and_presence_follows_guards() {
        let hub = ThreadEvents::default();
        let (a, b) = (ThreadId::new(), ThreadId::new());
        let mut rx = hub.subscribe(a);
        hub.publish(ThreadEvent::thread(
            b,
            EventKind::ThreadUpdated,
            Value::Null,
        ));
        hub.publish(ThreadEvent::thread(
            a,
            EventKind::TypingStarted,
            Value::Null,
        ));
        assert_eq!(rx.recv().await.unwrap().event, EventKind::TypingStarted);
        let g1 = hub.join(a);
        let g2 = hub.join(a);
        assert_eq!(hub.presence(a), 2);
        drop(g1);
        assert_eq!(hub.presence(a), 1);
        drop(g2);
        assert_eq!(hub.presence(a), 0);
    }
}
