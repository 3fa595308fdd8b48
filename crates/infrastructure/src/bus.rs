//! Fan-out of thread events across instances through PostgreSQL LISTEN/NOTIFY.
//!
//! Every instance publishes the events it produces on one channel and listens to it, so a
//! client connected to instance B sees messages and reply deltas produced on instance A, and can
//! resume on B a reply running on A (B mirrors the reply's event log as it streams).
//!
//! Publishing goes through one connection, in order, in batches: whatever is queued (up to
//! [`MAX_BATCH`] events) leaves in one round trip — events packed into notifications of up to
//! [`INLINE_LIMIT`] bytes, all sent by one `SELECT pg_notify(...) FROM unnest(...)`. An event
//! over the limit on its own travels by reference (stored in `event_payloads`, the notification
//! carries its id). When the publisher falls behind (more than [`COALESCE_AFTER`] events
//! queued), consecutive deltas of one reply are coalesced into one, carrying the lengths of the
//! parts: the receiving instance splits it back, so its copy of the reply's log is event for
//! event the same (exact resume), while its local subscribers get the joined text at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_threads_application::events::{Event, EventBridge, ThreadEvent, ThreadEvents};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// The NOTIFY channel.
pub const CHANNEL: &str = "chat_threads_events";
/// Largest payload sent inline (NOTIFY's limit is 8000 bytes).
pub const INLINE_LIMIT: usize = 7800;
/// Most events published in one round trip.
pub const MAX_BATCH: usize = 2000;
/// A batch larger than this (a publisher behind) has its deltas coalesced.
pub const COALESCE_AFTER: usize = 64;

/// Publishes this instance's events to the others.
#[derive(Clone)]
pub struct PgBridge {
    origin: String,
    queue: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<AtomicUsize>,
    signals: Arc<std::sync::RwLock<Option<OnSignal>>>,
}

impl std::fmt::Debug for PgBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBridge")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// What the publisher sends: an event, or a signal (a payload of its own, already written).
#[derive(Debug)]
enum Outgoing {
    Event(ThreadEvent),
    Signal(String),
}

