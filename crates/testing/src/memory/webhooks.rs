//! The in-memory store's webhooks and deliveries.

use chat_threads_application::AppError;
use chat_threads_application::feed::FeedScope;
use chat_threads_application::webhooks::{Delivery, DeliveryStatus, Webhook, WebhookStore};
use chat_threads_domain::Timestamp;

use super::MemoryStore;

impl WebhookStore for MemoryStore {
    async fn create_webhook(&self, hook: &Webhook, max: usize) -> Result<bool, AppError> {
        let mut s = self.lock()?;
        if s.webhooks
            .iter()
            .filter(|(h, _)| h.scope == hook.scope)
            .count()
            >= max
        {
            return Ok(false);
        }
        s.webhooks.push((hook.clone(), None));
        Ok(true)
    }

    async fn list_webhooks(&self, scope: &FeedScope) -> Result<Vec<Webhook>, AppError> {
        let s = self.lock()?;
        Ok(s.webhooks
            .iter()
            .filter(|(h, _)| h.scope == *scope)
            .map(|(h, _)| h.clone())
            .collect())
    }

    async fn get_webhook(
        &self,
        scope: &FeedScope,
        id: uuid::Uuid,
    ) -> Result<Option<Webhook>, AppError> {
        let s = self.lock()?;
        Ok(s.webhooks
            .iter()
            .find(|(h, _)| h.id == id && h.scope == *scope)
            .map(|(h, _)| h.clone()))
    }

    async fn update_webhook(&self, hook: &Webhook) -> Result<(), AppError> {
        let mut s = self.lock()?;
        if let Some((h, _)) = s.webhooks.iter_mut().find(|(h, _)| h.id == hook.id) {
            *h = Webhook {
                feed_cursor: h.feed_cursor,
                ..hook.clone()
            };
        }
        Ok(())
    }

    async fn delete_webhook(&self, scope: &FeedScope, id: uuid::Uuid) -> Result<bool, AppError> {
        let mut s = self.lock()?;
        let before = s.webhooks.len();
        s.webhooks
            .retain(|(h, _)| !(h.id == id && h.scope == *scope));
        let gone = s.webhooks.len() < before;
        if gone {
            s.deliveries.retain(|d| d.webhook_id != id);
        }
        Ok(gone)
    }

    async fn claim_webhooks(
        &self,
        instance: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Webhook>, AppError> {
        let mut s = self.lock()?;
        let mut out = Vec::new();
        for (h, lease) in &mut s.webhooks {
            let free = match lease {
                None => true,
                Some((who, t)) => who == instance || *t < now,
            };
            if h.enabled && free {
                *lease = Some((instance.to_owned(), until));
                out.push(h.clone());
            }
        }
        Ok(out)
    }

    async fn enqueue_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        instance: &str,
        deliveries: &[Delivery],
        feed_cursor: i64,
    ) -> Result<bool, AppError> {
        let mut s = self.lock()?;
        let Some((h, _)) = s.webhooks.iter_mut().find(|(h, lease)| {
            h.id == webhook_id
                && h.feed_cursor < feed_cursor
                && lease.as_ref().is_some_and(|(who, _)| who == instance)
        }) else {
            return Ok(false);
        };
        h.feed_cursor = feed_cursor;
        s.deliveries.extend(deliveries.iter().cloned());
        Ok(true)
    }

    async fn pending_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        limit: u32,
    ) -> Result<Vec<Delivery>, AppError> {
        let s = self.lock()?;
        let mut out: Vec<Delivery> = s
            .deliveries
            .iter()
            .filter(|d| d.webhook_id == webhook_id && d.status == DeliveryStatus::Pending)
            .cloned()
            .collect();
        out.sort_by_key(|d| d.cursor);
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn save_attempt(
        &self,
        delivery: &Delivery,
        failures: u32,
        disabled_reason: Option<&str>,
    ) -> Result<(), AppError> {
        let mut s = self.lock()?;
        if let Some(d) = s.deliveries.iter_mut().find(|d| d.id == delivery.id) {
            *d = delivery.clone();
        }
        if let Some((h, _)) = s
            .webhooks
            .iter_mut()
            .find(|(h, _)| h.id == delivery.webhook_id)
        {
            h.failures = failures;
            if let Some(why) = disabled_reason {
                h.enabled = false;
                h.disabled_reason = Some(why.to_owned());
            }
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, AppError> {
        let s = self.lock()?;
        let mut out: Vec<Delivery> = s
            .deliveries
            .iter()
            .filter(|d| {
                d.webhook_id == webhook_id
                    && status.is_none_or(|st| d.status == st)
                    && before.is_none_or(|b| d.cursor < b)
            })
            .cloned()
            .collect();
        out.sort_by_key(|d| std::cmp::Reverse(d.cursor));
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn purge_deliveries(&self, cutoff: Timestamp, batch: u32) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let mut left = batch as usize;
        let before = s.deliveries.len();
        s.deliveries.retain(|d| {
            let old = d.status != DeliveryStatus::Pending && d.created_at < cutoff && left > 0;
            if old {
                left -= 1;
            }
            !old
        });
        Ok((before - s.deliveries.len()) as u64)
    }

    async fn redeliver(
        &self,
        webhook_id: uuid::Uuid,
        delivery_id: uuid::Uuid,
        now: Timestamp,
    ) -> Result<Option<Delivery>, AppError> {
        let mut s = self.lock()?;
        let Some(d) = s
            .deliveries
            .iter_mut()
            .find(|d| d.webhook_id == webhook_id && d.id == delivery_id)
        else {
            return Ok(None);
        };
        d.status = DeliveryStatus::Pending;
        d.attempts = 0;
        d.next_attempt_at = now;
        d.created_at = now;
        d.delivered_at = None;
        Ok(Some(d.clone()))
    }
}
