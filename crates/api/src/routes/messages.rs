//! Messages: append, list (active path or whole tree), read, edit as a sibling or in place
//! (with revisions), delete a subtree or one message, feedback and reactions.

use actix_web::{HttpResponse, web};
use chat_threads_application::messages::{DeleteScope, MessagePatch};
use chat_threads_application::{AppendMessage, DeletedFilter, EditInput, message_filter};
use chat_threads_domain::{MessageId, Principal, ThreadId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::{
    DeleteOutcomeDto, FeedbackDto, MessageDto, MessagePath, MessageRevisionDto, PageDto, ThreadPath,
};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A new message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendMessageBody {
    /// `user` (default), `assistant`, `system` or `tool`.
    pub role: Option<String>,
    /// The text (or JSON document, for content_type `json`).
    pub content: String,
    /// `text` (default), `json`, `image` or `file`.
    pub content_type: Option<String>,
    /// What a UI shows instead of the content.
    pub display_text: Option<String>,
    /// Parent message; default the thread's active leaf. Giving one starts a branch.
    pub parent_id: Option<uuid::Uuid>,
    /// Free-form JSON object (RAG sources, question config, prompt details ...).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The model that wrote it, for assistant messages you store yourself.
    pub model: Option<String>,
    /// Prompt tokens it cost, for a message generated elsewhere (0 to 10,000,000); counted in
    /// your usage under `model` (or `external`).
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    pub prompt_tokens: Option<i64>,
    /// Tokens it took (0 to 10,000,000); counted in your usage like `prompt_tokens`.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    pub completion_tokens: Option<i64>,
    /// Your uploaded files to attach (ids from `POST /v1/files`), at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<uuid::Uuid>,
    /// Tool calls or reasoning (role `assistant`), tool results (role `tool`; each must answer
    /// an open call of the assistant message above, else 422 `tool_result_unpaired`).
    #[serde(default)]
    #[schema(max_items = 128)]
    pub parts: Vec<crate::dto::PartDto>,
}

/// A new version of a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageBody {
    /// The new content.
    pub content: String,
    pub display_text: Option<String>,
    /// Replaces the metadata; absent keeps the original's.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Your uploaded files to attach to the new version, at most 10 (none by default).
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<uuid::Uuid>,
}

