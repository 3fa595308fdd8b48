//! Live events per thread: new messages, reply progress, typing. Subscribers (WebSocket
//! connections) receive them; an optional bridge carries them to and from other instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chat_threads_domain::{
    Message, MessageId, MessageStatus, Part, Role, Summary, Thread, ThreadId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::ErrorCode;
use crate::usage::Usage;

/// Declares the events: each kind's wire name once, its typed data, and the kind enum.
macro_rules! events {
    ($($(#[doc = $doc:literal])* $kind:ident = $wire:literal $data:tt),+ $(,)?) => {
        /// What happened, with its data. The wire name (`message.created` ...) is the SSE
        /// `event:` field and the `type` of every serialized payload (SSE `data`, WebSocket,
        /// the bus between instances); an unknown name is refused, never guessed.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum Event {
            $($(#[doc = $doc])* #[serde(rename = $wire)] $kind $data),+
        }

        /// The kind of an [`Event`], without its data.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($(#[doc = $doc])* $kind),+
        }

        impl EventKind {
            /// Every kind.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$kind => $wire),+
                }
            }
        }

        impl Event {
            /// Its kind.
            pub fn kind(&self) -> EventKind {
                match self {
                    $(Event::$kind { .. } => EventKind::$kind),+
                }
            }
        }
    };
}

events! {
    /// A message was stored (appended, an edit's new version, a reply's placeholder).
    MessageCreated = "message.created" { message: Box<Message> },
    /// The next piece of a reply's text.
    MessageDelta = "message.delta" { delta: String },
    /// A reply finished.
    MessageCompleted = "message.completed" { content: String, usage: Option<Usage> },
    /// A reply failed; its partial text is stored.
    MessageFailed = "message.failed" { content: String, error: EventError },
    /// A reply was stopped; its partial text is stored.
    MessageCancelled = "message.cancelled" { content: String, usage: Option<Usage> },
    /// A reply ended by calling tools: it waits for their results (`POST
    /// .../messages/{id}/tool_results`). `tool_calls` are its `tool_call` parts.
    MessageRequiresAction = "message.requires_action" {
        content: String,
        tool_calls: Vec<Part>,
        usage: Option<Usage>,
    },
    /// Someone asked to stop a reply another instance writes: that instance stops it (the
    /// reply then ends with `message.cancelled`). Not kept in the change feed.
    MessageStopRequested = "message.stop_requested" {},
    /// A reply started a tool call: its place among the reply's calls, its id and the tool.
    /// `server` names the MCP server that runs it, for a tool the service runs.
    ToolCallStarted = "tool_call.started" {
        index: u32,
        call_id: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
    },
    /// The next fragment of a tool call's arguments (JSON text, whole once joined).
    ToolCallDelta = "tool_call.delta" { index: u32, arguments: String },
    /// A tool the service ran (over MCP) answered a call: its output as the model reads it.
    ToolCallResult = "tool_call.result" { call_id: String, output: String, is_error: bool },
    /// The next piece of the model's reasoning (stored as a `reasoning` part).
    ReasoningDelta = "reasoning.delta" { delta: String },
    /// Feedback or a reaction on a message changed.
    MessageUpdated = "message.updated" { message: Box<Message> },
    /// A message (alone, or with everything below it) was deleted.
    MessageDeleted = "message.deleted" {
        message_id: MessageId,
        scope: DeleteScope,
        deleted: u64,
        active_leaf_id: Option<MessageId>,
    },
    /// A deleted message came back (with `restored` messages in all: its subtree, or 1 for a
    /// tombstone's content); `active_leaf_id` is the thread's active leaf afterwards.
    MessageRestored = "message.restored" {
        message: Box<Message>,
        restored: u64,
        active_leaf_id: Option<MessageId>,
    },
    /// The thread's active branch changed.
    BranchSwitched = "branch.switched" { active_leaf_id: Option<MessageId> },
    /// The thread's title, status, metadata, system prompt or model changed.
    ThreadUpdated = "thread.updated" { thread: Box<Thread> },
    /// The thread was deleted (soft).
    ThreadDeleted = "thread.deleted" { thread: Box<Thread> },
    /// The thread was restored.
    ThreadRestored = "thread.restored" { thread: Box<Thread> },
    /// The owner let a principal in (`user:bob`), or changed their role.
    MemberAdded = "member.added" { principal: String, role: chat_threads_domain::MemberRole },
    /// A member was removed (or left): their live subscriptions to the thread end.
    MemberRemoved = "member.removed" { principal: String },
    /// A summary of the thread was stored.
    SummaryCreated = "summary.created" { summary: Box<Summary> },
    /// Someone (or the assistant) started writing.
    TypingStarted = "typing.started" (Typing),
    /// Someone (or the assistant) stopped writing.
    TypingStopped = "typing.stopped" (Typing),
}

