//! Webhooks and their deliveries on both backends; leases by conditional updates, so one
//! instance at a time serves a webhook.

use chat_threads_application::AppError;
use chat_threads_application::feed::FeedScope;
use chat_threads_application::webhooks::{Delivery, DeliveryStatus, Webhook, WebhookStore};
use chat_threads_domain::{OrgId, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::error::{DbError, corrupt};
use super::schema::{webhook_deliveries as wd, webhooks as wh};
use super::store::{SqlStore, constant};
use super::types::{DbTime, DbUuid};

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = wh)]
#[diesel(treat_none_as_null = true)]
struct HookRow {
    id: DbUuid,
    owner: Option<String>,
    org_id: Option<String>,
    url: String,
    events: String,
    secret: String,
    description: Option<String>,
    enabled: bool,
    failures: i32,
    disabled_reason: Option<String>,
    feed_cursor: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<&Webhook> for HookRow {
    fn from(h: &Webhook) -> Self {
        let (owner, org_id) = scope_columns(&h.scope);
        HookRow {
            id: DbUuid(h.id),
            owner,
            org_id,
            url: h.url.clone(),
            events: serde_json::to_string(&h.events).unwrap_or_else(|_| "[]".into()),
            secret: h.secret.clone(),
            description: h.description.clone(),
            enabled: h.enabled,
            failures: i32::try_from(h.failures).unwrap_or(i32::MAX),
            disabled_reason: h.disabled_reason.clone(),
            feed_cursor: h.feed_cursor,
            created_at: DbTime(h.created_at),
            updated_at: DbTime(h.updated_at),
        }
    }
}

impl TryFrom<HookRow> for Webhook {
    type Error = DbError;
    fn try_from(r: HookRow) -> Result<Self, DbError> {
        let scope = match (r.owner, r.org_id) {
            (Some(o), None) => FeedScope::Owner(o),
            (None, Some(org)) => FeedScope::Org(OrgId::from_stored(org)),
            _ => return Err(corrupt("webhook scope", r.id.0)),
        };
        Ok(Webhook {
            id: r.id.0,
            scope,
            url: r.url,
            events: serde_json::from_str(&r.events).map_err(|e| corrupt("webhook events", e))?,
            secret: r.secret,
            description: r.description,
            enabled: r.enabled,
            failures: u32::try_from(r.failures).unwrap_or(0),
            disabled_reason: r.disabled_reason,
            feed_cursor: r.feed_cursor,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

fn scope_columns(scope: &FeedScope) -> (Option<String>, Option<String>) {
    match scope {
        FeedScope::Owner(o) => (Some(o.clone()), None),
        FeedScope::Org(org) => (None, Some(org.as_str().to_owned())),
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = wd)]
struct DeliveryRow {
    id: DbUuid,
    webhook_id: DbUuid,
    seq: i64,
    kind: String,
    thread_id: DbUuid,
    payload: String,
    status: String,
    attempts: i32,
    next_attempt_at: DbTime,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: DbTime,
    delivered_at: Option<DbTime>,
}

impl From<&Delivery> for DeliveryRow {
    fn from(d: &Delivery) -> Self {
        DeliveryRow {
            id: DbUuid(d.id),
            webhook_id: DbUuid(d.webhook_id),
            seq: d.cursor,
            kind: d.kind.clone(),
            thread_id: DbUuid(d.thread_id.as_uuid()),
            payload: d.payload.clone(),
            status: d.status.as_str().to_owned(),
            attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
            next_attempt_at: DbTime(d.next_attempt_at),
            last_status: d.last_status.map(i32::from),
            last_error: d.last_error.clone(),
            created_at: DbTime(d.created_at),
            delivered_at: d.delivered_at.map(DbTime),
        }
    }
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = DbError;
    fn try_from(r: DeliveryRow) -> Result<Self, DbError> {
        Ok(Delivery {
            id: r.id.0,
            webhook_id: r.webhook_id.0,
            cursor: r.seq,
            kind: r.kind,
            thread_id: ThreadId::from_uuid(r.thread_id.0),
            payload: r.payload,
            status: DeliveryStatus::parse(&r.status)
                .ok_or_else(|| corrupt("delivery status", r.status.clone()))?,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            next_attempt_at: r.next_attempt_at.0,
            last_status: r.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: r.last_error,
            created_at: r.created_at.0,
            delivered_at: r.delivered_at.map(|t| t.0),
        })
    }
}

/// The webhooks of a scope: `owner = ? OR org_id = ?`, one of the two bound NULL (which
/// nothing equals).
fn in_scope(
    scope: &FeedScope,
) -> diesel::dsl::Or<
    diesel::dsl::Eq<wh::owner, Option<String>>,
    diesel::dsl::Eq<wh::org_id, Option<String>>,
> {
    let (owner, org) = scope_columns(scope);
    wh::owner.eq(owner).or(wh::org_id.eq(org))
}

impl WebhookStore for SqlStore {
    async fn create_webhook(&self, hook: &Webhook, max: usize) -> Result<bool, AppError> {
        let row = HookRow::from(hook);
        let scope = hook.scope.clone();
        let r: Result<bool, DbError> = write_tx!(self, |conn, _d| {
            let n: i64 = wh::table
                .filter(in_scope(&scope))
                .count()
                .get_result(conn)
                .await?;
            if n >= max as i64 {
                return Ok(false);
            }
            diesel::insert_into(wh::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(true)
        });
        Ok(r?)
    }

    async fn list_webhooks(&self, scope: &FeedScope) -> Result<Vec<Webhook>, AppError> {
        let r: Result<Vec<Webhook>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<HookRow> = wh::table
                .filter(in_scope(scope))
                .order(wh::created_at.asc())
                .select(HookRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(Webhook::try_from).collect()
        });
        Ok(r?)
    }

    async fn get_webhook(
        &self,
        scope: &FeedScope,
        id: uuid::Uuid,
    ) -> Result<Option<Webhook>, AppError> {
        let r: Result<Option<Webhook>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<HookRow> = wh::table
                .filter(in_scope(scope))
                .filter(wh::id.eq(DbUuid(id)))
                .select(HookRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(Webhook::try_from).transpose()
        });
        Ok(r?)
    }

    async fn update_webhook(&self, hook: &Webhook) -> Result<(), AppError> {
        let id = DbUuid(hook.id);
        let h = HookRow::from(hook);
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::update(wh::table.filter(wh::id.eq(id)))
                .set((
                    wh::url.eq(&h.url),
                    wh::events.eq(&h.events),
                    wh::description.eq(&h.description),
                    wh::enabled.eq(h.enabled),
                    wh::failures.eq(h.failures),
                    wh::disabled_reason.eq(&h.disabled_reason),
                    wh::updated_at.eq(&h.updated_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn delete_webhook(&self, scope: &FeedScope, id: uuid::Uuid) -> Result<bool, AppError> {
        let Some(_) = self.get_webhook(scope, id).await? else {
            return Ok(false);
        };
        let r: Result<bool, DbError> = write_tx!(self, |conn, _d| {
            diesel::delete(wd::table.filter(wd::webhook_id.eq(DbUuid(id))))
                .execute(conn)
                .await?;
            Ok(diesel::delete(wh::table.filter(wh::id.eq(DbUuid(id))))
                .execute(conn)
                .await?
                > 0)
        });
        Ok(r?)
    }

    async fn claim_webhooks(
        &self,
        instance: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Webhook>, AppError> {
        let instance = instance.to_owned();
        let r: Result<Vec<Webhook>, DbError> = write_tx!(self, |conn, _d| {
            let free = wh::enabled.eq(true).and(
                wh::lease_owner
                    .is_null()
                    .or(wh::lease_owner.eq(instance.clone()))
                    .or(wh::lease_until.lt(DbTime(now))),
            );
            // One statement per webhook would race; one conditional UPDATE takes them all, and
            // the rows it changed are the ones this instance now holds.
            diesel::update(wh::table.filter(free))
                .set((
                    wh::lease_owner.eq(Some(instance.clone())),
                    wh::lease_until.eq(Some(DbTime(until))),
                ))
                .execute(conn)
                .await?;
            let rows: Vec<HookRow> = wh::table
                .filter(wh::enabled.eq(true))
                .filter(wh::lease_owner.eq(instance.clone()))
                .filter(wh::lease_until.gt(DbTime(now)))
                .select(HookRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(Webhook::try_from).collect()
        });
        Ok(r?)
    }

    async fn enqueue_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        instance: &str,
        deliveries: &[Delivery],
        feed_cursor: i64,
    ) -> Result<bool, AppError> {
        let rows: Vec<DeliveryRow> = deliveries.iter().map(DeliveryRow::from).collect();
        let instance = instance.to_owned();
        let r: Result<bool, DbError> = write_tx!(self, |conn, _d| {
            // Moving the cursor first, under the lease: a lost lease stores nothing.
            let held = diesel::update(
                wh::table
                    .filter(wh::id.eq(DbUuid(webhook_id)))
                    .filter(wh::lease_owner.eq(instance))
                    .filter(wh::feed_cursor.lt(feed_cursor)),
            )
            .set(wh::feed_cursor.eq(feed_cursor))
            .execute(conn)
            .await?;
            if held == 0 {
                return Ok(false);
            }
            for row in &rows {
                diesel::insert_into(wd::table)
                    .values(row)
                    .execute(conn)
                    .await?;
            }
            Ok(true)
        });
        Ok(r?)
    }

    async fn pending_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        limit: u32,
    ) -> Result<Vec<Delivery>, AppError> {
        let r: Result<Vec<Delivery>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<DeliveryRow> = wd::table
                .filter(wd::webhook_id.eq(DbUuid(webhook_id)))
                .filter(wd::status.eq(constant(DeliveryStatus::Pending.as_str())))
                .order(wd::seq.asc())
                .limit(i64::from(limit))
                .select(DeliveryRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(Delivery::try_from).collect()
        });
        Ok(r?)
    }

    async fn save_attempt(
        &self,
        delivery: &Delivery,
        failures: u32,
        disabled_reason: Option<&str>,
    ) -> Result<(), AppError> {
        let d = DeliveryRow::from(delivery);
        let reason = disabled_reason.map(str::to_owned);
        let failures = i32::try_from(failures).unwrap_or(i32::MAX);
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::update(wd::table.filter(wd::id.eq(&d.id)))
                .set((
                    wd::status.eq(&d.status),
                    wd::attempts.eq(d.attempts),
                    wd::next_attempt_at.eq(&d.next_attempt_at),
                    wd::last_status.eq(d.last_status),
                    wd::last_error.eq(&d.last_error),
                    wd::delivered_at.eq(&d.delivered_at),
                ))
                .execute(conn)
                .await?;
            let hook = wh::table.filter(wh::id.eq(&d.webhook_id));
            match &reason {
                Some(why) => {
                    diesel::update(hook)
                        .set((
                            wh::failures.eq(failures),
                            wh::enabled.eq(false),
                            wh::disabled_reason.eq(Some(why.as_str())),
                        ))
                        .execute(conn)
                        .await?;
                }
                None => {
                    diesel::update(hook)
                        .set(wh::failures.eq(failures))
                        .execute(conn)
                        .await?;
                }
            }
            Ok(())
        });
        Ok(r?)
    }

    async fn list_deliveries(
        &self,
        webhook_id: uuid::Uuid,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, AppError> {
        let r: Result<Vec<Delivery>, DbError> = with_conn!(self, |conn, _d| {
            let mut q = wd::table
                .filter(wd::webhook_id.eq(DbUuid(webhook_id)))
                .select(DeliveryRow::as_select())
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(wd::status.eq(s.as_str()));
            }
            if let Some(b) = before {
                q = q.filter(wd::seq.lt(b));
            }
            let rows: Vec<DeliveryRow> = q
                .order(wd::seq.desc())
                .limit(i64::from(limit))
                .load(conn)
                .await?;
            rows.into_iter().map(Delivery::try_from).collect()
        });
        Ok(r?)
    }

    async fn purge_deliveries(&self, cutoff: Timestamp, batch: u32) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            let ids: Vec<DbUuid> = wd::table
                .filter(wd::status.ne(DeliveryStatus::Pending.as_str()))
                .filter(wd::created_at.lt(DbTime(cutoff)))
                .select(wd::id)
                .limit(i64::from(batch))
                .load(conn)
                .await?;
            Ok(diesel::delete(wd::table.filter(wd::id.eq_any(&ids)))
                .execute(conn)
                .await? as u64)
        });
        Ok(r?)
    }

    async fn redeliver(
        &self,
        webhook_id: uuid::Uuid,
        delivery_id: uuid::Uuid,
        now: Timestamp,
    ) -> Result<Option<Delivery>, AppError> {
        let r: Result<Option<Delivery>, DbError> = write_tx!(self, |conn, _d| {
            let n = diesel::update(
                wd::table
                    .filter(wd::webhook_id.eq(DbUuid(webhook_id)))
                    .filter(wd::id.eq(DbUuid(delivery_id))),
            )
            .set((
                wd::status.eq(DeliveryStatus::Pending.as_str()),
                wd::attempts.eq(0),
                wd::next_attempt_at.eq(DbTime(now)),
                wd::created_at.eq(DbTime(now)),
                wd::delivered_at.eq(None::<DbTime>),
            ))
            .execute(conn)
            .await?;
            if n == 0 {
                return Ok(None);
            }
            let row: DeliveryRow = wd::table
                .filter(wd::id.eq(DbUuid(delivery_id)))
                .select(DeliveryRow::as_select())
                .first(conn)
                .await?;
            Delivery::try_from(row).map(Some)
        });
        Ok(r?)
    }
}
