//! Fan-out of thread events across instances through PostgreSQL LISTEN/NOTIFY.
//!
//! Every instance publishes the events it produces on one channel and listens to it, so a
//! client connected to instance B sees messages and reply deltas produced on instance A, and can
//! resume on B a reply running on A (B mirrors the reply's event log as it streams). Payloads
//! over NOTIFY's 8000-byte limit travel by reference: the event is stored in `event_payloads` and
//! the notification carries its id. Publishing goes through one connection, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_threads_application::events::{EventBridge, ThreadEvent, ThreadEvents};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// The NOTIFY channel.
pub const CHANNEL: &str = "chat_threads_events";
/// Largest payload sent inline (NOTIFY's limit is 8000 bytes).
pub const INLINE_LIMIT: usize = 7800;

/// Publishes this instance's events to the others.
#[derive(Debug, Clone)]
pub struct PgBridge {
    origin: String,
    queue: mpsc::UnboundedSender<ThreadEvent>,
    queued: Arc<AtomicUsize>,
}

impl EventBridge for PgBridge {
    fn forward(&self, event: &ThreadEvent) {
        if self.queue.send(event.clone()).is_ok() {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }
}

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
        let (queue, mut rx) = mpsc::unbounded_channel::<ThreadEvent>();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        let me = origin.clone();
        runtime.spawn(async move {
            let mut backoff = Duration::from_millis(200);
            'reconnect: loop {
                let (client, connection) = match connect(&url).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "event publisher cannot connect; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                };
                backoff = Duration::from_millis(200);
                let conn = tokio::spawn(connection);
                while let Some(event) = rx.recv().await {
                    taken.fetch_sub(1, Ordering::Relaxed);
                    if let Err(e) = publish(&client, &me, &event).await {
                        tracing::warn!(error = %e, "publishing an event failed; reconnecting");
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
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let mut backoff = Duration::from_millis(200);
            let mut ready = Some(ready_tx);
            loop {
                match listen_once(&url, &origin, &events, &on_remote, &mut ready).await {
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

async fn publish(
    client: &tokio_postgres::Client,
    origin: &str,
    event: &ThreadEvent,
) -> Result<(), tokio_postgres::Error> {
    let body = json!({"o": origin, "e": event}).to_string();
    let payload = if body.len() <= INLINE_LIMIT {
        body
    } else {
        let id = uuid::Uuid::now_v7().to_string();
        client
            .execute(
                "INSERT INTO event_payloads (id, body, created_at) VALUES ($1::text::uuid, $2, now())",
                &[&id, &body],
            )
            .await?;
        json!({"o": origin, "ref": id}).to_string()
    };
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await?;
    Ok(())
}

async fn listen_once(
    url: &str,
    origin: &str,
    events: &ThreadEvents,
    on_remote: &OnRemote,
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
    while let Some(payload) = rx.recv().await {
        let Ok(envelope) = serde_json::from_str::<Value>(&payload) else {
            continue;
        };
        if envelope["o"].as_str() == Some(origin) {
            continue;
        }
        let body = match envelope["ref"].as_str() {
            Some(id) => {
                let row = client
                    .query_opt(
                        "SELECT body FROM event_payloads WHERE id = $1::text::uuid",
                        &[&id],
                    )
                    .await?;
                match row
                    .and_then(|r| r.get::<_, Option<String>>(0))
                    .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                {
                    Some(b) => b,
                    None => continue,
                }
            }
            None => envelope,
        };
        let Ok(event) = serde_json::from_value::<ThreadEvent>(body["e"].clone()) else {
            continue;
        };
        on_remote(&event);
        events.deliver(event);
    }
    pump.abort();
    Ok(())
}
