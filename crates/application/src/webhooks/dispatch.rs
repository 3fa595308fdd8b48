//! The dispatcher: every instance runs one. Each round it takes the lease of the webhooks no
//! live instance serves (and renews its own), turns their new feed entries into deliveries,
//! and sends what is due — in feed order, and never past an earlier delivery of the same
//! thread that is still pending, so a receiver sees each thread's events in order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chat_threads_domain::ThreadId;

use super::{Delivery, DeliveryStatus, Webhook, WebhookSender, WebhookStore, secret_key, sign};
use crate::feed::{FeedEntry, FeedFilter};
use crate::system::Clock;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// This instance's name (the lease holder).
    pub instance: String,
    /// How long a lease lasts; a dead instance's webhooks are taken over after it.
    pub lease: Duration,
    /// How often the dispatcher looks for work when not woken.
    pub interval: Duration,
    /// The first retry's delay; each next one doubles it, up to an hour.
    pub backoff: Duration,
    /// How long a delivery is retried before it fails for good.
    pub retry_window: Duration,
    /// Failed attempts in a row that disable a webhook.
    pub disable_after: u32,
}

/// Sends webhooks.
#[derive(Debug, Clone)]
pub struct Dispatcher<S, H, C> {
    store: S,
    sender: H,
    clock: C,
    settings: DispatchSettings,
}

/// Most entries turned into deliveries, and most deliveries looked at, per webhook and round.
const ROUND: u32 = 500;

/// Least time from one round's start to the next when the feed's growth wakes the dispatcher:
/// under load the feed commits hundreds of times a second, and each round is a write
/// transaction (it renews the leases); growths within it share the next round. A delivery
/// waits at most this much longer for its round.
pub const WOKEN_GAP: Duration = Duration::from_millis(20);

impl<S: WebhookStore, H: WebhookSender, C: Clock> Dispatcher<S, H, C> {
    /// A dispatcher over `store`, sending with `sender`.
    pub fn new(store: S, sender: H, clock: C, settings: DispatchSettings) -> Self {
        Self {
            store,
            sender,
            clock,
            settings,
        }
    }

    /// Runs rounds for ever. After a round that holds webhooks it waits for the feed to grow
    /// (`grown`) or the interval, so new entries go out at once. After a round that holds
    /// none it waits the interval whatever the feed does: a growth brings nothing to send
    /// without a webhook, and a round is a write transaction (it takes the leases), which
    /// under load would otherwise run once per feed commit — measured at a fifth of
    /// PostgreSQL's transactions and about a quarter of the service's CPU per append when
    /// no webhook existed. A new webhook, or one another instance stopped serving, is then
    /// taken within the interval. Rounds woken by the feed start at least [`WOKEN_GAP`] apart.
    pub async fn run(self, mut grown: Option<tokio::sync::watch::Receiver<u64>>) {
        loop {
            let started = tokio::time::Instant::now();
            let held = self.round().await;
            match &mut grown {
                Some(rx) if held > 0 => {
                    let _ = tokio::time::timeout(self.settings.interval, rx.changed()).await;
                    tokio::time::sleep_until(started + WOKEN_GAP).await;
                    // The next round reads what grew until now, this wait included.
                    rx.mark_unchanged();
                }
                Some(rx) => {
                    tokio::time::sleep(self.settings.interval).await;
                    // What grew meanwhile is read by the next round anyway.
                    rx.mark_unchanged();
                }
                None => tokio::time::sleep(self.settings.interval).await,
            }
        }
    }

