//! Webhooks in the store: one lease holder at a time, deliveries stored only under the lease,
//! pending ones in feed order, attempts saved (a run of failures disables), redelivery, and the
//! trimming of finished deliveries.

use chat_threads_application::feed::FeedScope;
use chat_threads_application::webhooks::{Delivery, DeliveryStatus, Webhook};
use chat_threads_domain::OrgId;

use super::*;

/// An enabled webhook of org `acme` taking `message.created`, made at `now`.
pub fn hook(now: chat_threads_domain::Timestamp) -> Webhook {
    Webhook {
        id: uuid::Uuid::now_v7(),
        scope: FeedScope::Org(OrgId::parse("acme").unwrap()),
        url: "https://example.com/hook".into(),
        events: vec!["message.created".into()],
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        description: None,
        enabled: true,
        failures: 0,
        disabled_reason: None,
        feed_cursor: 0,
        created_at: now,
        updated_at: now,
    }
}

fn delivery(h: &Webhook, cursor: i64, now: chat_threads_domain::Timestamp) -> Delivery {
    Delivery::pending(
        h.id,
        cursor,
        "message.created".into(),
        ThreadId::new(),
        format!("{{\"cursor\":{cursor}}}"),
        now,
    )
}

pub async fn webhook_leases_and_deliveries<S: Store>(store: S) {
    let now = chat_threads_domain::to_micros(chrono::Utc::now());
    let later = now + chrono::TimeDelta::seconds(30);
    let h = hook(now);
    assert!(store.create_webhook(&h, 1).await.unwrap());
    assert!(
        !store.create_webhook(&hook(now), 1).await.unwrap(),
        "over the limit"
    );
    let other = FeedScope::Org(OrgId::parse("globex").unwrap());
    assert!(store.list_webhooks(&other).await.unwrap().is_empty());
    assert!(store.get_webhook(&other, h.id).await.unwrap().is_none());

    // One holder at a time: a takes it, b finds nothing until a's lease lapses.
    assert_eq!(
        store.claim_webhooks("a", now, later).await.unwrap().len(),
        1
    );
    assert!(
        store
            .claim_webhooks("b", now, later)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.claim_webhooks("a", now, later).await.unwrap().len(),
        1,
        "renewed"
    );
    // Stored only under the lease, the cursor moving forward.
    let d = [delivery(&h, 7, now), delivery(&h, 3, now)];
    assert!(!store.enqueue_deliveries(h.id, "b", &d, 7).await.unwrap());
    assert!(store.enqueue_deliveries(h.id, "a", &d, 7).await.unwrap());
    assert!(
        !store.enqueue_deliveries(h.id, "a", &d, 7).await.unwrap(),
        "not twice"
    );
    let pending = store.pending_deliveries(h.id, 10).await.unwrap();
    assert_eq!(pending.iter().map(|d| d.cursor).collect::<Vec<_>>(), [3, 7]);
    let after = later + chrono::TimeDelta::seconds(1);
    assert_eq!(
        store
            .claim_webhooks("b", after, after + chrono::TimeDelta::seconds(30))
            .await
            .unwrap()
            .len(),
        1,
        "a's lease lapsed"
    );

    // A failed attempt disabling it; a delivered one; redelivered.
    let mut first = pending[0].clone();
    first.attempts = 1;
    first.last_error = Some("no".into());
    store
        .save_attempt(&first, 1, Some("1 failed attempt"))
        .await
        .unwrap();
    let got = store.get_webhook(&h.scope, h.id).await.unwrap().unwrap();
    assert_eq!((got.enabled, got.failures), (false, 1));
    assert!(
        store
            .claim_webhooks("c", after + chrono::TimeDelta::hours(1), later)
            .await
            .unwrap()
            .is_empty(),
        "disabled"
    );
    let mut second = pending[1].clone();
    second.status = DeliveryStatus::Delivered;
    second.delivered_at = Some(now);
    store.save_attempt(&second, 0, None).await.unwrap();
    let listed = store.list_deliveries(h.id, None, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.cursor).collect::<Vec<_>>(),
        [7, 3],
        "newest first"
    );
    let done = store
        .list_deliveries(h.id, Some(DeliveryStatus::Delivered), None, 10)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    // Finished ones are trimmed once old; pending ones never.
    assert_eq!(
        store
            .purge_deliveries(now + chrono::TimeDelta::days(1), 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .list_deliveries(h.id, None, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let again = store
        .redeliver(h.id, pending[0].id, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.status, again.attempts), (DeliveryStatus::Pending, 0));
    assert!(
        store
            .redeliver(h.id, uuid::Uuid::now_v7(), later)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.delete_webhook(&h.scope, h.id).await.unwrap());
    assert!(store.pending_deliveries(h.id, 10).await.unwrap().is_empty());
}
