//! Branches: list the leaves, switch the active one, fork a path into a new thread.

use actix_web::{HttpResponse, web};
use chat_threads_application::ForkMode;
use chat_threads_domain::MessageId;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::{BranchDto, PageDto, ThreadDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// The thread's branches: each leaf with its last message, newest first, the active one marked.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/branches", tag = "branches", params(ThreadPath),
    operation_id = "list_branches",
    responses((status = 200, description = "Every branch of the thread (one page)", body = PageDto<BranchDto>),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<PageDto<BranchDto>>, ApiError> {
    let branches = state.messages.branches(&auth.0, path.thread()).await?;
    Ok(web::Json(PageDto::complete(branches)))
}

/// Which message becomes the active leaf.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveLeafBody {
    /// Any live message of the thread; the next message is appended under it.
    pub message_id: uuid::Uuid,
}

/// Switch the active branch.
#[utoipa::path(put, path = "/v1/threads/{thread_id}/active-leaf", tag = "branches", operation_id = "set_active_leaf", params(ThreadPath),
    request_body = ActiveLeafBody,
    responses((status = 200, body = ThreadDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_active_leaf<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<ActiveLeafBody>,
) -> Result<web::Json<ThreadDto>, ApiError> {
    let t = state
        .messages
        .set_active_leaf(
            &auth.0,
            path.thread(),
            MessageId::from_uuid(body.message_id),
        )
        .await?;
    Ok(web::Json(t.into()))
}

/// A fork request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkBody {
    /// The last message of the copied path.
    pub message_id: uuid::Uuid,
    /// `path` (default): root to message. `path_and_branches`: plus every branch below it.
    #[schema(value_type = Option<String>)]
    pub mode: Option<ForkMode>,
    /// Title of the new thread; default the original's.
    pub title: Option<String>,
}

/// Fork a path into a new thread that remembers where it came from.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/fork", tag = "branches", operation_id = "fork_thread", params(ThreadPath),
    request_body = ForkBody,
    responses((status = 201, body = ThreadDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn fork<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<ForkBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let t = state
        .messages
        .fork(
            &auth.0,
            path.thread(),
            MessageId::from_uuid(b.message_id),
            b.mode.unwrap_or_default(),
            b.title,
        )
        .await?;
    Ok(HttpResponse::Created().json(ThreadDto::from(t)))
}
