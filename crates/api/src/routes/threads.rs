//! Threads: create, list, read, change, archive, delete, restore, purge.

use actix_web::{HttpResponse, web};
use chat_threads_application::DeletedFilter;
use chat_threads_application::{CreateThread, ListThreads, UpdateThread};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::{PageDto, ThreadDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A new thread.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateThreadBody {
    /// Title (may be empty).
    pub title: Option<String>,
    /// Product or assistant the thread belongs to (`[a-z0-9][a-z0-9_.-]*`).
    pub product: Option<String>,
    /// Organization; defaults to the caller's. Any other (or any, for a caller without one) is
    /// 403.
    pub org_id: Option<String>,
    /// Document the conversation is about.
    pub document_id: Option<String>,
    /// Your own id for the thread. If you already have a thread with it, that thread is
    /// returned (200) instead of creating another (201).
    pub external_id: Option<String>,
    /// Free-form JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// System prompt for replies.
    pub system_prompt: Option<String>,
    /// Default model for replies.
    pub model: Option<String>,
    /// When the thread may be purged automatically.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Your tags on it: up to 32, each 1-64 characters (duplicates dropped).
    #[schema(max_items = 32)]
    pub tags: Option<Vec<String>>,
    /// One of your folders (`GET /v1/folders`): the thread inherits its system prompt and
    /// model unless it sets its own.
    pub folder_id: Option<uuid::Uuid>,
    /// Pinned threads are listed first.
    pub pinned: Option<bool>,
    /// A temporary thread: hidden from lists, search and exports, and purged after
    /// `threads.temporary_ttl` (or at `expires_at`, if earlier); readable by id meanwhile.
    pub temporary: Option<bool>,
}

/// Changes to a thread; absent fields stay as they are, `null` clears `system_prompt`/`model`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateThreadBody {
    pub title: Option<String>,
    /// `active` or `archived`.
    pub status: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    /// Replaces the thread's tags (`[]` removes them all).
    #[schema(max_items = 32)]
    pub tags: Option<Vec<String>>,
    /// Files the thread in one of your folders; `null` takes it out.
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub folder_id: Option<Option<uuid::Uuid>>,
    /// Pins or unpins it. Tags, folder and pin are not activity: `updated_at` stays.
    pub pinned: Option<bool>,
}

/// Thread list filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListThreadsQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
    pub product: Option<String>,
    /// `active` or `archived`.
    pub status: Option<String>,
    pub org_id: Option<String>,
    pub document_id: Option<String>,
    pub external_id: Option<String>,
    /// Words that must all appear in the title.
    pub q: Option<String>,
    /// `exclude` (default), `include` or `only` soft-deleted threads.
    #[param(value_type = Option<String>)]
    pub deleted: Option<DeletedFilter>,
    /// Only threads with this tag.
    pub tag: Option<String>,
    /// Only threads in this folder.
    pub folder_id: Option<uuid::Uuid>,
    /// Only pinned (`true`) or unpinned (`false`) threads.
    pub pinned: Option<bool>,
    /// Only threads created by a principal whose token carried this e-mail.
    pub creator_email: Option<String>,
    /// `with_me`: the threads other principals made you a member of (viewer or editor),
    /// instead of your own.
    #[param(value_type = Option<String>, pattern = "^with_me$")]
    pub shared: Option<SharedFilter>,
}

/// Whose threads a list shows.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharedFilter {
    /// Threads others made you a member of.
    WithMe,
}

/// What to embed in a thread.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetThreadQuery {
    /// `messages`: the first page of the active path (its newest 50 messages, as
    /// `GET .../messages?limit=50`), in `messages`.
    #[param(value_type = Option<String>, pattern = "^messages$")]
    pub include: Option<Include>,
}

/// Messages embedded by `?include=messages` (then page on with `next_cursor` at
/// `GET .../messages`).
pub const INCLUDED_MESSAGES: u32 = 50;

/// What `include` may embed.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// The first page of the active path.
    Messages,
}

impl From<CreateThreadBody> for CreateThread {
    fn from(b: CreateThreadBody) -> Self {
        Self {
            title: b.title,
            product: b.product,
            org_id: b.org_id,
            document_id: b.document_id,
            external_id: b.external_id,
            metadata: b.metadata,
            system_prompt: b.system_prompt,
            model: b.model,
            expires_at: b.expires_at,
            tags: b.tags,
            folder_id: b.folder_id.map(chat_threads_domain::FolderId::from_uuid),
            pinned: b.pinned,
            temporary: b.temporary,
        }
    }
}

impl From<UpdateThreadBody> for UpdateThread {
    fn from(b: UpdateThreadBody) -> Self {
        Self {
            title: b.title,
            status: b.status,
            metadata: b.metadata,
            system_prompt: b.system_prompt,
            model: b.model,
            tags: b.tags,
            folder_id: b
                .folder_id
                .map(|f| f.map(chat_threads_domain::FolderId::from_uuid)),
            pinned: b.pinned,
        }
    }
}

