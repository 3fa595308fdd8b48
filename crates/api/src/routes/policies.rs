//! Retention policies and legal holds, for an organization's admins and service principals.

use actix_web::{HttpResponse, web};
use chat_threads_application::retention::policies::{
    Hold, HoldInput, Policy, PolicyInput, PolicyOutcome,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A retention policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDto {
    pub org_id: String,
    /// The product it governs; `null`: every product of the organization without its own.
    pub product: Option<String>,
    /// Threads with no activity for this many days are deleted (restorable for the window).
    pub delete_inactive_after_days: Option<u32>,
    /// Deleted messages and threads are forgotten after this many days.
    pub erase_deleted_after_days: Option<u32>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: String,
}

impl From<Policy> for PolicyDto {
    fn from(p: Policy) -> Self {
        Self {
            org_id: p.org_id.into_inner(),
            product: p.product.map(|x| x.into_inner()),
            delete_inactive_after_days: p.delete_inactive_days,
            erase_deleted_after_days: p.erase_deleted_days,
            updated_at: p.updated_at,
            updated_by: p.updated_by,
        }
    }
}

/// A policy to set (or to try, for a dry run).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// A product; left out: the organization's default.
    pub product: Option<String>,
    /// 1-36500 days.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    pub delete_inactive_after_days: Option<i64>,
    /// 1-36500 days.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    pub erase_deleted_after_days: Option<i64>,
}

impl From<PolicyBody> for PolicyInput {
    fn from(b: PolicyBody) -> Self {
        // Out of range (the document says 1-36500) maps to 0, which the service refuses.
        let days = |d: Option<i64>| d.map(|n| u32::try_from(n).unwrap_or(0));
        Self {
            product: b.product,
            delete_inactive_after_days: days(b.delete_inactive_after_days),
            erase_deleted_after_days: days(b.erase_deleted_after_days),
        }
    }
}

/// What a policy would do now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyOutcomeDto {
    /// Threads it would delete for inactivity.
    pub threads_deleted: u64,
    /// Deleted things it would forget: tombstones erased, messages and threads removed.
    pub forgotten: u64,
    /// Up to 100 of the threads it would delete.
    pub sample_thread_ids: Vec<uuid::Uuid>,
}

impl From<PolicyOutcome> for PolicyOutcomeDto {
    fn from(o: PolicyOutcome) -> Self {
        Self {
            threads_deleted: o.threads_deleted,
            forgotten: o.forgotten,
            sample_thread_ids: o.sample.into_iter().map(|t| t.as_uuid()).collect(),
        }
    }
}

/// Which policy to delete.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    /// The product; left out: the organization's default.
    pub product: Option<String>,
}

/// A legal hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldDto {
    pub id: String,
    pub org_id: String,
    /// The held thread (a thread hold).
    pub thread_id: Option<uuid::Uuid>,
    /// The held principal: all their threads in the organization.
    pub principal: Option<String>,
    pub reason: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
}

impl From<Hold> for HoldDto {
    fn from(h: Hold) -> Self {
        Self {
            id: h.id,
            org_id: h.org_id.into_inner(),
            thread_id: h.thread_id.map(|t| t.as_uuid()),
            principal: h.principal.map(|p| p.as_str().to_owned()),
            reason: h.reason,
            created_at: h.created_at,
            created_by: h.created_by,
        }
    }
}

/// A hold to place: on a thread of the organization or on a principal (exactly one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub thread_id: Option<uuid::Uuid>,
    /// `user:<subject>` or `service:<subject>`.
    pub principal: Option<String>,
    /// Why (1-500 characters).
    pub reason: String,
}

/// Path of a legal hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct HoldPath {
    /// The hold's id.
    #[param(max_length = 64)]
    pub hold_id: String,
}

const ADMIN: &str = "Not an org admin or service principal of an organization (forbidden)";

/// Your organization's retention policies.
#[utoipa::path(get, path = "/v1/retention-policies", tag = "retention", operation_id = "list_retention_policies",
    responses((status = 200, body = PageDto<PolicyDto>), (status = 401, body = ErrorBody), (status = 403, description = ADMIN, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<web::Json<PageDto<PolicyDto>>, ApiError> {
    Ok(web::Json(PageDto::complete(
        state.policies.list(&auth.0).await?,
    )))
}

/// Set a retention policy of your organization (its default, or one product's): replaces the
/// one there was. The sweeper applies it every `auth.sessions.purge_interval_secs`.
#[utoipa::path(put, path = "/v1/retention-policies", tag = "retention", operation_id = "put_retention_policy",
    request_body = PolicyBody,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = ADMIN, body = ErrorBody),
              (status = 422, description = "Neither kind of retention named (inconsistent_request)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<PolicyBody>,
) -> Result<web::Json<PolicyDto>, ApiError> {
    Ok(web::Json(
        state
            .policies
            .put(&auth.0, body.into_inner().into())
            .await?
            .into(),
    ))
}

/// Delete a retention policy of your organization.
#[utoipa::path(delete, path = "/v1/retention-policies", tag = "retention", operation_id = "delete_retention_policy",
    params(PolicyQuery),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, description = ADMIN, body = ErrorBody),
              (status = 404, description = "No such policy (policy_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<PolicyQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .policies
        .delete(&auth.0, query.into_inner().product)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What a policy would remove now, without removing anything.
#[utoipa::path(post, path = "/v1/retention-policies/dry-run", tag = "retention", operation_id = "dry_run_retention_policy",
    request_body = PolicyBody,
    responses((status = 200, body = PolicyOutcomeDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = ADMIN, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dry_run<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<PolicyBody>,
) -> Result<web::Json<PolicyOutcomeDto>, ApiError> {
    Ok(web::Json(
        state
            .policies
            .dry_run(&auth.0, body.into_inner().into())
            .await?
            .into(),
    ))
}

/// Your organization's legal holds, oldest first.
#[utoipa::path(get, path = "/v1/legal-holds", tag = "retention", operation_id = "list_legal_holds",
    responses((status = 200, body = PageDto<HoldDto>), (status = 401, body = ErrorBody), (status = 403, description = ADMIN, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn holds<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<web::Json<PageDto<HoldDto>>, ApiError> {
    Ok(web::Json(PageDto::complete(
        state.policies.holds(&auth.0).await?,
    )))
}

/// Place a legal hold on a thread of your organization or on a principal: neither a policy nor
/// the restore window's sweep removes what it holds until it is lifted.
#[utoipa::path(post, path = "/v1/legal-holds", tag = "retention", operation_id = "place_legal_hold",
    request_body = HoldBody,
    responses((status = 201, body = HoldDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = ADMIN, body = ErrorBody),
              (status = 404, description = "No such thread in your organization (thread_not_found)", body = ErrorBody),
              (status = 422, description = "Not exactly one of thread_id and principal (inconsistent_request)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn hold<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<HoldBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let hold = state
        .policies
        .hold(
            &auth.0,
            HoldInput {
                thread_id: b.thread_id.map(chat_threads_domain::ThreadId::from_uuid),
                principal: b.principal,
                reason: b.reason,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(HoldDto::from(hold)))
}

/// Lift a legal hold.
#[utoipa::path(delete, path = "/v1/legal-holds/{hold_id}", tag = "retention", operation_id = "lift_legal_hold",
    params(HoldPath),
    responses((status = 204, description = "Lifted"), (status = 401, body = ErrorBody), (status = 403, description = ADMIN, body = ErrorBody),
              (status = 404, description = "No such hold in your organization (hold_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn release<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<HoldPath>,
) -> Result<HttpResponse, ApiError> {
    state.policies.release(&auth.0, &path.hold_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
