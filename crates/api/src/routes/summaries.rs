//! Summaries of a thread's path.

use actix_web::{HttpResponse, web};
use chat_threads_domain::MessageId;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::{PageDto, SummaryDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// The thread's summaries, newest first, all in one page.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/summaries", tag = "summaries", params(ThreadPath),
    operation_id = "list_summaries",
    responses((status = 200, description = "Every summary of the thread (one page)", body = PageDto<SummaryDto>),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<PageDto<SummaryDto>>, ApiError> {
    let list = state.summaries.list(&auth.0, path.thread()).await?;
    Ok(web::Json(PageDto::complete(list)))
}

/// A summary to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSummaryBody {
    /// The last message the summary covers.
    pub covers_message_id: uuid::Uuid,
    pub text: String,
    /// The model that wrote it.
    pub model: Option<String>,
}

/// Store a summary of the path up to a message.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/summaries", tag = "summaries", operation_id = "add_summary", params(ThreadPath),
    request_body = AddSummaryBody,
    responses((status = 201, body = SummaryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<AddSummaryBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let s = state
        .summaries
        .add(
            &auth.0,
            path.thread(),
            MessageId::from_uuid(b.covers_message_id),
            b.text,
            b.model,
        )
        .await?;
    Ok(HttpResponse::Created().json(SummaryDto::from(s)))
}
