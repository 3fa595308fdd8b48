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
        self.follower(after).into_stream()
    }

    /// A follower from after `after` (see [`Follower`]).
    pub fn follower(self: &Arc<Self>, after: u64) -> Follower {
        Follower {
            run: self.clone(),
            progress: self.progress.subscribe(),
            cursor: usize::try_from(after).unwrap_or(usize::MAX),
        }
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

/// A stream of events.
pub type EventStream = Pin<Box<dyn Stream<Item = ThreadEvent> + Send>>;

/// One reader of a reply's log: its place in the log and nothing else. Each event is rendered
/// from the log when asked for (no batch copied out and kept — an idle follower costs no buffer,
/// and a slow one never copies the log).
#[derive(Debug)]
pub struct Follower {
    run: Arc<ReplyLog>,
    progress: watch::Receiver<(usize, bool)>,
    cursor: usize,
}

impl Follower {
    /// The next event, waiting for it while the reply runs; `None` once the reply has ended and
    /// every event was given. Cancel-safe: dropped while waiting, it loses nothing (the place
    /// moves only when an event is returned).
    pub async fn next(&mut self) -> Option<ThreadEvent> {
        loop {
            let (len, done) = *self.progress.borrow_and_update();
            if self.cursor < len {
                let event = {
                    let state = self.run.state.lock().ok()?;
                    state.render(&self.run, self.cursor)
                };
                self.cursor += 1;
                return Some(event);
            }
            if done {
                return None;
            }
            self.progress.changed().await.ok()?;
        }
    }

    /// The same events as a stream.
    pub fn into_stream(self) -> EventStream {
        Box::pin(futures_util::stream::unfold(self, |mut f| async move {
            f.next().await.map(|event| (event, f))
        }))
    }
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;

    fn delta(i: usize) -> Event {
        Event::MessageDelta {
            delta: format!("part {i} "),
        }
    }

    #[tokio::test]
    async fn a_follower_reads_every_event_in_order_from_its_place_live_and_after_the_end() {
        let log = ReplyLog::new(ThreadId::new(), MessageId::new(), None);
        // More events than a follower ever took at once before, some before it joins.
        for i in 0..100 {
            log.push(delta(i));
        }
        let late = log.follower(40).into_stream();
        let writer = {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 100..300 {
                    log.push(delta(i));
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                log.finish();
            })
        };
        let all: Vec<ThreadEvent> = log.follow(0).collect().await;
        writer.await.unwrap();
        let seqs: Vec<u64> = all.iter().filter_map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=300).collect::<Vec<u64>>());
        assert!(matches!(&all[299].data, Event::MessageDelta { delta } if delta == "part 299 "));
        let from_41: Vec<u64> = late
            .collect::<Vec<_>>()
            .await
            .iter()
            .filter_map(|e| e.seq)
            .collect();
        assert_eq!(from_41, (41..=300).collect::<Vec<u64>>());
        // Past the end: nothing, and the stream ends at once.
        assert!(log.follow(300).collect::<Vec<_>>().await.is_empty());
    }

    #[tokio::test]
    async fn a_follower_given_up_while_waiting_loses_no_event() {
        let log = ReplyLog::new(ThreadId::new(), MessageId::new(), None);
        log.push(delta(0));
        let mut f = log.follower(0);
        assert_eq!(f.next().await.and_then(|e| e.seq), Some(1));
        // Waiting for the next event, then dropped (as when a keep-alive tick wins the race).
        let waited = tokio::time::timeout(Duration::from_millis(20), f.next()).await;
        assert!(waited.is_err(), "nothing to read yet");
        log.push(delta(1));
        log.push(delta(2));
        log.finish();
        assert_eq!(f.next().await.and_then(|e| e.seq), Some(2));
        assert_eq!(f.next().await.and_then(|e| e.seq), Some(3));
        assert!(f.next().await.is_none(), "the end");
    }
}
