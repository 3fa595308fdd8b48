//! Webhooks: the change feed pushed to a URL. A webhook sees what its creator's feed shows (an
//! org admin's or service principal's: the organization's; anyone else's: their own threads),
//! narrowed to the events it names. Every entry after its creation becomes a delivery, signed
//! with the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`:
//! `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`), sent at least once, in order per
//! thread, retried with exponential back-off for the retry window, and the webhook is disabled
//! after a run of failures. One instance at a time serves a webhook (a lease in the database),
//! so each delivery is made by one instance ([`dispatch`]).

pub mod dispatch;

use std::future::Future;

use chat_threads_domain::{Principal, ThreadId, Timestamp};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;
use crate::feed::{FeedScope, FeedStore};
use crate::system::Clock;

/// Most webhooks per owner or organization.
pub const MAX_WEBHOOKS: usize = 20;

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Its id.
    pub id: uuid::Uuid,
    /// Whose feed it follows.
    pub scope: FeedScope,
    /// Where deliveries go.
    pub url: String,
    /// The events it takes (wire names); empty: every event of the feed.
    pub events: Vec<String>,
    /// The signing secret (`whsec_` + base64 of the key).
    pub secret: String,
    /// What it is for.
    pub description: Option<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Why it was disabled by the service (a run of failures), if it was.
    pub disabled_reason: Option<String>,
    /// The last feed entry turned into a delivery.
    pub feed_cursor: i64,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: the retry window passed (redeliver to try again).
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One feed entry on its way to one webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id (`webhook-id`, the same on every attempt).
    pub id: uuid::Uuid,
    /// The webhook.
    pub webhook_id: uuid::Uuid,
    /// The feed entry's cursor.
    pub cursor: i64,
    /// The event's name.
    pub kind: String,
    /// Its thread.
    pub thread_id: ThreadId,
    /// The body sent (the feed entry, as one NDJSON line of `GET /v1/events` without the newline).
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When it is tried next (while pending).
    pub next_attempt_at: Timestamp,
    /// The receiver's last HTTP status.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the entry was taken.
    pub created_at: Timestamp,
    /// When the receiver accepted it.
    pub delivered_at: Option<Timestamp>,
}

impl Delivery {
    /// A new delivery of a feed entry (its cursor, event, thread and body) to a webhook: pending,
    /// not tried yet, due at `now`.
    pub fn pending(
        webhook_id: uuid::Uuid,
        cursor: i64,
        kind: String,
        thread_id: ThreadId,
        payload: String,
        now: Timestamp,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7(),
            webhook_id,
            cursor,
            kind,
            thread_id,
            payload,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        }
    }
}