impl From<ListThreadsQuery> for ListThreads {
    fn from(q: ListThreadsQuery) -> Self {
        Self {
            org_id: q.org_id,
            product: q.product,
            status: q.status,
            document_id: q.document_id,
            external_id: q.external_id,
            deleted: q.deleted.unwrap_or_default(),
            text: q.q,
            tag: q.tag,
            folder_id: q.folder_id.map(chat_threads_domain::FolderId::from_uuid),
            pinned: q.pinned,
            creator_email: q.creator_email,
            shared_with_me: matches!(q.shared, Some(SharedFilter::WithMe)),
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}

/// Create a thread.
#[utoipa::path(post, path = "/v1/threads", tag = "threads", operation_id = "create_thread", request_body = CreateThreadBody,
    responses((status = 201, description = "Created", body = ThreadDto),
              (status = 200, description = "A thread with this external_id already existed", body = ThreadDto),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "org_id is not your own organization (forbidden)", body = ErrorBody),
              (status = 409, description = "external_id belongs to one of your deleted threads: restore or purge it (conflict)", body = ErrorBody),
              (status = 422, description = "folder_id is not one of your folders (folder_unusable), or another rule about the values", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<CreateThreadBody>,
) -> Result<HttpResponse, ApiError> {
    let (thread, created) = state
        .threads
        .create(&auth.0, body.into_inner().into())
        .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(ThreadDto::from(thread)))
}

/// List your threads: pinned first, then newest activity first. Temporary threads are never
/// listed.
#[utoipa::path(get, path = "/v1/threads", tag = "threads", operation_id = "list_threads", params(ListThreadsQuery),
    responses((status = 200, body = PageDto<ThreadDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 422, description = "A filter over its length (limit_exceeded)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<ListThreadsQuery>,
) -> Result<web::Json<PageDto<ThreadDto>>, ApiError> {
    let input = query.into_inner().into();
    Ok(web::Json(state.threads.list(&auth.0, input).await?.into()))
}

/// Get a thread; with `?include=messages`, the first page of its active path too.
#[utoipa::path(get, path = "/v1/threads/{thread_id}", tag = "threads", operation_id = "get_thread", params(ThreadPath, GetThreadQuery),
    responses((status = 200, body = ThreadDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    query: web::Query<GetThreadQuery>,
) -> Result<web::Json<ThreadDto>, ApiError> {
    let id = path.thread();
    Ok(web::Json(
        with_included(&state, &auth.0, id, query.into_inner().include).await?,
    ))
}

/// A thread, with the first page of its active path when `include` asks (REST and WebSocket).
pub(crate) async fn with_included<D: Deps>(
    state: &AppState<D>,
    who: &chat_threads_domain::Principal,
    id: chat_threads_domain::ThreadId,
    include: Option<Include>,
) -> Result<ThreadDto, ApiError> {
    let mut dto = ThreadDto::from(state.threads.get(who, id, false).await?);
    if let Some(Include::Messages) = include {
        // The first page: the newest messages of the path, as a page of the path answers.
        let first = crate::routes::messages::ListMessagesQuery {
            limit: Some(INCLUDED_MESSAGES),
            ..Default::default()
        };
        let page = crate::routes::messages::list_page(state, who, id, first).await?;
        dto.messages = Some(page);
    }
    Ok(dto)
}

/// Change a thread's title, status (archive), metadata, system prompt or model.
#[utoipa::path(patch, path = "/v1/threads/{thread_id}", tag = "threads", operation_id = "update_thread", params(ThreadPath),
    request_body = UpdateThreadBody,
    responses((status = 200, body = ThreadDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "No such thread of yours (thread_not_found)", body = ErrorBody),
              (status = 422, description = "folder_id is not one of your folders (folder_unusable), or another rule about the values", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<UpdateThreadBody>,
) -> Result<web::Json<ThreadDto>, ApiError> {
    let input = body.into_inner().into();
    let id = path.thread();
    Ok(web::Json(
        state.threads.update(&auth.0, id, input).await?.into(),
    ))
}

/// Write the thread's title with the model now, from its first user message and the reply to
/// it (`[titles]`; the echo model titles after the first message). Replaces any title;
/// announced as `thread.updated`. Its tokens count in usage and billing.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/title", tag = "threads", operation_id = "title_thread", params(ThreadPath),
    responses((status = 200, body = ThreadDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "No user message to title it after (inconsistent_request), or the titles model is not yours (model_not_allowed)", body = ErrorBody),
              (status = 502, description = "The model failed (model_error)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn title<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<ThreadDto>, ApiError> {
    let id = path.thread();
    Ok(web::Json(state.replies.retitle(&auth.0, id).await?.into()))
}

/// Soft-delete a thread (restorable).
#[utoipa::path(delete, path = "/v1/threads/{thread_id}", tag = "threads", operation_id = "delete_thread", params(ThreadPath),
    responses((status = 200, body = ThreadDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<ThreadDto>, ApiError> {
    let id = path.thread();
    Ok(web::Json(state.threads.delete(&auth.0, id).await?.into()))
}

/// Restore a soft-deleted thread.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/restore", tag = "threads", operation_id = "restore_thread", params(ThreadPath),
    responses((status = 200, body = ThreadDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn restore<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<ThreadDto>, ApiError> {
    let id = path.thread();
    Ok(web::Json(state.threads.restore(&auth.0, id).await?.into()))
}

/// Delete a thread for good, with its messages and summaries.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/purge", tag = "threads", operation_id = "purge_thread", params(ThreadPath),
    responses((status = 204, description = "Purged"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn purge<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.thread();
    state.threads.purge(&auth.0, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
