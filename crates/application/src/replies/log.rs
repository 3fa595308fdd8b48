//! The event log of each reply: seq-numbered events kept while the reply runs and for a
//! retention period after, so any number of followers can follow it and resume after a
//! `Last-Event-ID` without gap or duplicate. [`Hub`] holds this process's logs.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chat_threads_domain::{Content, Message, MessageId, MessageStatus, ThreadId};
use futures_core::Stream;
use tokio::sync::watch;

use crate::events::{Event, ThreadEvent, ThreadEvents};

/// One entry of a log. Deltas, nearly all of a reply's events, are kept as a range of the
/// reply's one text buffer and rendered when a follower reads them: a delta costs its text and
/// eight bytes, not a JSON object with the ids copied in.
#[derive(Debug)]
enum Entry {
    Delta { start: u32, end: u32 },
    Event(Box<ThreadEvent>),
}

#[derive(Debug, Default)]
struct RunState {
    /// The text of every delta, in order.
    text: String,
    entries: Vec<Entry>,
    done: bool,
}

impl RunState {
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Stores an event; a delta's text goes to the shared buffer.
    fn store(&mut self, event: &ThreadEvent) {
        let delta = match &event.data {
            Event::MessageDelta { delta } => Some(delta.as_str()),
            _ => None,
        };
        match delta {
            Some(d) if self.text.len() + d.len() <= u32::MAX as usize => {
                let start = self.text.len() as u32;
                self.text.push_str(d);
                self.entries.push(Entry::Delta {
                    start,
                    end: self.text.len() as u32,
                });
            }
            _ => self.entries.push(Entry::Event(Box::new(event.clone()))),
        }
    }

    /// The event at `index` (0-based; its seq is `index + 1`).
    fn render(&self, run: &ReplyLog, index: usize) -> ThreadEvent {
        match &self.entries[index] {
            Entry::Event(e) => (**e).clone(),
            Entry::Delta { start, end } => run.numbered(
                index as u64 + 1,
                Event::MessageDelta {
                    delta: self.text[*start as usize..*end as usize].to_owned(),
                },
            ),
        }
    }
}

/// A reply being written (or recently finished).
#[derive(Debug)]
pub struct ReplyLog {
    /// The thread.
    pub thread_id: ThreadId,
    /// The assistant message being written.
    pub message_id: MessageId,
    /// Where events are also published for the thread's subscribers (none for replays).
    events: Option<ThreadEvents>,
    state: Mutex<RunState>,
    progress: watch::Sender<(usize, bool)>,
    pub(crate) cancel: watch::Sender<bool>,
    /// The change feed's ticket of the last event this log published.
    recorded: std::sync::atomic::AtomicU64,
}

