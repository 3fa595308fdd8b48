//! The change feed: every thread event except deltas and typing, kept in a durable log with an
//! increasing cursor, so a system that was away catches up from where it stopped
//! (`GET /v1/events?after=`), and webhooks are delivered from it.
//!
//! Events reach the log two ways:
//! - **with their change**: a store write that reports a change (a message appended or placed
//!   by a reply's start, a reply's end) writes its entry in the change's own transaction
//!   ([`entry`] makes it), so a change is never committed without its entry; the use case then
//!   publishes the event as already kept ([`crate::events::ThreadEvents::publish_stored`]);
//! - **through the process's writer** ([`FeedQueue`]) for the others: the hub hands it each
//!   event it publishes, in order; the writer commits what queued in one transaction, and the
//!   use case waits for that commit before it answers ([`crate::events::ThreadEvents::emit`]).
//!
//! Either way, whatever a client was told is done is in the log. The thread's owner,
//! organization and product are taken when the entry is written. On SQLite (one writer) an
//! entry gets its cursor as it is written. On PostgreSQL cursors must follow commit order across
//! instances, which a write transaction cannot promise without serializing every commit: its
//! entries go to an outbox in its transaction, and the feed writer — under a cluster-wide
//! advisory lock — moves the outbox into the log (cursors assigned in the order it was filled)
//! before appending its own batch, at once when woken by a write here ([`FeedStore::settle_feed`])
//! and every second for what a crashed instance left. A reader settles the outbox before it
//! reads, so it never misses a change it was told about.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_threads_domain::{MessageId, OrgId, Principal, ThreadId, Timestamp};
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use crate::error::AppError;
use crate::events::{EventKind, EventRecorder, ThreadEvent};
use crate::system::Clock;

/// Most events committed in one transaction.
const BATCH: usize = 500;

/// An event on its way into the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedEvent {
    /// When it was published.
    pub at: Timestamp,
    /// Its thread.
    pub thread_id: ThreadId,
    /// Its wire name (`message.created`).
    pub kind: &'static str,
    /// The reply it belongs to, for a reply's events.
    pub reply_id: Option<MessageId>,
    /// Its `data` object as every transport sends it (JSON text).
    pub data: String,
}

/// An entry of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// Its place in the log: increasing, never reused.
    pub cursor: i64,
    /// When it was published.
    pub at: Timestamp,
    /// Its thread.
    pub thread_id: ThreadId,
    /// The thread's owner when it was written.
    pub owner: String,
    /// The thread's organization when it was written.
    pub org_id: Option<OrgId>,
    /// The thread's product when it was written.
    pub product: Option<String>,
    /// Its wire name.
    pub kind: String,
    /// The reply it belongs to.
    pub reply_id: Option<MessageId>,
    /// Its `data` object (JSON text).
    pub data: String,
}

/// An entry as one JSON object: `{"cursor","type","thread_id","at","data"}` (an NDJSON line of
/// `GET /v1/events` without its newline, and the body of a webhook delivery). `data` goes in as
/// stored, not parsed again.
pub fn line(e: &FeedEntry) -> String {
    format!(
        "{{\"cursor\":{},\"type\":{},\"thread_id\":\"{}\",\"at\":{},\"data\":{}}}",
        e.cursor,
        serde_json::Value::from(e.kind.as_str()),
        e.thread_id,
        serde_json::to_string(&e.at).unwrap_or_default(),
        e.data
    )
}

/// Whose entries a reader sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedScope {
    /// The threads a principal owns (`user:alice`).
    Owner(String),
    /// An organization's threads (its org admins and service principals).
    Org(OrgId),
}

impl FeedScope {
    /// What `who` reads: its organization's entries when it manages one, else its own.
    pub fn of(who: &Principal) -> Self {
        match who.managed_org() {
            Some(org) => Self::Org(org.clone()),
            None => Self::Owner(who.owner().as_str().to_owned()),
        }
    }

    /// Whether an entry is in this scope.
    pub fn holds(&self, entry: &FeedEntry) -> bool {
        match self {
            Self::Owner(o) => entry.owner == *o,
            Self::Org(org) => entry.org_id.as_ref() == Some(org),
        }
    }
}

/// Narrows a read of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Only these kinds (wire names); empty: every kind.
    pub types: Vec<String>,
    /// Only this thread.
    pub thread_id: Option<ThreadId>,
    /// Only threads of this product.
    pub product: Option<String>,
}