/// What a delete removes (`?scope=` on the wire, and in `message.deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteScope {
    /// The message and everything below it (soft-deleted; the default).
    #[default]
    Subtree,
    /// The message alone: it becomes a tombstone and its children stay attached.
    Message,
}

/// The `error` of `message.failed`, in the one error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventError {
    /// The code (`model_error`).
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

impl EventError {
    /// A model failure.
    pub fn model(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::ModelError,
            message: message.into(),
        }
    }
}

/// Who is typing: the assistant (a reply), or a user on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// `assistant` or `user`.
    pub role: Role,
    /// The user's subject (absent for the assistant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The connection that is typing, so it is not echoed back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
}

impl Typing {
    /// The assistant, writing a reply.
    pub fn assistant() -> Self {
        Self {
            role: Role::Assistant,
            subject: None,
            connection_id: None,
        }
    }
}

impl EventKind {
    /// Whether this event is the last of a reply.
    pub fn ends_reply(self) -> bool {
        matches!(
            self,
            Self::MessageCompleted
                | Self::MessageFailed
                | Self::MessageCancelled
                | Self::MessageRequiresAction
        )
    }

    /// The fields of its `data` besides `type`, `thread_id` and the reply's `seq` and
    /// `message_id`: what the OpenAPI document describes (a test holds it to what
    /// serialization produces).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::MessageCreated | Self::MessageUpdated => &["message"],
            Self::MessageDelta => &["delta"],
            Self::MessageCompleted | Self::MessageCancelled => &["content", "usage"],
            Self::MessageFailed => &["content", "error"],
            Self::MessageRequiresAction => &["content", "tool_calls", "usage"],
            Self::ToolCallStarted => &["index", "call_id", "name"],
            Self::ToolCallDelta => &["index", "arguments"],
            Self::ToolCallResult => &["call_id", "output", "is_error"],
            Self::ReasoningDelta => &["delta"],
            Self::MessageDeleted => &["message_id", "scope", "deleted", "active_leaf_id"],
            Self::MessageRestored => &["message", "restored", "active_leaf_id"],
            Self::BranchSwitched => &["active_leaf_id"],
            Self::ThreadUpdated | Self::ThreadDeleted | Self::ThreadRestored => &["thread"],
            Self::SummaryCreated => &["summary"],
            Self::MemberAdded => &["principal", "role"],
            Self::MemberRemoved => &["principal"],
            Self::TypingStarted | Self::TypingStopped => &["role"],
            Self::MessageStopRequested => &[],
        }
    }

    /// Whether it belongs to a reply's log (numbered, resumable) when a reply produces it.
    pub fn of_reply(self) -> bool {
        matches!(
            self,
            Self::MessageDelta
                | Self::MessageCompleted
                | Self::MessageFailed
                | Self::MessageCancelled
                | Self::MessageRequiresAction
                | Self::ToolCallStarted
                | Self::ToolCallDelta
                | Self::ToolCallResult
                | Self::ReasoningDelta
        )
    }
}

impl Event {
    /// The message it is about, when it names one itself.
    fn own_message(&self) -> Option<MessageId> {
        match self {
            Self::MessageCreated { message } | Self::MessageUpdated { message } => Some(message.id),
            _ => None,
        }
    }

    /// A message was stored: the event its subscribers get and its change feed entry holds.
    pub fn created(message: &Message) -> Self {
        Self::MessageCreated {
            message: Box::new(message.clone()),
        }
    }

    /// How a stored reply ended: the same event its live followers got.
    pub fn reply_end(message: &Message) -> Option<Self> {
        let usage = match (message.prompt_tokens, message.completion_tokens) {
            (Some(p), Some(c)) => Some(Usage {
                prompt_tokens: u32::try_from(p).unwrap_or(0),
                completion_tokens: u32::try_from(c).unwrap_or(0),
            }),
            _ => None,
        };
        let content = message.content.as_str().to_owned();
        Self::ending(
            message.status,
            content,
            usage,
            None,
            calls_of(&message.parts),
        )
    }

