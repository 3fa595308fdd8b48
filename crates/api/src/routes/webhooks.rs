//! Webhooks: the change feed pushed to a URL, signed (Standard Webhooks), with their
//! deliveries listed and redeliverable.

use actix_web::{HttpResponse, web};
use chat_threads_application::feed::FeedScope;
use chat_threads_application::webhooks::{Delivery, DeliveryStatus, Webhook, WebhookInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A new webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookBody {
    /// Where deliveries are POSTed: http(s); internal addresses are refused unless
    /// `webhooks.allow_private` is set (422 `webhook_url_refused`).
    pub url: String,
    /// The events it takes (names of the change feed's events); left out or empty: every one.
    pub events: Option<Vec<String>>,
    /// A signing secret of your own: `whsec_` and 24-48 bytes in base64 (no padding). Left
    /// out: one is generated. Returned in this answer only.
    pub secret: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// On (default) or off.
    pub enabled: Option<bool>,
}

/// Changes to a webhook (its secret cannot change: make a new webhook).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookBody {
    pub url: Option<String>,
    /// Empty: every event.
    pub events: Option<Vec<String>>,
    /// Empty: none.
    pub description: Option<String>,
    /// `true` re-enables a webhook disabled after a run of failures (and clears the run).
    pub enabled: Option<bool>,
}

/// A webhook (its secret is never shown after it is made).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: uuid::Uuid,
    pub url: String,
    /// The events it takes; empty: every event of the change feed.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Why the service disabled it (a run of failures), if it did.
    pub disabled_reason: Option<String>,
    /// Whose changes it carries: `org` (your organization's threads) or `owner` (your own).
    pub scope: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Webhook> for WebhookDto {
    fn from(h: Webhook) -> Self {
        Self {
            id: h.id,
            url: h.url,
            events: h.events,
            description: h.description,
            enabled: h.enabled,
            failures: h.failures,
            disabled_reason: h.disabled_reason,
            scope: match h.scope {
                FeedScope::Org(_) => "org".into(),
                FeedScope::Owner(_) => "owner".into(),
            },
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// A webhook just made, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookDto {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// The signing secret: `whsec_` and the key in base64. Keep it; it is never shown again.
    pub secret: String,
}

/// The webhooks you manage.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookListDto {
    pub data: Vec<WebhookDto>,
}

/// One change feed entry on its way to a webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// Its id; `webhook-id` is `msg_` and this id without dashes (the same on every attempt).
    pub id: uuid::Uuid,
    /// The change feed entry's cursor.
    pub cursor: i64,
    /// The event's name.
    #[serde(rename = "type")]
    pub kind: String,
    pub thread_id: uuid::Uuid,
    /// `pending` (tried again at `next_attempt_at`), `delivered`, `failed` (the retry window
    /// passed).
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The receiver's last HTTP status.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The body sent: the change feed entry.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<Delivery> for DeliveryDto {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            cursor: d.cursor,
            kind: d.kind,
            thread_id: d.thread_id.as_uuid(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            payload: serde_json::from_str(&d.payload).unwrap_or_default(),
        }
    }
}

/// A webhook in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    pub webhook_id: uuid::Uuid,
}

/// A delivery in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    pub webhook_id: uuid::Uuid,
    pub delivery_id: uuid::Uuid,
}

/// Deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Page size, 1-100.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
    /// Only `pending`, `delivered` or `failed` ones.
    pub status: Option<String>,
}

/// Make a webhook: the change feed's entries from now on (those your feed shows — your
/// organization's for org admins and service principals, else your own threads'), narrowed
/// to `events`, are POSTed to `url`, signed with Standard Webhooks headers, at least once and
/// in order per thread; at most 20 per owner or organization. The secret is in this answer
/// only.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = CreateWebhookBody,
    responses((status = 201, body = CreatedWebhookDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 422, description = "webhook_url_refused (internal or unresolvable target), limit_exceeded (20 webhooks)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: web::Json<CreateWebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let hook = state
        .webhooks
        .create(
            &auth.0,
            WebhookInput {
                url: Some(b.url),
                events: b.events,
                secret: b.secret,
                description: b.description,
                enabled: b.enabled,
            },
        )
        .await?;
    let secret = hook.secret.clone();
    Ok(HttpResponse::Created().json(CreatedWebhookDto {
        webhook: hook.into(),
        secret,
    }))
}

/// Your webhooks (your organization's for org admins and service principals).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    responses((status = 200, body = WebhookListDto), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<web::Json<WebhookListDto>, ApiError> {
    let hooks = state.webhooks.list(&auth.0).await?;
    Ok(web::Json(WebhookListDto {
        data: hooks.into_iter().map(WebhookDto::from).collect(),
    }))
}

/// One webhook.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "get_webhook", params(WebhookPath),
    responses((status = 200, body = WebhookDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<WebhookPath>,
) -> Result<web::Json<WebhookDto>, ApiError> {
    let hook = state.webhooks.get(&auth.0, path.webhook_id).await?;
    Ok(web::Json(hook.into()))
}

/// Change a webhook's URL, events, description, or turn it on or off.
#[utoipa::path(patch, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "update_webhook", params(WebhookPath),
    request_body = UpdateWebhookBody,
    responses((status = 200, body = WebhookDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<WebhookPath>,
    body: web::Json<UpdateWebhookBody>,
) -> Result<web::Json<WebhookDto>, ApiError> {
    let b = body.into_inner();
    let hook = state
        .webhooks
        .update(
            &auth.0,
            path.webhook_id,
            WebhookInput {
                url: b.url,
                events: b.events,
                secret: None,
                description: b.description,
                enabled: b.enabled,
            },
        )
        .await?;
    Ok(web::Json(hook.into()))
}

/// Delete a webhook and its deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "delete_webhook", params(WebhookPath),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    state.webhooks.delete(&auth.0, path.webhook_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook's deliveries, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks", operation_id = "list_deliveries",
    params(WebhookPath, DeliveryQuery),
    responses((status = 200, body = PageDto<DeliveryDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deliveries<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<WebhookPath>,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<PageDto<DeliveryDto>>, ApiError> {
    let q = query.into_inner();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| ApiError::Argument {
            field: "status".into(),
            message: "pending, delivered or failed".into(),
        })?),
    };
    let page = state
        .webhooks
        .deliveries(
            &auth.0,
            path.webhook_id,
            status,
            q.cursor,
            q.limit,
            &state.limits,
        )
        .await?;
    Ok(web::Json(page.into()))
}

/// Send a delivery again (it becomes pending, due now, with a fresh retry window), whatever
/// became of it.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    operation_id = "redeliver_delivery", params(DeliveryPath),
    responses((status = 202, body = DeliveryDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn redeliver<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<DeliveryPath>,
) -> Result<HttpResponse, ApiError> {
    let d = state
        .webhooks
        .redeliver(&auth.0, path.webhook_id, path.delivery_id)
        .await?;
    Ok(HttpResponse::Accepted().json(DeliveryDto::from(d)))
}
