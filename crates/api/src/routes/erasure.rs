//! Erasure of a person: by their organization's admins and service principals, or by
//! themselves (`auth.self_erasure`), as a job whose progress and receipt are readable.

use actix_web::{HttpResponse, web};
use chat_threads_application::erasure::{Erasure, ErasureCounts};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// An erasure job: its progress, and once done its receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureDto {
    /// `era_…`: read it at `/v1/erasures/{id}`.
    pub id: String,
    /// Who is erased.
    pub principal: String,
    /// In which organization; `null`: everywhere (a person's own erasure).
    pub org_id: Option<String>,
    pub requested_by: String,
    /// `running`, `done` (the counts are the receipt) or `blocked` (a legal hold placed
    /// meanwhile).
    pub status: String,
    /// What it removed or anonymized so far, per kind.
    #[schema(value_type = Object)]
    pub counts: ErasureCounts,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<Erasure> for ErasureDto {
    fn from(e: Erasure) -> Self {
        Self {
            id: e.id,
            principal: e.principal.as_str().to_owned(),
            org_id: e.org_id.map(|o| o.into_inner()),
            requested_by: e.requested_by,
            status: e.status.as_str().to_owned(),
            counts: e.counts,
            created_at: e.created_at,
            finished_at: e.finished_at,
        }
    }
}

/// Path of a principal.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PrincipalPath {
    /// `user:<subject>`, `service:<subject>` or `anon:<session>`.
    #[param(max_length = 255)]
    pub principal: String,
}

/// Path of an erasure.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ErasurePath {
    /// The erasure's id.
    #[param(max_length = 64)]
    pub erasure_id: String,
}

/// Runs an erasure to its end in the background (the sweeper resumes it after a crash).
fn run_in_background<D: Deps>(state: &AppState<D>, e: &Erasure) {
    let service = state.erasures.clone();
    let e = e.clone();
    actix_web::rt::spawn(async move {
        if let Err(err) = service.run(e).await {
            tracing::warn!(error = %err, "an erasure stopped; the sweeper resumes it");
        }
    });
}

/// Erase a principal of your organization (org admins and service principals): their threads,
/// files and memberships in it go, what they wrote in others' threads names no one, amounts
/// stay anonymized. `202` at once with the job; asking again while it runs returns it.
#[utoipa::path(delete, path = "/v1/principals/{principal}", tag = "erasure", operation_id = "erase_principal",
    params(PrincipalPath),
    responses((status = 202, body = ErasureDto), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an org admin or service principal of an organization (forbidden)", body = ErrorBody),
              (status = 409, description = "A legal hold covers the principal or one of their threads (legal_hold)", body = ErrorBody),
              (status = 422, description = "Not user:, service: or anon: and a subject (inconsistent_request)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn erase_principal<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<PrincipalPath>,
) -> Result<HttpResponse, ApiError> {
    let e = state
        .erasures
        .erase_principal(&auth.0, &path.principal)
        .await?;
    run_in_background(&state, &e);
    Ok(HttpResponse::Accepted().json(ErasureDto::from(e)))
}

/// Erase yourself, everywhere (`auth.self_erasure`; off: 403): your threads, files,
/// memberships, sessions and built-in account go; amounts and usage stay anonymized.
#[utoipa::path(delete, path = "/v1/me", tag = "erasure", operation_id = "erase_me",
    responses((status = 202, body = ErasureDto), (status = 401, body = ErrorBody),
              (status = 403, description = "Switched off on this server (forbidden)", body = ErrorBody),
              (status = 409, description = "A legal hold covers you or one of your threads (legal_hold)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn erase_me<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<HttpResponse, ApiError> {
    let e = state.erasures.erase_me(&auth.0).await?;
    run_in_background(&state, &e);
    Ok(HttpResponse::Accepted().json(ErasureDto::from(e)))
}

/// An erasure's progress or receipt: for whoever asked for it and the managers of its
/// organization.
#[utoipa::path(get, path = "/v1/erasures/{erasure_id}", tag = "erasure", operation_id = "get_erasure",
    params(ErasurePath),
    responses((status = 200, body = ErasureDto), (status = 401, body = ErrorBody),
              (status = 404, description = "No such erasure for you (erasure_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ErasurePath>,
) -> Result<web::Json<ErasureDto>, ApiError> {
    Ok(web::Json(
        state.erasures.get(&auth.0, &path.erasure_id).await?.into(),
    ))
}