impl FeedFilter {
    /// Whether an entry passes.
    pub fn passes(&self, e: &FeedEntry) -> bool {
        (self.types.is_empty() || self.types.contains(&e.kind))
            && self.thread_id.is_none_or(|t| t == e.thread_id)
            && self
                .product
                .as_ref()
                .is_none_or(|p| e.product.as_ref() == Some(p))
    }
}

/// The entry `event` makes in the log at `at`, when its kind is logged: what a store writes
/// with the change the event reports, and what the process's writer queues.
pub fn entry(event: &ThreadEvent, at: Timestamp) -> Option<NewFeedEvent> {
    logged(event.kind()).then(|| entry_of(event, at))
}

/// The entry of `event` at `at`, whatever its kind.
fn entry_of(event: &ThreadEvent, at: Timestamp) -> NewFeedEvent {
    NewFeedEvent {
        at,
        thread_id: event.thread_id,
        kind: event.kind().as_str(),
        reply_id: event.reply_id,
        data: event.data_json(),
    }
}

/// The `message.created` entry of a message just stored (its time: the message's). `reply`:
/// the reply whose log it opens and its number there — a reply's start stores the user message
/// (1) and the placeholder (2, or 1 alone), numbered as [`ReplyLog`](crate::replies::log::ReplyLog) numbers them.
pub fn created_entry(
    message: &chat_threads_domain::Message,
    reply: Option<(MessageId, u64)>,
) -> NewFeedEvent {
    let event = ThreadEvent {
        thread_id: message.thread_id,
        seq: reply.map(|(_, seq)| seq),
        reply_id: reply.map(|(id, _)| id),
        data: crate::events::Event::created(message),
    };
    entry_of(&event, message.created_at)
}

/// The events a store write reports, made from its result: the store writes their change feed
/// entries in the write's transaction (at its time), and the use case then publishes the same
/// events ([`crate::events::ThreadEvents::publish_stored`]). [`silent`] reports nothing.
pub type Report<'a, R> = &'a (dyn Fn(&R) -> Vec<ThreadEvent> + Send + Sync);

/// The entries `report` makes of a write's `result`, at `at`.
pub fn reported<R>(report: Report<'_, R>, result: &R, at: Timestamp) -> Vec<NewFeedEvent> {
    report(result).iter().filter_map(|e| entry(e, at)).collect()
}

/// Reports nothing: a write no subscriber is told about (sweeps, imports, tests of a store).
pub fn silent<R>(_: &R) -> Vec<ThreadEvent> {
    Vec::new()
}