impl ReplyLog {
    pub(crate) fn new(
        thread_id: ThreadId,
        message_id: MessageId,
        events: Option<ThreadEvents>,
    ) -> Arc<Self> {
        Arc::new(Self {
            thread_id,
            message_id,
            events,
            state: Mutex::new(RunState::default()),
            progress: watch::channel((0, false)).0,
            cancel: watch::channel(false).0,
            recorded: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The event numbered `seq` of this log.
    fn numbered(&self, seq: u64, data: Event) -> ThreadEvent {
        ThreadEvent {
            thread_id: self.thread_id,
            seq: Some(seq),
            reply_id: Some(self.message_id),
            data,
        }
    }

    /// The number the next event appended here gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.state.lock().map_or(1, |s| s.len() as u64 + 1)
    }

    pub(crate) fn push(&self, data: Event) {
        self.append(data, false);
    }

    /// Appends an event whose change feed entry the store wrote with its change (numbered as
    /// this log numbers it: see [`crate::feed::created_entry`]).
    pub(crate) fn push_stored(&self, data: Event) {
        self.append(data, true);
    }

    /// Appends an event, numbered after the last, for followers and (when this log publishes)
    /// the thread's subscribers — to the change feed too unless `stored` (its entry is there);
    /// returns it.
    fn append(&self, data: Event, stored: bool) -> Option<ThreadEvent> {
        let mut state = self.state.lock().ok()?;
        let event = self.numbered(state.len() as u64 + 1, data);
        state.store(&event);
        let len = state.len();
        drop(state);
        self.progress.send_replace((len, false));
        if let Some(events) = &self.events {
            if stored {
                events.publish_stored(event.clone());
            } else {
                let ticket = events.publish(event.clone());
                self.recorded
                    .fetch_max(ticket, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Some(event)
    }

    /// Ends a log whose writer is gone with a final event whose change feed entry was stored
    /// with the end, numbered after the last one, and returns it (a mirrored log does not
    /// publish it by itself).
    pub(crate) fn push_final_stored(&self, data: Event) -> Option<ThreadEvent> {
        let event = self.append(data, true);
        self.finish();
        event
    }

    /// Whether this log publishes its events to the thread's subscribers itself.
    pub(crate) fn publishes(&self) -> bool {
        self.events.is_some()
    }

    /// Appends an event produced by another instance (already numbered), for local followers.
    pub(crate) fn push_remote(&self, event: ThreadEvent) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if event.seq != Some(state.len() as u64 + 1) {
            return; // a duplicate or one out of order: the log stays gap-free
        }
        state.store(&event);
        let len = state.len();
        drop(state);
        self.progress.send_replace((len, false));
    }

    pub(crate) fn finish(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.done = true;
        let len = state.len();
        drop(state);
        self.progress.send_replace((len, true));
    }

    /// Whether the reply has ended.
    pub fn is_done(&self) -> bool {
        self.state.lock().map(|s| s.done).unwrap_or(true)
    }

    /// Asks the reply to stop; it keeps the text so far.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// The events after `after` (a `Last-Event-ID`), then the live ones until the end.
    pub fn follow(self: &Arc<Self>, after: u64) -> EventStream {
        let run = self.clone();
        let rx = self.progress.subscribe();
        Box::pin(futures_util::stream::unfold(
            (run, rx, after as usize, Vec::<ThreadEvent>::new()),
            |(run, mut rx, mut cursor, mut pending)| async move {
                loop {
                    if let Some(next) = pending.pop() {
                        return Some((next, (run, rx, cursor, pending)));
                    }
                    let (len, done) = *rx.borrow_and_update();
                    if cursor < len {
                        let Ok(state) = run.state.lock() else {
                            return None;
                        };
                        // A bounded batch at a time: a slow follower never copies the log.
                        let end = len.min(cursor + FOLLOW_BATCH);
                        pending = (cursor..end).rev().map(|i| state.render(&run, i)).collect();
                        drop(state);
                        cursor = end;
                        continue;
                    }
                    if done {
                        return None;
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        ))
    }

    /// Waits until the change feed holds every event this log published so far.
    pub async fn recorded(&self) {
        if let Some(events) = &self.events {
            let ticket = self.recorded.load(std::sync::atomic::Ordering::Relaxed);
            events.recorded(ticket).await;
        }
    }

    /// Waits until the reply ends and the change feed holds its end.
    pub async fn wait(&self) {
        let mut rx = self.progress.subscribe();
        while !rx.borrow_and_update().1 {
            if rx.changed().await.is_err() {
                return;
            }
        }
        if let Some(events) = &self.events {
            let ticket = self.recorded.load(std::sync::atomic::Ordering::Relaxed);
            events.recorded(ticket).await;
        }
    }
}

/// Events a follower takes from the log at once.
const FOLLOW_BATCH: usize = 64;

/// A stream of events.
pub type EventStream = Pin<Box<dyn Stream<Item = ThreadEvent> + Send>>;

/// The running and recently finished replies of this process.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    runs: Arc<Mutex<HashMap<MessageId, Arc<ReplyLog>>>>,
}

impl Hub {
    pub(crate) fn insert(&self, run: Arc<ReplyLog>) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(run.message_id, run);
        }
    }

    pub(crate) fn remove(&self, id: MessageId) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(&id);
        }
    }

    /// The reply of this message, if this process has it.
    pub fn get(&self, id: MessageId) -> Option<Arc<ReplyLog>> {
        self.runs.lock().ok()?.get(&id).cloned()
    }

    /// Replies still running.
    pub fn running(&self) -> Vec<Arc<ReplyLog>> {
        self.runs
            .lock()
            .map(|r| r.values().filter(|r| !r.is_done()).cloned().collect())
            .unwrap_or_default()
    }

    /// Whether a reply of this thread is running here.
    pub fn thread_busy(&self, thread_id: ThreadId) -> bool {
        self.running().iter().any(|r| r.thread_id == thread_id)
    }
}

/// Replays a stored reply as a log, as its live followers saw it: `message.created` with the
/// placeholder, its reasoning and tool calls, its text as one delta, and the final event.
pub(crate) fn replay(run: &ReplyLog, message: &Message) {
    run.push(Event::MessageCreated {
        message: Box::new(as_created(message)),
    });
    use chat_threads_domain::Part;
    // As a model streams them: reasoning, the rounds of tools the service ran (each call and
    // its result), the text, then the calls that wait for the caller's results.
    for part in &message.parts {
        if let Part::Reasoning {
            summary: Some(summary),
            ..
        } = part
        {
            run.push(Event::ReasoningDelta {
                delta: summary.clone(),
            });
        }
    }
    let open: Vec<&str> = message.open_calls().map(|(id, _, _)| id).collect();
    let call = |index: u32, call_id: &str, name: &str, arguments: &str, server: Option<&String>| {
        run.push(Event::ToolCallStarted {
            index,
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            server: server.cloned(),
        });
        run.push(Event::ToolCallDelta {
            index,
            arguments: arguments.to_owned(),
        });
    };
    let mut index = 0u32;
    for part in &message.parts {
        match part {
            Part::ToolCall {
                call_id,
                name,
                arguments,
                server,
            } if !open.contains(&call_id.as_str()) => {
                call(index, call_id, name, arguments, server.as_ref());
                index += 1;
            }
            Part::ToolResult {
                call_id,
                output,
                is_error,
            } => run.push(Event::ToolCallResult {
                call_id: call_id.clone(),
                output: Part::output_text(output),
                is_error: *is_error,
            }),
            _ => {}
        }
    }
    if !message.content.as_str().is_empty() {
        run.push(Event::MessageDelta {
            delta: message.content.as_str().to_owned(),
        });
    }
    for (call_id, name, arguments) in message.open_calls() {
        call(index, call_id, name, arguments, None);
        index += 1;
    }
    if let Some(end) = Event::reply_end(message) {
        run.push(end);
    }
}

/// A reply as its placeholder was stored: no text, no tokens, no metadata (the prompt record
/// comes later), streaming.
fn as_created(message: &Message) -> Message {
    Message {
        content: Content::from_stored(String::new()),
        status: MessageStatus::Streaming,
        prompt_tokens: None,
        completion_tokens: None,
        metadata: chat_threads_domain::Metadata::default(),
        parts: Vec::new(),
        updated_at: message.created_at,
        ..message.clone()
    }
}
