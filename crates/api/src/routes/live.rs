//! Who is connected to a thread.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::ThreadPath;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A thread's live WebSocket connections.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceDto {
    pub thread_id: uuid::Uuid,
    /// WebSocket connections subscribed to the thread, on every instance (counts of other
    /// instances arrive within `rate_limit.cluster_sync_ms`).
    pub connections: usize,
}

/// How many WebSocket connections follow the thread.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/presence", tag = "replies", operation_id = "get_presence", params(ThreadPath),
    responses((status = 200, body = PresenceDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn presence<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<PresenceDto>, ApiError> {
    let id = path.thread();
    state.threads.get(&auth.0, id, false).await?;
    Ok(web::Json(PresenceDto {
        thread_id: path.thread_id,
        connections: state.replies.events().presence(id),
    }))
}