/// Storage of the log.
pub trait FeedStore: Clone + Send + Sync + 'static {
    /// Appends events in one transaction, in order, each with its thread's owner,
    /// organization and product as they are now (an event of a thread that no longer exists
    /// is dropped), after whatever entries changes left to be ordered (see
    /// [`FeedStore::settle_feed`]; with no events, only that). Cursors follow commit order
    /// across every writer of the database. The feed's writer calls it.
    fn append_feed(
        &self,
        events: &[NewFeedEvent],
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Gives cursors to the entries changes wrote with them that have none yet (PostgreSQL's
    /// outbox); nothing to do where entries get their cursor as they are written.
    fn settle_feed(&self) -> impl Future<Output = Result<(), AppError>> + Send {
        async { Ok(()) }
    }

    /// Entries in `scope` passing `filter` after `after`, oldest first, at most `limit`.
    fn read_feed(
        &self,
        scope: &FeedScope,
        filter: &FeedFilter,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FeedEntry>, AppError>> + Send;

    /// The highest cursor removed by retention (0: none yet): a reader after a lower cursor
    /// has missed entries.
    fn feed_floor(&self) -> impl Future<Output = Result<i64, AppError>> + Send;

    /// The highest cursor assigned so far (0: none).
    fn feed_head(&self) -> impl Future<Output = Result<i64, AppError>> + Send;

    /// Removes up to `batch` entries older than `cutoff`, raising the floor; how many.
    fn purge_feed(
        &self,
        cutoff: Timestamp,
        batch: u32,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;
}

/// Whether an event of this kind goes to the log: everything but deltas and typing.
pub fn logged(kind: EventKind) -> bool {
    !matches!(
        kind,
        EventKind::MessageDelta
            | EventKind::ToolCallDelta
            | EventKind::ReasoningDelta
            | EventKind::TypingStarted
            | EventKind::TypingStopped
            | EventKind::MessageStopRequested
    )
}

/// Every kind the feed keeps.
pub fn logged_kinds() -> impl Iterator<Item = EventKind> {
    EventKind::ALL.iter().copied().filter(|k| logged(*k))
}

/// The kind a wire name names, when the feed keeps it (filters and webhooks take only these).
pub fn logged_kind(name: &str) -> Option<EventKind> {
    logged_kinds().find(|k| k.as_str() == name)
}

struct Queue {
    /// Tickets handed out so far (the last one's number).
    issued: u64,
    /// Events to write, each with its ticket; `None`: entries were written with their change
    /// (settle them).
    tx: mpsc::UnboundedSender<(u64, Option<NewFeedEvent>)>,
}

/// How often the writer settles entries nobody woke it for (another instance's, left when it
/// crashed between its commit and its settling).
const SWEEP: Duration = Duration::from_secs(1);

/// After settling for writes alone, the writer waits this long for more before it settles
/// again: under load one settling takes the entries of many writes.
const SETTLE_PAUSE: Duration = Duration::from_millis(2);

/// The process's writer of the log. Cloning shares it.
#[derive(Clone)]
pub struct FeedQueue {
    queue: Arc<Mutex<Queue>>,
    /// The last ticket whose event is committed (or given up on).
    done: watch::Sender<u64>,
    /// Bumped whenever the log may have grown: a commit here or on another instance.
    grown: watch::Sender<u64>,
}

impl std::fmt::Debug for FeedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedQueue").finish_non_exhaustive()
    }
}

impl FeedQueue {
    /// Starts the writer on `runtime`.
    pub fn start<S: FeedStore>(store: S, runtime: &tokio::runtime::Handle) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Option<NewFeedEvent>)>();
        let done = watch::channel(0).0;
        let grown = watch::channel(0).0;
        let (done_w, grown_w) = (done.clone(), grown.clone());
        runtime.spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut sweep = tokio::time::interval(SWEEP);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                    _ = sweep.tick() => {
                        settle(&store).await;
                        continue;
                    }
                }
                let last = batch.last().map_or(0, |(t, _)| *t);
                let events: Vec<NewFeedEvent> = batch.drain(..).filter_map(|(_, e)| e).collect();
                // Only writes that kept their entries: order them.
                let settling = events.is_empty();
                if settling {
                    settle(&store).await;
                } else {
                    commit(&store, &events).await;
                }
                grown_w.send_modify(|g| *g += 1);
                done_w.send_replace(last);
                if settling {
                    tokio::time::sleep(SETTLE_PAUSE).await;
                }
            }
        });
        Self {
            queue: Arc::new(Mutex::new(Queue { issued: 0, tx })),
            done,
            grown,
        }
    }

    /// Hands the writer an entry to write (`None`: settle those written with their change);
    /// its ticket, 0 when the writer is gone.
    fn queue(&self, entry: Option<NewFeedEvent>) -> u64 {
        let Ok(mut q) = self.queue.lock() else {
            return 0;
        };
        q.issued += 1;
        let ticket = q.issued;
        if q.tx.send((ticket, entry)).is_err() {
            return 0;
        }
        ticket
    }

    /// Wakes this instance's tailing readers: another instance committed entries.
    pub fn grew_elsewhere(&self) {
        self.grown.send_modify(|g| *g += 1);
    }

    /// Changes whenever the log may have grown.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.grown.subscribe()
    }

    /// Events handed to the writer and not yet committed.
    pub fn backlog(&self) -> u64 {
        let issued = self.queue.lock().map_or(0, |q| q.issued);
        issued.saturating_sub(*self.done.borrow())
    }
}

/// Orders the entries writes kept with their changes into the log. A failure is only logged:
/// the entries are safe in the meantime, and the next wake-up or sweep tries again.
async fn settle<S: FeedStore>(store: &S) {
    if let Err(e) = store.append_feed(&[]).await {
        tracing::warn!(cause = %e.chain(), "settling the change feed failed");
    }
}

