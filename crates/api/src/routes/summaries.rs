//! Summaries of a thread's path, and search across the caller's threads.

use actix_web::{HttpResponse, web};
use chat_threads_domain::MessageId;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::{SearchHitDto, SummaryDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// The thread's summaries, newest first.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/summaries", tag = "summaries", params(ThreadPath),
    responses((status = 200, body = Vec<SummaryDto>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<Vec<SummaryDto>>, ApiError> {
    let list = state.summaries.list(&auth.0, path.thread()).await?;
    Ok(web::Json(list.into_iter().map(SummaryDto::from).collect()))
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
#[utoipa::path(post, path = "/v1/threads/{thread_id}/summaries", tag = "summaries", params(ThreadPath),
    request_body = AddSummaryBody,
    responses((status = 201, body = SummaryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: web::Json<AddSummaryBody>,
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

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words that must all appear in the message.
    pub q: String,
    /// Maximum hits, 1-100 (default 20).
    pub limit: Option<u32>,
}

/// Search the content of your messages.
#[utoipa::path(get, path = "/v1/search", tag = "search", params(SearchQuery),
    responses((status = 200, body = Vec<SearchHitDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<SearchQuery>,
) -> Result<web::Json<Vec<SearchHitDto>>, ApiError> {
    let q = query.into_inner();
    let hits = state.threads.search(&auth.0, &q.q, q.limit).await?;
    Ok(web::Json(
        hits.into_iter().map(SearchHitDto::from).collect(),
    ))
}