    /// The last event of a reply that ended with `status` (`None` while it streams); a failure
    /// without its own `error` says only that it failed.
    pub fn ending(
        status: MessageStatus,
        content: String,
        usage: Option<Usage>,
        error: Option<EventError>,
        tool_calls: Vec<Part>,
    ) -> Option<Self> {
        match status {
            MessageStatus::Complete => Some(Self::MessageCompleted { content, usage }),
            MessageStatus::RequiresAction => Some(Self::MessageRequiresAction {
                content,
                tool_calls,
                usage,
            }),
            MessageStatus::Cancelled => Some(Self::MessageCancelled { content, usage }),
            MessageStatus::Failed => Some(Self::MessageFailed {
                content,
                error: error.unwrap_or_else(|| EventError::model("the reply failed")),
            }),
            MessageStatus::Streaming | MessageStatus::Queued => None,
        }
    }
}

/// The `tool_call` parts of a message's parts that wait for the caller's results.
pub fn calls_of(parts: &[Part]) -> Vec<Part> {
    let open: Vec<&str> = chat_threads_domain::parts::open_calls(parts)
        .map(|(id, _, _)| id)
        .collect();
    parts
        .iter()
        .filter(|p| matches!(p, Part::ToolCall { call_id, .. } if open.contains(&call_id.as_str())))
        .cloned()
        .collect()
}

/// An event of a thread: one type for the reply logs, subscribers, SSE, WebSocket and the bus
/// between instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadEvent {
    /// The thread.
    pub thread_id: ThreadId,
    /// The reply's seq for reply events (the SSE id), absent for others.
    pub seq: Option<u64>,
    /// The reply whose log this event belongs to, for reply events.
    pub reply_id: Option<MessageId>,
    /// What happened.
    pub data: Event,
}

/// The `data` of an event on the wire: its typed payload with `type`, the thread and, for a
/// reply's events, the seq and the message.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(flatten)]
    data: &'a Event,
    thread_id: ThreadId,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<MessageId>,
}

impl ThreadEvent {
    /// An event that is not part of a reply's log.
    pub fn thread(thread_id: ThreadId, data: Event) -> Self {
        Self {
            thread_id,
            seq: None,
            reply_id: None,
            data,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }

    /// The `data` object every transport sends: the payload with its `type`, `thread_id`, and
    /// `seq` and `message_id` when it is part of a reply.
    pub fn data_json(&self) -> String {
        let message_id = match &self.data {
            Event::MessageDeleted { .. } => None,
            data => data.own_message().or(self.reply_id),
        };
        let wire = Wire {
            data: &self.data,
            thread_id: self.thread_id,
            seq: self.seq,
            message_id,
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// The Server-Sent Events frame: `id` (the reply's seq), `event` and `data`.
    pub fn sse_frame(&self) -> String {
        let mut frame = String::new();
        if let Some(seq) = self.seq {
            frame.push_str(&format!("id: {seq}\n"));
        }
        frame.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            self.kind().as_str(),
            self.data_json()
        ));
        frame
    }

    /// The WebSocket frame: `{"type":"event","event":…,"id":seq|null,"data":…}`.
    pub fn ws_frame(&self) -> String {
        let id = self
            .seq
            .map_or_else(|| "null".to_owned(), |s| s.to_string());
        format!(
            r#"{{"type":"event","event":"{}","id":{id},"data":{}}}"#,
            self.kind().as_str(),
            self.data_json()
        )
    }
}

/// Events per thread a subscriber may fall behind by. Each subscriber's task moves events on
/// to its connection's own queue as they come, so it lags only while its thread is not
/// scheduled; the ring is allocated in full for every thread with a subscriber and holds the
/// last events it carried. A slot holds an `Arc` of the event (every subscriber shares the one
/// copy instead of cloning it on receipt): ~10 KiB a watched thread, where slots holding the
/// event itself (136 bytes) took ~42 KiB.
const CHANNEL: usize = 256;

/// Carries events to other instances (PostgreSQL LISTEN/NOTIFY); absent on a single instance.
pub trait EventBridge: Send + Sync + 'static {
    /// Sends an event to the other instances.
    fn forward(&self, event: &ThreadEvent);
}