/// Commits a batch, retrying with back-off while the database refuses (the events' changes
/// are already committed; giving up would lose their entries). After ten minutes of failures
/// the batch is dropped with an error in the log, so one bad batch cannot stall the feed.
async fn commit<S: FeedStore>(store: &S, events: &[NewFeedEvent]) {
    let mut wait = Duration::from_millis(50);
    let started = std::time::Instant::now();
    loop {
        match store.append_feed(events).await {
            Ok(()) => return,
            Err(e) if started.elapsed() > Duration::from_secs(600) => {
                tracing::error!(cause = %e.chain(), dropped = events.len(), "the change feed lost events");
                return;
            }
            Err(e) => {
                tracing::warn!(cause = %e.chain(), "writing the change feed failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl EventRecorder for FeedQueue {
    fn record(&self, event: &ThreadEvent) -> u64 {
        let Some(entry) = entry(event, chrono::Utc::now()) else {
            return 0;
        };
        self.queue(Some(entry))
    }

    fn stored(&self) {
        self.queue(None);
    }

    fn recorded(&self, ticket: u64) -> BoxFuture<'static, ()> {
        let mut done = self.done.subscribe();
        Box::pin(async move {
            if ticket == 0 {
                return;
            }
            let _ = done.wait_for(|d| *d >= ticket).await;
        })
    }

    fn grew_elsewhere(&self) {
        FeedQueue::grew_elsewhere(self);
    }
}

/// The most entries one read returns.
pub const MAX_PAGE: u32 = 1000;

/// Reading the log.
#[derive(Debug, Clone)]
pub struct FeedService<S, C> {
    store: S,
    clock: C,
    queue: Option<FeedQueue>,
}

/// A page of the log.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// The entries, oldest first.
    pub entries: Vec<FeedEntry>,
    /// Where the next read starts: the last entry's cursor, else the one read from.
    pub cursor: i64,
    /// Whether more entries are there now.
    pub has_more: bool,
}

impl<S: FeedStore, C: Clock> FeedService<S, C> {
    /// A reader over `store`; `queue` wakes tailing readers (absent: they poll).
    pub fn new(store: S, clock: C, queue: Option<FeedQueue>) -> Self {
        Self {
            store,
            clock,
            queue,
        }
    }

    /// Entries `who` may see after `after`: its own threads', or its organization's for an
    /// org admin or service principal. A cursor below what retention removed is
    /// `cursor_expired` (the reader missed entries and must start again from 0 or now).
    pub async fn read(
        &self,
        who: &Principal,
        filter: &FeedFilter,
        after: i64,
        limit: Option<u32>,
    ) -> Result<FeedPage, AppError> {
        // Entries written with their changes get their cursors first: a change the reader was
        // told about is in what it reads.
        self.store.settle_feed().await?;
        self.read_on(who, filter, after, limit).await
    }

    /// What a live tail reads once it has caught up ([`Self::read`] without settling): the
    /// feed's writer settles before it wakes the tail ([`Self::watch`]), and every second.
    pub async fn read_on(
        &self,
        who: &Principal,
        filter: &FeedFilter,
        after: i64,
        limit: Option<u32>,
    ) -> Result<FeedPage, AppError> {
        let limit = limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(chat_threads_domain::DomainError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            )
            .into());
        }
        let floor = self.store.feed_floor().await?;
        if after < floor {
            return Err(AppError::CursorExpired(format!(
                "entries up to {floor} are past the change feed's retention; read from {floor}"
            )));
        }
        let scope = FeedScope::of(who);
        let mut entries = self
            .store
            .read_feed(&scope, filter, after, limit + 1)
            .await?;
        let has_more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let cursor = entries.last().map_or(after, |e| e.cursor);
        Ok(FeedPage {
            entries,
            cursor,
            has_more,
        })
    }

    /// Events this process published that the feed has not committed yet.
    pub fn backlog(&self) -> u64 {
        self.queue.as_ref().map_or(0, FeedQueue::backlog)
    }

    /// A receiver that changes when the log may have grown (`None`: poll).
    pub fn watch(&self) -> Option<watch::Receiver<u64>> {
        self.queue.as_ref().map(FeedQueue::watch)
    }

    /// The log's last cursor now, for a reader that starts from the present.
    pub async fn head(&self) -> Result<i64, AppError> {
        self.store.settle_feed().await?;
        self.store.feed_head().await
    }

    /// Removes entries older than `days`, batch by batch; how many.
    pub async fn purge_older_than(&self, days: u32, batch: u32) -> Result<u64, AppError> {
        let cutoff = self.clock.now() - chrono::TimeDelta::days(i64::from(days));
        let mut total = 0;
        loop {
            let n = self.store.purge_feed(cutoff, batch.max(1)).await?;
            total += n;
            if n < u64::from(batch.max(1)) {
                return Ok(total);
            }
        }
    }
}
