//! Search across the caller's messages.

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Auth;
use crate::dto::{PageDto, SearchHitDto};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words that must all appear in the message.
    pub q: String,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
}

/// Search the content of your messages, newest first.
#[utoipa::path(get, path = "/v1/search", tag = "search", params(SearchQuery),
    operation_id = "search_messages",
    responses((status = 200, description = "A page of matching messages", body = PageDto<SearchHitDto>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<SearchQuery>,
) -> Result<web::Json<PageDto<SearchHitDto>>, ApiError> {
    let q = query.into_inner();
    let page = state
        .threads
        .search(&auth.0, &q.q, q.cursor, q.limit)
        .await?;
    Ok(web::Json(page.into()))
}