/// The longest a use case waits for the change feed to hold its events.
pub const RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps published events in a durable log (the change feed, [`crate::feed`]).
pub trait EventRecorder: Send + Sync + 'static {
    /// Queues an event for the log when its kind is logged; returns a ticket to wait on (0:
    /// nothing to wait for).
    fn record(&self, event: &ThreadEvent) -> u64;
    /// Entries were written with their changes (see [`crate::feed`]): have them ordered into
    /// the log soon, and wake its readers.
    fn stored(&self);
    /// Resolves once the event of `ticket` (and every one before it) is committed.
    fn recorded(&self, ticket: u64) -> futures_util::future::BoxFuture<'static, ()>;
    /// Another instance committed entries: wakes the readers tailing the log here.
    fn grew_elsewhere(&self);
}

#[derive(Default)]
struct Inner {
    channels: HashMap<ThreadId, broadcast::Sender<Arc<ThreadEvent>>>,
    /// Connections on each thread here.
    presence: HashMap<ThreadId, usize>,
    /// Other instances' counts ([`crate::presence`]), and the threads whose count here changed
    /// since they were last told (kept only while shared).
    cluster: crate::presence::Cluster,
}

/// The in-process hub of thread events and live connections.
#[derive(Clone, Default)]
pub struct ThreadEvents {
    inner: Arc<Mutex<Inner>>,
    bridge: Option<Arc<dyn EventBridge>>,
    /// The change feed's writer, attached once by the composition root (shared by clones).
    recorder: Arc<std::sync::OnceLock<Arc<dyn EventRecorder>>>,
}

impl std::fmt::Debug for ThreadEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadEvents")
            .field("bridged", &self.bridge.is_some())
            .finish_non_exhaustive()
    }
}

impl ThreadEvents {
    /// Publishes an event of a thread that is not part of a reply, and returns once the
    /// change feed's writer committed it. For an event that reports no stored change: a write's
    /// events are kept with the write ([`crate::feed::Report`], [`Self::publish_stored`]).
    pub async fn emit(&self, thread_id: ThreadId, data: Event) {
        let ticket = self.publish(ThreadEvent::thread(thread_id, data));
        self.recorded(ticket).await;
    }

    /// A hub that also forwards its events through `bridge`.
    pub fn with_bridge(bridge: Arc<dyn EventBridge>) -> Self {
        Self {
            inner: Arc::default(),
            bridge: Some(bridge),
            recorder: Arc::default(),
        }
    }

    /// Keeps this hub's events (and its clones') in `recorder` from now on; a second call
    /// changes nothing.
    pub fn attach_recorder(&self, recorder: Arc<dyn EventRecorder>) {
        let _ = self.recorder.set(recorder);
    }

    /// Publishes an event whose change feed entry the store wrote with the change it reports
    /// ([`crate::feed::entry`]): to local subscribers and other instances; the feed's writer is
    /// only told to order the entry into the log.
    pub fn publish_stored(&self, event: ThreadEvent) {
        if let Some(r) = self.recorder.get() {
            r.stored();
        }
        self.send(event);
    }

    /// Publishes the events a store write reported ([`crate::feed::Report`]) and kept with its
    /// change.
    pub fn publish_all_stored(&self, events: Vec<ThreadEvent>) {
        for e in events {
            self.publish_stored(e);
        }
    }

    /// Publishes an event produced here: to the change feed (when its kind is logged), local
    /// subscribers and other instances. Returns the feed's ticket for [`Self::recorded`].
    pub fn publish(&self, event: ThreadEvent) -> u64 {
        let ticket = self.recorder.get().map_or(0, |r| r.record(&event));
        self.send(event);
        ticket
    }

    /// Sends an event produced here to other instances and local subscribers.
    fn send(&self, event: ThreadEvent) {
        if let Some(bridge) = &self.bridge {
            bridge.forward(&event);
        }
        self.deliver(event);
    }

    /// Resolves once the change feed holds the event of `ticket` and all before it — or after
    /// [`RECORD_WAIT`], with a warning: a change already made is answered even when the feed
    /// cannot take its entry (its writer keeps retrying).
    pub async fn recorded(&self, ticket: u64) {
        if let Some(r) = self.recorder.get()
            && tokio::time::timeout(RECORD_WAIT, r.recorded(ticket))
                .await
                .is_err()
        {
            tracing::warn!(
                ticket,
                "the change feed is behind; answering without waiting for it"
            );
        }
    }

