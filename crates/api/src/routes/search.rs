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
    /// Words that must all begin words of the message (`lisb` finds "Lisbon").
    pub q: String,
    /// Only threads with this tag.
    pub tag: Option<String>,
    /// Only threads in this folder.
    pub folder_id: Option<uuid::Uuid>,
    /// Only messages written at or after this time (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only messages written before this time (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
}

/// Search the content of your messages, newest first: every word matches as a prefix, through
/// the full-text index; filters by tag, folder and time. Temporary threads are not searched.
#[utoipa::path(get, path = "/v1/search", tag = "search", params(SearchQuery),
    operation_id = "search_messages",
    responses((status = 200, description = "A page of matching messages", body = PageDto<SearchHitDto>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 422, description = "`to` is not after `from` (inconsistent_request)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<SearchQuery>,
) -> Result<web::Json<PageDto<SearchHitDto>>, ApiError> {
    let page = state
        .threads
        .search(&auth.0, query.into_inner().into())
        .await?;
    Ok(web::Json(page.into()))
}

impl From<SearchQuery> for chat_threads_application::search::SearchInput {
    fn from(q: SearchQuery) -> Self {
        Self {
            text: q.q,
            tag: q.tag,
            folder_id: q.folder_id.map(chat_threads_domain::FolderId::from_uuid),
            from: q.from,
            to: q.to,
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}