impl From<AppendMessageBody> for AppendMessage {
    fn from(b: AppendMessageBody) -> Self {
        Self {
            role: b.role,
            content: b.content,
            content_type: b.content_type,
            display_text: b.display_text,
            parent_id: b.parent_id.map(MessageId::from_uuid),
            metadata: b.metadata,
            model: b.model,
            prompt_tokens: b.prompt_tokens,
            completion_tokens: b.completion_tokens,
            attachments: file_ids(b.attachments),
            parts: b.parts.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<EditMessageBody> for EditInput {
    fn from(b: EditMessageBody) -> Self {
        Self {
            content: b.content,
            display_text: b.display_text,
            metadata: b.metadata,
            attachments: file_ids(b.attachments),
        }
    }
}

impl From<PatchMessageBody> for MessagePatch {
    fn from(b: PatchMessageBody) -> Self {
        Self {
            content: b.content,
            display_text: b.display_text,
            metadata: b.metadata,
        }
    }
}

/// File ids as the application takes them.
pub(crate) fn file_ids(ids: Vec<uuid::Uuid>) -> Vec<chat_threads_domain::FileId> {
    ids.into_iter()
        .map(chat_threads_domain::FileId::from_uuid)
        .collect()
}

/// Which messages to list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// The active path, root first, paging backwards from the leaf.
    #[default]
    Path,
    /// Every message (deleted ones marked), oldest first.
    Tree,
}

/// Message list parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListMessagesQuery {
    /// `path` (default) or `tree`.
    #[param(value_type = Option<String>)]
    pub view: Option<View>,
    /// Page size, 1-100. For `path`, omit it to get the whole path.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (for `path`, it pages towards the root).
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
    /// Only messages with this role: `user`, `assistant`, `system` or `tool`.
    pub role: Option<String>,
    /// Only messages containing every one of these words.
    pub q: Option<String>,
    /// Deleted messages (`view=tree` only, where `include` is the default): `exclude`,
    /// `include` or `only` (the trash: what can still be restored).
    #[param(value_type = Option<String>)]
    pub deleted: Option<chat_threads_application::DeletedFilter>,
}

/// Append a message under the active leaf (or a given parent); it becomes the active leaf.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages", tag = "messages", operation_id = "append_message", params(ThreadPath),
    request_body = AppendMessageBody,
    responses((status = 201, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn append<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<AppendMessageBody>,
) -> Result<HttpResponse, ApiError> {
    let m = state
        .messages
        .append_counted(&auth.0, path.thread(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(MessageDto::from(m)))
}

/// List messages: the active path (default) or the whole tree. A first page of the path with a
/// `limit` (no cursor, no filter) that is read again is answered from the page cache once the
/// database confirms none of its messages changed; `Cache-Control: no-cache` reads it afresh.
/// On PostgreSQL such a page carries an `ETag`: sent back in `If-None-Match`, it gets
/// `304 Not Modified` (no body) while the page reads the same.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/messages", tag = "messages", operation_id = "list_messages",
    params(ThreadPath, ListMessagesQuery,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags of first pages the client holds (the `ETag` of an earlier answer): 304 when one names the page as it is now")),
    responses((status = 200, body = PageDto<MessageDto>,
                headers(("ETag" = String, description = "The page's entity tag: first pages of the path with a `limit`, on PostgreSQL"))),
              (status = 304, description = "The page the `If-None-Match` names is the page as it is now (no body)"),
              (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "deleted=include|only with the path view, which never holds deleted messages (inconsistent_request)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    req: actix_web::HttpRequest,
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    query: web::Query<ListMessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    if let Some(limit) = q.limit
        && !no_cache(&req)
        && q.cursor.is_none()
        && q.role.is_none()
        && q.q.is_none()
        && matches!(q.deleted, None | Some(DeletedFilter::Exclude))
        && matches!(q.view.unwrap_or_default(), View::Path)
    {
        return first_page(&state, &auth.0, path.thread(), limit, if_none_match(&req)).await;
    }
    let page = list_page(&state, &auth.0, path.thread(), q).await?;
    crate::json::page(&page, page_size_guess(&page))
}

/// Whether the request says `Cache-Control: no-cache`: its page is then read and rendered
/// afresh, neither taken from nor put in the page cache.
fn no_cache(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get_all(actix_web::http::header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
}

/// About a page's JSON: its texts and ~700 bytes of ids, times and keys per message.
fn page_size_guess(page: &PageDto<MessageDto>) -> usize {
    page.data
        .iter()
        .map(|m| m.content.len() + m.display_text.as_ref().map_or(0, String::len) + 700)
        .sum::<usize>()
        + 64
}

/// The `If-None-Match` header's entity tags (comma-separated), if the request has one.
fn if_none_match(req: &actix_web::HttpRequest) -> Option<String> {
    let values: Vec<&str> = req
        .headers()
        .get_all(actix_web::http::header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Whether `if_none_match` names `tag` (weak comparison, as RFC 9110 has it for this header;
/// `*` names any page there is).
fn names(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// The first page of the active path (`limit`, no cursor, no filter) through the page cache
/// (`crate::page_cache`): a kept page whose stamp the store confirms is answered as it was
/// rendered; any other read is rendered, and kept when the store gives its stamp. A page with a
/// stamp carries its `ETag`, and a request whose `If-None-Match` names the page as it is now
/// gets `304 Not Modified` with no body.
async fn first_page<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    thread: ThreadId,
    limit: u32,
    if_none_match: Option<String>,
) -> Result<HttpResponse, ApiError> {
    use chat_threads_application::messages::PathRead;
    let key = crate::page_cache::PageKey { thread, limit };
    let held = state.pages.get(&key);
    // An error (no access, say) leaves the kept page alone: it is someone else's to reread.
    let read = state
        .messages
        .first_path_page(who, thread, limit, held.as_ref().map(|(stamp, _)| stamp))
        .await?;
    let tagged = |body: actix_web::web::Bytes, stamp| {
        let tag = state.page_tags.tag(thread, limit, stamp);
        let mut response = if if_none_match.as_deref().is_some_and(|h| names(h, &tag)) {
            HttpResponse::NotModified().finish()
        } else {
            crate::json::ok_json(body)
        };
        let headers = response.headers_mut();
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&tag) {
            headers.insert(actix_web::http::header::ETAG, v);
        }
        // Kept by the client alone, and asked about again before each use.
        headers.insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("private, no-cache"),
        );
        response
    };
    let (page, stamp) = match read {
        PathRead::Read { page, stamp } => (page, stamp),
        PathRead::Unchanged => {
            let Some((stamp, body)) = held else {
                return Err(chat_threads_application::AppError::internal(
                    "a page read as unchanged with no page held",
                )
                .into());
            };
            state.pages.count(true);
            return Ok(tagged(body, stamp));
        }
    };
    state.pages.count(false);
    let page = PageDto::<MessageDto>::from(page);
    let mut body = crate::json::page_body(&page, page_size_guess(&page))?;
    let Some(stamp) = stamp else {
        if held.is_some() {
            state.pages.forget(&key);
        }
        return Ok(crate::json::ok_json(body.into()));
    };
    // Kept at its length, so the cache's budget counts what it holds.
    body.shrink_to_fit();
    let body = actix_web::web::Bytes::from(body);
    state.pages.put(key, stamp, body.clone());
    Ok(tagged(body, stamp))
}

/// A page of a thread's messages as `query` asks (REST and WebSocket).
pub(crate) async fn list_page<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    thread: ThreadId,
    q: ListMessagesQuery,
) -> Result<PageDto<MessageDto>, ApiError> {
    let mut filter = message_filter(q.role.as_deref(), q.q.as_deref())?;
    filter.deleted = q.deleted;
    let (cursor, limit) = (q.cursor, q.limit);
    let page = match q.view.unwrap_or_default() {
        View::Path => {
            if !matches!(q.deleted, None | Some(DeletedFilter::Exclude)) {
                return Err(chat_threads_application::AppError::from(
                    chat_threads_domain::DomainError::inconsistent(
                        "deleted",
                        "the active path never holds deleted messages: list them with view=tree",
                    ),
                )
                .into());
            }
            state
                .messages
                .active_path(who, thread, cursor, limit, filter)
                .await?
        }
        View::Tree => {
            state
                .messages
                .tree(who, thread, cursor, limit, filter)
                .await?
        }
    };
    Ok(page.into())
}

/// Get a message. A deleted one (with `deleted_at`) is readable by the owner and editors while
/// it can be restored; a tombstone shows no content until it is restored.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/messages/{message_id}", tag = "messages", operation_id = "get_message", params(MessagePath),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let m = state
        .messages
        .read(&auth.0, path.thread(), path.message())
        .await?;
    Ok(web::Json(m.into()))
}

/// What a restore brought back.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreOutcomeDto {
    /// The message as it reads now.
    pub message: MessageDto,
    /// Messages that came back: the message and the descendants deleted with it, 1 for a
    /// tombstone's content, 0 when it was not deleted.
    pub restored: u64,
    /// The thread's active leaf afterwards.
    pub active_leaf_id: Option<uuid::Uuid>,
}

impl From<chat_threads_application::messages::RestoreOutcome> for RestoreOutcomeDto {
    fn from(r: chat_threads_application::messages::RestoreOutcome) -> Self {
        Self {
            message: r.message.into(),
            restored: r.restored,
            active_leaf_id: r.active_leaf_id.map(|m| m.as_uuid()),
        }
    }
}

/// Undo a delete within the restore window (`retention.restore_window_secs`, 30 days): a
/// message deleted with its subtree comes back with what was deleted with it (if the active
/// leaf is still where the delete moved it, it moves back into what came back); a tombstone
/// gets its content back. Announced as `message.restored`.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/restore", tag = "messages", operation_id = "restore_message",
    params(MessagePath),
    responses((status = 200, body = RestoreOutcomeDto), (status = 401, body = ErrorBody),
              (status = 403, description = "A viewer's request (forbidden)", body = ErrorBody),
              (status = 404, description = "No such thread or message (also one removed after the window)", body = ErrorBody),
              (status = 409, description = "Its parent is deleted too, or the window passed and its content was erased (not_restorable)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn restore<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
) -> Result<web::Json<RestoreOutcomeDto>, ApiError> {
    let out = state
        .messages
        .restore(&auth.0, path.thread(), path.message())
        .await?;
    Ok(web::Json(out.into()))
}

/// Edit a message: adds a sibling with the new content, which becomes the active leaf. The
/// original stays as another branch.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/edits", tag = "messages", operation_id = "edit_message",
    params(MessagePath), request_body = EditMessageBody,
    responses((status = 201, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn edit<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: crate::extractors::Json<EditMessageBody>,
) -> Result<HttpResponse, ApiError> {
    let m = state
        .messages
        .edit(
            &auth.0,
            path.thread(),
            path.message(),
            body.into_inner().into(),
        )
        .await?;
    Ok(HttpResponse::Created().json(MessageDto::from(m)))
}

/// Options of a message delete.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteMessageQuery {
    /// `subtree` (default): the message and everything below it; the active leaf moves to its
    /// parent. `message`: the message alone becomes a tombstone (content, display text,
    /// metadata, feedback and revisions gone; id, role, place and children kept); the active
    /// path and the model's context read around it.
    #[param(value_type = Option<String>)]
    pub scope: Option<DeleteScope>,
}

/// Delete a message: with everything below it (default), or alone as a tombstone
/// (`?scope=message`).
#[utoipa::path(delete, path = "/v1/threads/{thread_id}/messages/{message_id}", tag = "messages", operation_id = "delete_message",
    params(MessagePath, DeleteMessageQuery),
    responses((status = 200, body = DeleteOutcomeDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "The reply is still being generated (generation_in_progress)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    query: web::Query<DeleteMessageQuery>,
) -> Result<web::Json<DeleteOutcomeDto>, ApiError> {
    let out = state
        .messages
        .delete(
            &auth.0,
            path.thread(),
            path.message(),
            query.scope.unwrap_or_default(),
        )
        .await?;
    Ok(web::Json(out.into()))
}

/// An edit in place; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMessageBody {
    /// New content (checked like an append's; JSON for content_type `json`).
    pub content: Option<String>,
    /// New display text; `null` clears it.
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<String>)]
    pub display_text: Option<Option<String>>,
    /// New metadata (replaces the whole object).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Edit a message in place: same id, place and children; `version` + 1, `is_edited` and
/// `edited_at` set; the earlier version is kept (`.../revisions`). To branch instead, use
/// `.../edits`.
#[utoipa::path(patch, path = "/v1/threads/{thread_id}/messages/{message_id}", tag = "messages", operation_id = "update_message",
    params(MessagePath), request_body = PatchMessageBody,
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "Edited meanwhile by another request (conflict), or a reply still being generated (generation_in_progress)", body = ErrorBody),
              (status = 422, description = "A limit, content_not_json, or a tombstone (message_unusable)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: crate::extractors::Json<PatchMessageBody>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let m = state
        .messages
        .revise(
            &auth.0,
            path.thread(),
            path.message(),
            body.into_inner().into(),
        )
        .await?;
    Ok(web::Json(m.into()))
}

/// Paging of revisions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevisionsQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
}

/// Earlier versions of a message edited in place, oldest first (the current one is the
/// message itself).
#[utoipa::path(get, path = "/v1/threads/{thread_id}/messages/{message_id}/revisions", tag = "messages", operation_id = "list_message_revisions",
    params(MessagePath, RevisionsQuery),
    responses((status = 200, body = PageDto<MessageRevisionDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revisions<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    query: web::Query<RevisionsQuery>,
) -> Result<web::Json<PageDto<MessageRevisionDto>>, ApiError> {
    let q = query.into_inner();
    let page = state
        .messages
        .revisions(&auth.0, path.thread(), path.message(), q.cursor, q.limit)
        .await?;
    Ok(web::Json(page.into()))
}

/// Set thumbs up/down (with optional text) on a message.
#[utoipa::path(put, path = "/v1/threads/{thread_id}/messages/{message_id}/feedback", tag = "messages", operation_id = "set_feedback",
    params(MessagePath), request_body = FeedbackDto,
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_feedback<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: crate::extractors::Json<FeedbackDto>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let b = body.into_inner();
    let m = state
        .messages
        .feedback(
            &auth.0,
            path.thread(),
            path.message(),
            Some((b.rating, b.text)),
        )
        .await?;
    Ok(web::Json(m.into()))
}

/// Remove the feedback from a message.
#[utoipa::path(delete, path = "/v1/threads/{thread_id}/messages/{message_id}/feedback", tag = "messages", operation_id = "clear_feedback",
    params(MessagePath),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn clear_feedback<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let m = state
        .messages
        .feedback(&auth.0, path.thread(), path.message(), None)
        .await?;
    Ok(web::Json(m.into()))
}

/// An emoji reaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionBody {
    /// Exactly one emoji.
    pub emoji: String,
}

/// Set the reaction on a message.
#[utoipa::path(put, path = "/v1/threads/{thread_id}/messages/{message_id}/reaction", tag = "messages", operation_id = "set_reaction",
    params(MessagePath), request_body = ReactionBody,
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_reaction<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
    body: crate::extractors::Json<ReactionBody>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let m = state
        .messages
        .reaction(
            &auth.0,
            path.thread(),
            path.message(),
            Some(body.into_inner().emoji),
        )
        .await?;
    Ok(web::Json(m.into()))
}

/// Remove the reaction from a message.
#[utoipa::path(delete, path = "/v1/threads/{thread_id}/messages/{message_id}/reaction", tag = "messages", operation_id = "clear_reaction",
    params(MessagePath),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn clear_reaction<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<MessagePath>,
) -> Result<web::Json<MessageDto>, ApiError> {
    let m = state
        .messages
        .reaction(&auth.0, path.thread(), path.message(), None)
        .await?;
    Ok(web::Json(m.into()))
}