    /// One round over every webhook this instance holds (each served concurrently); how many
    /// it holds.
    pub async fn round(&self) -> usize {
        let now = self.clock.now();
        let until = now + chrono::TimeDelta::from_std(self.settings.lease).unwrap_or_default();
        let hooks = match self
            .store
            .claim_webhooks(&self.settings.instance, now, until)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(cause = %e.chain(), "webhooks: taking leases failed");
                return 0;
            }
        };
        let held = hooks.len();
        futures_util::future::join_all(hooks.into_iter().map(|h| self.serve(h))).await;
        held
    }

    async fn serve(&self, mut hook: Webhook) {
        // Within half the lease, so the lease never lapses while this instance still sends.
        let deadline = Instant::now() + self.settings.lease / 2;
        if let Err(e) = self.take_entries(&mut hook).await {
            tracing::warn!(webhook = %hook.id, cause = %e.chain(), "webhooks: reading the feed failed");
        }
        if let Err(e) = self.send_due(&mut hook, deadline).await {
            tracing::warn!(webhook = %hook.id, cause = %e.chain(), "webhooks: delivering failed");
        }
    }

    /// Turns the webhook's new feed entries into deliveries.
    async fn take_entries(&self, hook: &mut Webhook) -> Result<(), crate::AppError> {
        let filter = FeedFilter {
            types: hook.events.clone(),
            ..FeedFilter::default()
        };
        // The log's head before reading: cursors follow commit order, so every entry up to it
        // is visible to the reads below. Once they find no more entries the webhook takes, its
        // cursor moves up to the head past those it skipped — else a webhook of a rare event
        // read again, at every round, everything logged since its last delivery.
        let head = self.store.feed_head().await?;
        loop {
            let entries = self
                .store
                .read_feed(&hook.scope, &filter, hook.feed_cursor, ROUND)
                .await?;
            let read_all = entries.len() < ROUND as usize;
            let last = entries.last().map_or(hook.feed_cursor, |e| e.cursor);
            let last = if read_all { last.max(head) } else { last };
            if last <= hook.feed_cursor {
                return Ok(());
            }
            let deliveries = if entries.is_empty() {
                Vec::new()
            } else {
                self.deliveries_of(hook, &entries)
            };
            if !self
                .store
                .enqueue_deliveries(hook.id, &self.settings.instance, &deliveries, last)
                .await?
            {
                return Ok(()); // the lease went to another instance
            }
            hook.feed_cursor = last;
            if read_all {
                return Ok(());
            }
        }
    }

    /// A pending delivery of each of `entries` to `hook`, due now.
    fn deliveries_of(&self, hook: &Webhook, entries: &[FeedEntry]) -> Vec<Delivery> {
        let now = self.clock.now();
        entries
            .iter()
            .map(|e| {
                let payload = crate::feed::line(e);
                Delivery::pending(hook.id, e.cursor, e.kind.clone(), e.thread_id, payload, now)
            })
            .collect()
    }

    /// Sends the due deliveries in order, skipping threads with an earlier one still pending.
    async fn send_due(&self, hook: &mut Webhook, deadline: Instant) -> Result<(), crate::AppError> {
        let pending = self.store.pending_deliveries(hook.id, ROUND).await?;
        let key = match secret_key(&hook.secret) {
            Ok(k) => k,
            Err(why) => {
                tracing::error!(webhook = %hook.id, why, "webhooks: a stored secret is unusable");
                return Ok(());
            }
        };
        let mut waiting: HashSet<ThreadId> = HashSet::new();
        for mut d in pending {
            if !hook.enabled || Instant::now() > deadline {
                return Ok(());
            }
            if waiting.contains(&d.thread_id) || d.next_attempt_at > self.clock.now() {
                waiting.insert(d.thread_id);
                continue;
            }
            let ok = self.attempt(hook, &key, &mut d).await;
            if ok {
                hook.failures = 0;
            } else {
                waiting.insert(d.thread_id);
                hook.failures += 1;
                if hook.failures >= self.settings.disable_after.max(1) {
                    hook.enabled = false;
                    hook.disabled_reason = Some(format!(
                        "{} failed attempts in a row (webhooks.disable_after)",
                        hook.failures
                    ));
                    tracing::warn!(webhook = %hook.id, failures = hook.failures, "webhooks: disabled after a run of failures");
                }
            }
            self.store
                .save_attempt(&d, hook.failures, hook.disabled_reason.as_deref())
                .await?;
        }
        Ok(())
    }

    /// One attempt: signed, sent, its outcome written into `d`. Whether the receiver took it.
    async fn attempt(&self, hook: &Webhook, key: &[u8], d: &mut Delivery) -> bool {
        let id = format!("msg_{}", d.id.simple());
        let now = self.clock.now();
        let timestamp = now.timestamp();
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", sign(key, &id, timestamp, &d.payload)),
            ("content-type", "application/json".to_owned()),
        ];
        d.attempts += 1;
        let outcome = self.sender.post(&hook.url, &headers, &d.payload).await;
        let now = self.clock.now();
        match outcome {
            Ok(status) if (200..300).contains(&status) => {
                d.status = DeliveryStatus::Delivered;
                d.last_status = Some(status);
                d.last_error = None;
                d.delivered_at = Some(now);
                true
            }
            other => {
                let (status, error) = match other {
                    Ok(s) => (Some(s), format!("the receiver answered {s}")),
                    Err(e) => (None, e),
                };
                d.last_status = status;
                d.last_error = Some(error);
                let delay = self
                    .settings
                    .backoff
                    .saturating_mul(1 << (d.attempts - 1).min(20))
                    .min(Duration::from_secs(3600));
                let next = now + chrono::TimeDelta::from_std(delay).unwrap_or_default();
                let window =
                    chrono::TimeDelta::from_std(self.settings.retry_window).unwrap_or_default();
                if next > d.created_at + window {
                    d.status = DeliveryStatus::Failed;
                } else {
                    d.next_attempt_at = next;
                }
                false
            }
        }
    }
}