impl EventBridge for PgBridge {
    fn forward(&self, event: &ThreadEvent) {
        if self.queue.send(Outgoing::Event(event.clone())).is_ok() {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What happens to other instances' signals: `(kind, sending instance, body)`.
pub type OnSignal = Arc<dyn Fn(&str, &str, &Value) + Send + Sync>;

/// What happens to events that arrive from other instances.
pub type OnRemote = Arc<dyn Fn(&ThreadEvent) + Send + Sync>;

async fn connect(
    url: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    tokio_postgres::Error,
> {
    tokio_postgres::connect(url, NoTls).await
}

impl PgBridge {
    /// Starts the publisher on `runtime` and returns the bridge. Call [`PgBridge::listen`] once
    /// the receiving side is ready.
    pub fn start(url: String, runtime: &tokio::runtime::Handle) -> Self {
        let origin = uuid::Uuid::now_v7().to_string();
        let (queue, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        let me = origin.clone();
        runtime.spawn(async move {
            let mut backoff = Duration::from_millis(200);
            'reconnect: loop {
                let (client, conn, statements) = match Statements::open(&url).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "event publisher cannot connect; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                };
                backoff = Duration::from_millis(200);
                while let Some(first) = rx.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(e) => batch.push(e),
                            Err(_) => break,
                        }
                    }
                    taken.fetch_sub(batch.len(), Ordering::Relaxed);
                    let mut signals = Vec::new();
                    let batch: Vec<ThreadEvent> = batch
                        .into_iter()
                        .filter_map(|o| match o {
                            Outgoing::Event(e) => Some(e),
                            Outgoing::Signal(s) => {
                                signals.push(s);
                                None
                            }
                        })
                        .collect();
                    let items = if batch.len() > COALESCE_AFTER {
                        coalesce(batch)
                    } else {
                        batch.into_iter().map(Item::single).collect()
                    };
                    if let Err(e) = publish(&client, &statements, &me, &items, signals).await {
                        tracing::warn!(error = %e, "publishing events failed; reconnecting");
                        conn.abort();
                        continue 'reconnect;
                    }
                }
                return;
            }
        });
        Self {
            origin,
            queue,
            queued,
            signals: Arc::default(),
        }
    }

    /// Sends `body` to the other instances as a signal of `kind` (state they share with this
    /// one, such as rate limit spending and presence), in the next batch. A body over
    /// [`INLINE_LIMIT`] is dropped (with a warning): senders split theirs.
    pub fn signal(&self, kind: &str, body: &Value) {
        let payload = format!(
            "{},\"k\":{},\"b\":{body}}}",
            origin_prefix(&self.origin),
            json!(kind)
        );
        if payload.len() > INLINE_LIMIT {
            tracing::warn!(
                kind,
                bytes = payload.len(),
                "a signal over the notification limit was dropped"
            );
            return;
        }
        if self.queue.send(Outgoing::Signal(payload)).is_ok() {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sets what happens to the other instances' signals (before or after [`PgBridge::listen`]).
    pub fn on_signal(&self, handler: OnSignal) {
        if let Ok(mut slot) = self.signals.write() {
            *slot = Some(handler);
        }
    }

    /// Events waiting to be published to the other instances.
    pub fn queue_len(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Listens to the other instances' events: each goes to local subscribers and to `on_remote`.
    /// Returns once the first `LISTEN` is in place (or after 10 s, logging a warning), so an
    /// instance does not serve before it hears the others.
    pub async fn listen(
        &self,
        url: String,
        events: ThreadEvents,
        on_remote: OnRemote,
        runtime: &tokio::runtime::Handle,
    ) {
        let origin = self.origin.clone();
        let signals = self.signals.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let mut backoff = Duration::from_millis(200);
            let mut ready = Some(ready_tx);
            let receivers = Receivers {
                on_remote,
                signals,
            };
            loop {
                match listen_once(&url, &origin, &events, &receivers, &mut ready).await {
                    Ok(()) => {}
                    Err(e) => tracing::warn!(error = %e, "event listener lost its connection; reconnecting"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        });
        if tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .is_err()
        {
            tracing::warn!("not yet listening to other instances' events; continuing");
        }
    }
}

/// Where received events and signals go.
struct Receivers {
    on_remote: OnRemote,
    signals: Arc<std::sync::RwLock<Option<OnSignal>>>,
}

/// One event on the wire; `parts` (the byte lengths of coalesced deltas, in order) when it
/// stands for several.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Item {
    e: ThreadEvent,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<usize>,
}

impl Item {
    fn single(e: ThreadEvent) -> Self {
        Self {
            e,
            parts: Vec::new(),
        }
    }

    /// The events it stands for: a coalesced delta split back into its parts, numbered.
    fn events(self) -> Vec<ThreadEvent> {
        if self.parts.len() < 2 {
            return vec![self.e];
        }
        let (Some(last), Event::MessageDelta { delta: text }) = (self.e.seq, &self.e.data) else {
            return vec![self.e];
        };
        let first = last + 1 - self.parts.len() as u64;
        let mut out = Vec::with_capacity(self.parts.len());
        let mut at = 0;
        for (i, len) in self.parts.iter().enumerate() {
            let Some(piece) = text.get(at..at + len) else {
                return vec![self.e];
            };
            at += len;
            let seq = first + i as u64;
            out.push(ThreadEvent {
                thread_id: self.e.thread_id,
                seq: Some(seq),
                reply_id: self.e.reply_id,
                data: Event::MessageDelta {
                    delta: piece.to_owned(),
                },
            });
        }
        out
    }
}

/// Joins runs of consecutive deltas of one reply (seq n, n+1, …) into one item each, keeping
/// the order of everything else.
fn coalesce(batch: Vec<ThreadEvent>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::with_capacity(batch.len());
    // For each reply, the index in `out` of its last item.
    let mut last: std::collections::HashMap<chat_threads_domain::MessageId, usize> =
        std::collections::HashMap::new();
    for e in batch {
        let (Some(reply), Some(seq)) = (e.reply_id, e.seq) else {
            out.push(Item::single(e));
            continue;
        };
        // The previous item of this reply, when it is the delta just before this one.
        let before = last
            .get(&reply)
            .copied()
            .filter(|&i| out[i].e.seq == Some(seq - 1));
        match (before, &e.data) {
            (Some(i), Event::MessageDelta { delta })
                if matches!(out[i].e.data, Event::MessageDelta { .. }) =>
            {
                let item = &mut out[i];
                if let Event::MessageDelta { delta: joined } = &mut item.e.data {
                    if item.parts.is_empty() {
                        item.parts.push(joined.len());
                    }
                    item.parts.push(delta.len());
                    joined.push_str(delta);
                }
                item.e.seq = Some(seq);
            }
            _ => {
                last.insert(reply, out.len());
                out.push(Item::single(e));
            }
        }
    }
    out
}

/// The publisher's statements, prepared once per connection.
struct Statements {
    /// Stores an event too large to travel inline.
    store: tokio_postgres::Statement,
    /// Sends a batch of notifications, in order.
    notify: tokio_postgres::Statement,
}

impl Statements {
    /// Connects the publisher and prepares its statements, once per connection: each batch is
    /// then one round trip. Returns the client, its connection's task and the statements.
    async fn open(
        url: &str,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
            Self,
        ),
        tokio_postgres::Error,
    > {
        let (client, connection) = connect(url).await?;
        let conn = tokio::spawn(connection);
        match Self::prepare(&client).await {
            Ok(statements) => Ok((client, conn, statements)),
            Err(e) => {
                conn.abort();
                Err(e)
            }
        }
    }

    async fn prepare(client: &tokio_postgres::Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            store: client
                .prepare(
                    "INSERT INTO event_payloads (id, body, created_at) VALUES ($1::text::uuid, $2, now())",
                )
                .await?,
            notify: client
                .prepare(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
                )
                .await?,
        })
    }
}

/// Publishes items in one round trip: packed into notifications of at most [`INLINE_LIMIT`]
/// bytes; an item too large on its own is stored first and sent by reference.
async fn publish(
    client: &tokio_postgres::Client,
    statements: &Statements,
    origin: &str,
    items: &[Item],
    signals: Vec<String>,
) -> Result<(), tokio_postgres::Error> {
    let head = json!({"o": origin, "es": []}).to_string().len();
    let mut payloads: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = head;
    for item in items {
        let mut body = serde_json::to_string(item).unwrap_or_default();
        if head + body.len() > INLINE_LIMIT {
            let id = uuid::Uuid::now_v7().to_string();
            client.execute(&statements.store, &[&id, &body]).await?;
            body = json!({"ref": id}).to_string();
        }
        if size + body.len() + 1 > INLINE_LIMIT && !current.is_empty() {
            payloads.push(envelope(origin, &current));
            current.clear();
            size = head;
        }
        size += body.len() + 1;
        current.push(body);
    }
    if !current.is_empty() {
        payloads.push(envelope(origin, &current));
    }
    payloads.extend(signals);
    client
        .execute(&statements.notify, &[&CHANNEL, &payloads])
        .await?;
    Ok(())
}

/// A notification's payload: the origin and the items (JSON texts already).
fn envelope(origin: &str, items: &[String]) -> String {
    format!("{},\"es\":[{}]}}", origin_prefix(origin), items.join(","))
}

/// How every payload from `origin` starts.
fn origin_prefix(origin: &str) -> String {
    format!("{{\"o\":{}", json!(origin))
}

async fn listen_once(
    url: &str,
    origin: &str,
    events: &ThreadEvents,
    receivers: &Receivers,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = connect(url).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event listener connection failed");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    // Payloads by reference older than an hour are no longer needed by anyone.
    let _ = client
        .execute(
            "DELETE FROM event_payloads WHERE created_at < now() - interval '1 hour'",
            &[],
        )
        .await;
    let by_ref = client
        .prepare("SELECT body FROM event_payloads WHERE id = $1::text::uuid")
        .await?;
    // This instance's own notifications come back too: recognised by their first bytes (the
    // envelope starts with the origin), without parsing what they carry.
    let own = origin_prefix(origin);
    while let Some(payload) = rx.recv().await {
        if payload.starts_with(&own) {
            continue;
        }
        let Ok(envelope) = serde_json::from_str::<Value>(&payload) else {
            continue;
        };
        // The change feed grew (sent by the transaction that appended to it).
        if envelope.get("feed").is_some() {
            events.feed_grew_elsewhere();
            continue;
        }
        if envelope["o"].as_str() == Some(origin) {
            continue;
        }
        // A signal: state another instance shares (see `PgBridge::signal`).
        if let Some(kind) = envelope["k"].as_str() {
            let handler = receivers.signals.read().ok().and_then(|h| h.clone());
            if let Some(handler) = handler {
                handler(
                    kind,
                    envelope["o"].as_str().unwrap_or_default(),
                    &envelope["b"],
                );
            }
            continue;
        }
        // A batch ("es"), or one event inline ("e") or by reference ("ref").
        let raw: Vec<Value> = match envelope.get("es").and_then(Value::as_array) {
            Some(list) => list.clone(),
            None => vec![envelope],
        };
        for item in raw {
            let item = match item["ref"].as_str() {
                Some(id) => {
                    let row = client.query_opt(&by_ref, &[&id]).await?;
                    match row
                        .and_then(|r| r.get::<_, Option<String>>(0))
                        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                    {
                        Some(b) => b,
                        None => continue,
                    }
                }
                None => item,
            };
            let Ok(item) = serde_json::from_value::<Item>(item) else {
                continue;
            };
            // The mirror of the reply's log gets every event; local subscribers get the
            // coalesced one (its text at once).
            let joined = item.e.clone();
            for event in item.events() {
                (receivers.on_remote)(&event);
            }
            events.deliver(joined);
        }
    }
    pump.abort();
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chat_threads_domain::{MessageId, ThreadId};

    fn event(reply: MessageId, seq: u64, delta: Option<&str>) -> ThreadEvent {
        let data = match delta {
            Some(d) => Event::MessageDelta { delta: d.into() },
            None => Event::MessageCompleted {
                content: String::new(),
                usage: None,
            },
        };
        ThreadEvent {
            thread_id: ThreadId::new(),
            seq: Some(seq),
            reply_id: Some(reply),
            data,
        }
    }

    fn text(e: &ThreadEvent) -> String {
        match &e.data {
            Event::MessageDelta { delta } => delta.clone(),
            _ => String::new(),
        }
    }

    #[test]
    fn own_payloads_are_told_by_their_prefix() {
        let payload = envelope("me", &["{\"e\":1}".to_owned()]);
        assert!(payload.starts_with(&origin_prefix("me")));
        assert!(!payload.starts_with(&origin_prefix("m")));
        let parsed: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(parsed["o"], "me");
        assert_eq!(parsed["es"][0]["e"], 1);
    }

    #[test]
    fn runs_of_deltas_coalesce_and_split_back_exactly() {
        let (a, b) = (MessageId::new(), MessageId::new());
        let batch = vec![
            event(a, 1, None),
            event(a, 2, Some("Hel")),
            event(b, 7, Some("x")),
            event(a, 3, Some("lo ")),
            event(a, 4, Some("wörld")),
            event(b, 8, Some("y")),
            event(a, 5, None),
            event(a, 6, Some("late")),
        ];
        let items = coalesce(batch.clone());
        let kinds: Vec<(u64, usize)> = items
            .iter()
            .map(|i| (i.e.seq.unwrap(), i.parts.len()))
            .collect();
        assert_eq!(kinds, [(1, 0), (4, 3), (8, 2), (5, 0), (6, 0)]);
        assert_eq!(text(&items[1].e), "Hello wörld");
        assert_eq!(items[1].e.seq, Some(4));
        // Over the wire and back, the receiving side sees every original event, in each
        // reply's order.
        let back: Vec<ThreadEvent> = items
            .into_iter()
            .map(|i| serde_json::from_str::<Item>(&serde_json::to_string(&i).unwrap()).unwrap())
            .flat_map(Item::events)
            .collect();
        for reply in [a, b] {
            let mine = |v: &Vec<ThreadEvent>| -> Vec<(u64, String)> {
                v.iter()
                    .filter(|e| e.reply_id == Some(reply))
                    .map(|e| (e.seq.unwrap(), text(e)))
                    .collect()
            };
            assert_eq!(mine(&back), mine(&batch));
        }
    }
}