/// Storage of webhooks and their deliveries.
pub trait WebhookStore: FeedStore {
    /// Stores a new webhook, unless its scope already has `max` (then `false`).
    fn create_webhook(
        &self,
        hook: &Webhook,
        max: usize,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// The webhooks of a scope, oldest first.
    fn list_webhooks(
        &self,
        scope: &FeedScope,
    ) -> impl Future<Output = Result<Vec<Webhook>, AppError>> + Send;
    /// One webhook of a scope.
    fn get_webhook(
        &self,
        scope: &FeedScope,
        id: uuid::Uuid,
    ) -> impl Future<Output = Result<Option<Webhook>, AppError>> + Send;
    /// Saves what a caller may change: url, events, description, enabled (and the failure
    /// count and reason, reset when re-enabled).
    fn update_webhook(&self, hook: &Webhook) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Deletes a webhook of a scope with its deliveries; whether it existed.
    fn delete_webhook(
        &self,
        scope: &FeedScope,
        id: uuid::Uuid,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Takes (or renews) the lease of every enabled webhook whose lease is free, expired or
    /// already `instance`'s, until `until`; returns them.
    fn claim_webhooks(
        &self,
        instance: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Result<Vec<Webhook>, AppError>> + Send;
    /// Stores deliveries and moves the webhook's feed cursor to `feed_cursor`, in one
    /// transaction, only while `instance` holds its lease (else `false`, nothing stored).
    fn enqueue_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        instance: &str,
        deliveries: &[Delivery],
        feed_cursor: i64,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Pending deliveries of a webhook, in feed order, at most `limit`.
    fn pending_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, AppError>> + Send;
    /// Saves an attempt's outcome, and the webhook's failure run (and whether it stays
    /// enabled).
    fn save_attempt(
        &self,
        delivery: &Delivery,
        failures: u32,
        disabled_reason: Option<&str>,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    /// A webhook's deliveries, newest first, before a cursor, optionally of one status.
    fn list_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, AppError>> + Send;
    /// Deletes up to `batch` deliveries no longer pending (delivered or failed) made before
    /// `cutoff`; how many.
    fn purge_deliveries(
        &self,
        cutoff: Timestamp,
        batch: u32,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;
    /// Makes a delivery pending again, due at `now`; the delivery, if it exists.
    fn redeliver(
        &self,
        webhook_id: uuid::Uuid,
        delivery_id: uuid::Uuid,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Delivery>, AppError>> + Send;
}

/// Checks and sends webhook requests (the HTTP client; it refuses private addresses unless
/// allowed).
pub trait WebhookSender: Clone + Send + Sync + 'static {
    /// Whether `url` may receive webhooks: http(s), and (unless private targets are allowed)
    /// resolving to no loopback, private, link-local or otherwise internal address. The
    /// reason when not.
    fn check_url(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// POSTs `body` with `headers`: the response status, or why no response came.
    fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> impl Future<Output = Result<u16, String>> + Send;
}

/// What a caller sends to make or change a webhook.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    /// Where deliveries go.
    pub url: Option<String>,
    /// The events it takes; empty: all.
    pub events: Option<Vec<String>>,
    /// A signing secret of your own (`whsec_` + base64 of 24-64 bytes); default: generated.
    pub secret: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// On or off (re-enabling clears the failure run).
    pub enabled: Option<bool>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    chat_threads_domain::DomainError::invalid(field, message.into()).into()
}

/// A secret's key bytes, or why it is not a secret: `whsec_` and the key in base64, 24 to 48
/// bytes (32 to 64 characters, a multiple of 4, no padding).
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let raw = secret
        .strip_prefix("whsec_")
        .ok_or("must start with whsec_")?;
    if raw.len() % 4 != 0 || !(32..=64).contains(&raw.len()) {
        return Err(
            "whsec_ must be followed by 32 to 64 base64 characters (a multiple of 4)".into(),
        );
    }
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| "whsec_ must be followed by base64 (A-Z, a-z, 0-9, +, /)".into())
}

/// The `webhook-signature` of a body: `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    use base64::Engine;
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

fn new_secret() -> Result<String, AppError> {
    use base64::Engine;
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// Checks a list of event names: each one the feed carries, no repeats.
fn events(raw: Vec<String>) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for e in raw {
        let Some(kind) = crate::feed::logged_kind(&e) else {
            return Err(invalid(
                "events",
                format!("{e} is not an event of the change feed"),
            ));
        };
        if !out.iter().any(|o| o == kind.as_str()) {
            out.push(kind.as_str().to_owned());
        }
    }
    Ok(out)
}

/// Managing webhooks and reading their deliveries.
#[derive(Debug, Clone)]
pub struct WebhookService<S, H, C> {
    store: S,
    sender: H,
    clock: C,
}

impl<S: WebhookStore + crate::audit::AuditStore, H: WebhookSender, C: Clock>
    WebhookService<S, H, C>
{
    /// An audit entry for a change of a webhook by `who`.
    async fn audited(&self, who: &Principal, action: crate::audit::AuditAction, hook: &Webhook) {
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            who.managed_org(),
            action,
            format!("webhook:{}", hook.id),
            None,
            serde_json::json!({"url": hook.url, "events": hook.events, "enabled": hook.enabled}),
        )
        .await;
    }

    /// A service over `store`, checking URLs with `sender`.
    pub fn new(store: S, sender: H, clock: C) -> Self {
        Self {
            store,
            sender,
            clock,
        }
    }

    async fn url(&self, raw: String) -> Result<String, AppError> {
        let url = raw.trim().to_owned();
        if url.len() > 2048 {
            return Err(invalid("url", "at most 2,048 characters"));
        }
        self.sender
            .check_url(&url)
            .await
            .map_err(AppError::WebhookUrlRefused)?;
        Ok(url)
    }

    /// Makes a webhook for `who`'s feed; its secret is returned this once. It takes entries
    /// from now on.
    pub async fn create(&self, who: &Principal, input: WebhookInput) -> Result<Webhook, AppError> {
        let url = self
            .url(input.url.ok_or_else(|| invalid("url", "required"))?)
            .await?;
        let secret = match input.secret {
            Some(s) => {
                secret_key(&s).map_err(|why| invalid("secret", why))?;
                s
            }
            None => new_secret()?,
        };
        let now = self.clock.now();
        let hook = Webhook {
            id: uuid::Uuid::now_v7(),
            scope: FeedScope::of(who),
            url,
            events: events(input.events.unwrap_or_default())?,
            secret,
            description: description(input.description)?,
            enabled: input.enabled.unwrap_or(true),
            failures: 0,
            disabled_reason: None,
            feed_cursor: self.store.feed_head().await?,
            created_at: now,
            updated_at: now,
        };
        if !self.store.create_webhook(&hook, MAX_WEBHOOKS).await? {
            return Err(AppError::Domain(
                chat_threads_domain::DomainError::LimitExceeded {
                    field: "webhooks",
                    limit: MAX_WEBHOOKS,
                    actual: MAX_WEBHOOKS + 1,
                },
            ));
        }
        self.audited(who, crate::audit::AuditAction::WebhookCreated, &hook)
            .await;
        Ok(hook)
    }

    /// `who`'s webhooks (the organization's for its managers).
    pub async fn list(&self, who: &Principal) -> Result<Vec<Webhook>, AppError> {
        self.store.list_webhooks(&FeedScope::of(who)).await
    }

    /// One of `who`'s webhooks.
    pub async fn get(&self, who: &Principal, id: uuid::Uuid) -> Result<Webhook, AppError> {
        self.store
            .get_webhook(&FeedScope::of(who), id)
            .await?
            .ok_or(AppError::WebhookNotFound)
    }

    /// Changes a webhook; re-enabling clears its failure run.
    pub async fn update(
        &self,
        who: &Principal,
        id: uuid::Uuid,
        input: WebhookInput,
    ) -> Result<Webhook, AppError> {
        let mut hook = self.get(who, id).await?;
        if let Some(url) = input.url {
            hook.url = self.url(url).await?;
        }
        if let Some(e) = input.events {
            hook.events = events(e)?;
        }
        if input.description.is_some() {
            hook.description = description(input.description)?;
        }
        if input.secret.is_some() {
            return Err(invalid(
                "secret",
                "a secret cannot be changed: make a new webhook",
            ));
        }
        if let Some(on) = input.enabled {
            if on && !hook.enabled {
                hook.failures = 0;
                hook.disabled_reason = None;
            }
            hook.enabled = on;
        }
        hook.updated_at = self.clock.now();
        self.store.update_webhook(&hook).await?;
        self.audited(who, crate::audit::AuditAction::WebhookUpdated, &hook)
            .await;
        Ok(hook)
    }

    /// Deletes a webhook and its deliveries.
    pub async fn delete(&self, who: &Principal, id: uuid::Uuid) -> Result<(), AppError> {
        let hook = self.get(who, id).await?;
        if !self.store.delete_webhook(&FeedScope::of(who), id).await? {
            return Err(AppError::WebhookNotFound);
        }
        self.audited(who, crate::audit::AuditAction::WebhookDeleted, &hook)
            .await;
        Ok(())
    }

    /// A page of a webhook's deliveries, newest first.
    pub async fn deliveries(
        &self,
        who: &Principal,
        id: uuid::Uuid,
        status: Option<DeliveryStatus>,
        cursor: Option<String>,
        limit: Option<u32>,
        limits: &chat_threads_domain::Limits,
    ) -> Result<crate::paging::Page<Delivery>, AppError> {
        self.get(who, id).await?;
        let limit = crate::paging::page_size(limit, limits)?;
        let before = cursor
            .as_deref()
            .map(crate::cursor::decode::<i64>)
            .transpose()?;
        let rows = self
            .store
            .list_deliveries(id, status, before, limit + 1)
            .await?;
        Ok(crate::paging::Page::from_rows(
            rows,
            limit,
            limits.page_bytes,
            |d| d.cursor,
        ))
    }

    /// Sends a delivery again (pending, due now), whatever became of it.
    pub async fn redeliver(
        &self,
        who: &Principal,
        id: uuid::Uuid,
        delivery: uuid::Uuid,
    ) -> Result<Delivery, AppError> {
        self.get(who, id).await?;
        self.store
            .redeliver(id, delivery, self.clock.now())
            .await?
            .ok_or(AppError::DeliveryNotFound)
    }
}

impl<S: WebhookStore, H, C: Clock> WebhookService<S, H, C> {
    /// Deletes deliveries that are done (delivered or failed) and older than `days`, batch by
    /// batch (the change feed's retention); how many.
    pub async fn purge_older_than(&self, days: u32, batch: u32) -> Result<u64, AppError> {
        let cutoff = self.clock.now() - chrono::TimeDelta::days(i64::from(days));
        let mut total = 0;
        loop {
            let n = self.store.purge_deliveries(cutoff, batch.max(1)).await?;
            total += n;
            if n < u64::from(batch.max(1)) {
                return Ok(total);
            }
        }
    }
}

impl crate::paging::Weigh for Delivery {
    fn weigh(&self) -> usize {
        crate::paging::ITEM_OVERHEAD + self.payload.len() + self.kind.len()
    }
}

fn description(raw: Option<String>) -> Result<Option<String>, AppError> {
    match raw {
        Some(d) if d.chars().count() > 500 => Err(invalid("description", "at most 500 characters")),
        Some(d) if d.chars().any(char::is_control) => {
            Err(invalid("description", "no control characters"))
        }
        Some(d) if d.trim().is_empty() => Ok(None),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(secret_key("nope").is_err());
        assert!(secret_key("whsec_!!").is_err());
        assert!(secret_key("whsec_c2hvcnQ=").is_err());
        let made = new_secret().unwrap();
        assert_eq!(secret_key(&made).unwrap().len(), 24);
    }
}