    /// Another instance committed change feed entries (wakes tailing readers here).
    pub fn feed_grew_elsewhere(&self) {
        if let Some(r) = self.recorder.get() {
            r.grew_elsewhere();
        }
    }

    /// Delivers an event to local subscribers only (events arriving from other instances).
    pub fn deliver(&self, event: ThreadEvent) {
        let Ok(inner) = self.inner.lock() else {
            return;
        };
        // A ring in the hub always has a receiver: the last subscription to leave removes it
        // under this lock (`ThreadSubscription`'s drop), so a send cannot find nobody listening.
        if let Some(tx) = inner.channels.get(&event.thread_id) {
            let _ = tx.send(Arc::new(event));
        }
    }

    /// Subscribes to a thread's events. The thread's ring is let go with its last subscriber.
    pub fn subscribe(&self, thread_id: ThreadId) -> ThreadSubscription {
        let rx = match self.inner.lock() {
            Ok(mut inner) => inner
                .channels
                .entry(thread_id)
                .or_insert_with(|| broadcast::channel(CHANNEL).0)
                .subscribe(),
            Err(_) => broadcast::channel(1).1,
        };
        ThreadSubscription {
            rx: Some(rx),
            events: self.clone(),
            thread_id,
        }
    }

    /// Registers a live connection on a thread; the guard unregisters it when dropped.
    pub fn join(&self, thread_id: ThreadId) -> PresenceGuard {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.presence.entry(thread_id).or_default() += 1;
            inner.cluster.changed(thread_id);
        }
        PresenceGuard {
            events: self.clone(),
            thread_id,
        }
    }

    /// Tells other instances' presence apart from now on: [`ThreadEvents::presence_changes`]
    /// gives what changed here, [`ThreadEvents::presence_elsewhere`] takes what they say.
    pub fn share_presence(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.cluster.share();
        }
    }

    /// The threads whose connection count here changed since the last call (`all`: every
    /// thread with connections here), with their counts here.
    pub fn presence_changes(&self, all: bool) -> Vec<(ThreadId, usize)> {
        self.inner
            .lock()
            .map(|mut i| {
                let i = &mut *i;
                i.cluster.take_changes(&i.presence, all)
            })
            .unwrap_or_default()
    }

    /// What another instance says of its connection counts (`whole`: all of them).
    pub fn presence_elsewhere(&self, instance: &str, counts: Vec<(ThreadId, usize)>, whole: bool) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.cluster.heard(instance, counts, whole);
        }
    }

    /// Live connections on a thread: on this instance, and on the others that share their
    /// counts ([`crate::presence`]).
    pub fn presence(&self, thread_id: ThreadId) -> usize {
        self.inner
            .lock()
            .ok()
            .map(|i| {
                i.presence.get(&thread_id).copied().unwrap_or(0) + i.cluster.elsewhere(thread_id)
            })
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
            inner.cluster.changed(self.thread_id);
        }
    }
}

/// One subscriber's receiving end of a thread's events ([`ThreadEvents::subscribe`]). Dropping
/// the last one removes the thread's ring from the hub at once: a ring is allocated in full
/// (every slot), and a thread watched once and never written to again kept its ring for the
/// life of the process.
#[derive(Debug)]
pub struct ThreadSubscription {
    rx: Option<broadcast::Receiver<Arc<ThreadEvent>>>,
    events: ThreadEvents,
    thread_id: ThreadId,
}

impl ThreadSubscription {
    /// The next event of the thread (see [`broadcast::Receiver::recv`]: `Lagged` when this
    /// subscriber fell a ring behind).
    pub async fn recv(&mut self) -> Result<Arc<ThreadEvent>, broadcast::error::RecvError> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for ThreadSubscription {
    fn drop(&mut self) {
        // Under the hub's lock, so that a subscribe of the same thread either joins this ring
        // before the count is taken or makes a new one after it is gone.
        if let Ok(mut inner) = self.events.inner.lock() {
            drop(self.rx.take());
            if inner
                .channels
                .get(&self.thread_id)
                .is_some_and(|tx| tx.receiver_count() == 0)
            {
                inner.channels.remove(&self.thread_id);
            }
        }
    }
}

#[cfg(test)]
mod tests;
