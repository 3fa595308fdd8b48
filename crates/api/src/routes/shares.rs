//! Share links: the owner shares one branch of a thread (snapshot or live) with the public,
//! any signed-in principal, or its organization; viewers read it read-only, open its
//! attachments, and continue it as their own copy.

use actix_web::{HttpResponse, web};
use chat_threads_application::shares::{
    Audience, CreateShare, Share, ShareMode, SharedMessage, SharedView,
};
use chat_threads_domain::{FileId, MessageId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Auth, MaybeAuth};
use crate::dto::{AttachmentDto, PageDto, PartDto, ThreadDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A share link.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareDto {
    /// The link's id: unguessable, the capability to read what it shares.
    pub id: String,
    /// Where viewers read it: `/v1/shared/{id}` on this server.
    pub url: String,
    pub thread_id: uuid::Uuid,
    /// `snapshot` (frozen when made or refreshed) or `live` (the branch as it is).
    pub mode: String,
    /// `public` (no token), `signed_in` (any valid token) or `org` (your organization).
    pub audience: String,
    /// The end of the shared branch; `null`: the thread's active branch.
    pub leaf_id: Option<uuid::Uuid>,
    /// Shown to viewers instead of your identity.
    pub display_name: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was made or last refreshed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Share> for ShareDto {
    fn from(s: Share) -> Self {
        Self {
            url: format!("/v1/shared/{}", s.id),
            id: s.id,
            thread_id: s.thread_id.as_uuid(),
            mode: s.mode.as_str().to_owned(),
            audience: s.audience.as_str().to_owned(),
            leaf_id: s.leaf_id.map(|m| m.as_uuid()),
            display_name: s.display_name,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A new share link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShareBody {
    /// `snapshot` or `live`.
    #[schema(value_type = String)]
    pub mode: ShareMode,
    /// `public`, `signed_in` or `org` (the thread must belong to an organization).
    #[schema(value_type = String)]
    pub audience: Audience,
    /// The end of the branch to share (a message of the thread); default: the active branch.
    pub leaf_id: Option<uuid::Uuid>,
    /// Shown to viewers instead of your identity; 1-64 characters.
    #[schema(max_length = 64)]
    pub display_name: Option<String>,
}

/// Path parameters of a thread's share.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ThreadSharePath {
    /// The thread id.
    pub thread_id: uuid::Uuid,
    /// The share id.
    #[param(max_length = 64)]
    pub share_id: String,
}

/// Path parameters of a share link.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SharePath {
    /// The share id.
    #[param(max_length = 64)]
    pub share_id: String,
}

/// Path parameters of a file seen through a share.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SharedFilePath {
    /// The share id.
    #[param(max_length = 64)]
    pub share_id: String,
    /// A file attached to a message the share shows.
    pub file_id: uuid::Uuid,
}

/// A message as a share shows it: no metadata, feedback, token counts or owner details.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharedMessageDto {
    pub id: uuid::Uuid,
    pub parent_id: Option<uuid::Uuid>,
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    pub content: String,
    pub content_type: String,
    pub display_text: Option<String>,
    pub status: String,
    pub model: Option<String>,
    /// Readable at `/v1/shared/{share_id}/files/{file_id}/content`.
    pub attachments: Vec<AttachmentDto>,
    pub parts: Vec<PartDto>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<SharedMessage> for SharedMessageDto {
    fn from(m: SharedMessage) -> Self {
        Self {
            id: m.id.as_uuid(),
            parent_id: m.parent_id.map(|p| p.as_uuid()),
            role: m.role.as_str().to_owned(),
            content: m.content,
            content_type: m.content_type.as_str().to_owned(),
            display_text: m.display_text,
            status: m.status.as_str().to_owned(),
            model: m.model,
            attachments: m.attachments.into_iter().map(AttachmentDto::from).collect(),
            parts: m.parts.into_iter().map(PartDto::from).collect(),
            created_at: m.created_at,
        }
    }
}

/// A shared conversation, read-only: one branch, root first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharedThreadDto {
    /// The share's id.
    pub id: String,
    pub title: String,
    /// The name the owner chose to show, if any.
    pub display_name: Option<String>,
    /// `snapshot` or `live`.
    pub mode: String,
    /// When the snapshot was taken (or the share made, for a live one).
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub messages: Vec<SharedMessageDto>,
}

impl From<SharedView> for SharedThreadDto {
    fn from(v: SharedView) -> Self {
        Self {
            id: v.share.id,
            title: v.title,
            display_name: v.share.display_name,
            mode: v.share.mode.as_str().to_owned(),
            updated_at: v.share.updated_at,
            messages: v.messages.into_iter().map(SharedMessageDto::from).collect(),
        }
    }
}

impl From<CreateShareBody> for CreateShare {
    fn from(b: CreateShareBody) -> Self {
        Self {
            mode: b.mode,
            audience: b.audience,
            leaf_id: b.leaf_id.map(MessageId::from_uuid),
            display_name: b.display_name,
        }
    }
}

/// Share a branch of your thread: a snapshot (frozen now, refreshable in place) or live (the
/// branch as it is when opened), for the public, any signed-in principal, or your organization.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/shares", tag = "shares", operation_id = "create_share", params(ThreadPath),
    request_body = CreateShareBody,
    responses((status = 201, body = ShareDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "No such thread of yours (thread_not_found)", body = ErrorBody),
              (status = 422, description = "leaf_id is not a live message of the thread (message_unusable), audience org on a thread of no organization (inconsistent_request), or 100 shares already (limit_exceeded)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<CreateShareBody>,
) -> Result<HttpResponse, ApiError> {
    let share = state
        .shares
        .create(&auth.0, path.thread(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(ShareDto::from(share)))
}

/// Your thread's share links, oldest first.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/shares", tag = "shares", operation_id = "list_shares", params(ThreadPath),
    responses((status = 200, body = PageDto<ShareDto>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<PageDto<ShareDto>>, ApiError> {
    Ok(web::Json(PageDto::complete(
        state.shares.list(&auth.0, path.thread()).await?,
    )))
}

/// Take a snapshot again, in place: the same link shows the branch and title as they are now.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/shares/{share_id}/refresh", tag = "shares", operation_id = "refresh_share", params(ThreadSharePath),
    responses((status = 200, body = ShareDto), (status = 401, body = ErrorBody),
              (status = 404, description = "No such thread of yours or share of it (share_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn refresh<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadSharePath>,
) -> Result<web::Json<ShareDto>, ApiError> {
    let thread = chat_threads_domain::ThreadId::from_uuid(path.thread_id);
    Ok(web::Json(
        state
            .shares
            .refresh(&auth.0, thread, &path.share_id)
            .await?
            .into(),
    ))
}

/// Revoke a share link: it answers 404 from now on, on every instance.
#[utoipa::path(delete, path = "/v1/threads/{thread_id}/shares/{share_id}", tag = "shares", operation_id = "revoke_share", params(ThreadSharePath),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
              (status = 404, description = "No such thread of yours or share of it (share_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadSharePath>,
) -> Result<HttpResponse, ApiError> {
    let thread = chat_threads_domain::ThreadId::from_uuid(path.thread_id);
    state.shares.revoke(&auth.0, thread, &path.share_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Read a shared conversation: its title and one branch, read-only. Public shares need no
/// token; signed-in shares any valid token (401 without); org shares a token of the owner's
/// organization (401 without, 404 for another).
#[utoipa::path(get, path = "/v1/shared/{share_id}", tag = "shares", operation_id = "get_shared", params(SharePath),
    responses((status = 200, body = SharedThreadDto), (status = 401, body = ErrorBody),
              (status = 404, description = "No such share for you: never made, revoked, its thread deleted, another organization's (share_not_found)", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: MaybeAuth,
    state: web::Data<AppState<D>>,
    path: web::Path<SharePath>,
) -> Result<web::Json<SharedThreadDto>, ApiError> {
    let view = state.shares.view(auth.0.as_ref(), &path.share_id).await?;
    Ok(web::Json(view.into()))
}

/// Download a file attached to a message the share shows (as the share's audience allows).
#[utoipa::path(get, path = "/v1/shared/{share_id}/files/{file_id}/content", tag = "shares", operation_id = "download_shared_file", params(SharedFilePath),
    responses((status = 200, description = "The bytes, with the type sniffed at upload",
                content((crate::routes::files::FileBytes = "application/octet-stream"))),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such share for you, or a file the share does not show", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub async fn file<D: Deps>(
    auth: MaybeAuth,
    state: web::Data<AppState<D>>,
    path: web::Path<SharedFilePath>,
) -> Result<HttpResponse, ApiError> {
    let id = FileId::from_uuid(path.file_id);
    let owner = state
        .shares
        .attachment(auth.0.as_ref(), &path.share_id, id)
        .await?;
    let (file, bytes) = state.files.content_of(&owner, id).await?;
    Ok(crate::routes::files::download(&file, bytes))
}

/// Continue a shared conversation as your own: a new thread of yours holding a copy of the
/// branch (new ids, `metadata.shared_from` naming the link; attachments are not copied).
#[utoipa::path(post, path = "/v1/shared/{share_id}/fork", tag = "shares", operation_id = "fork_shared", params(SharePath),
    responses((status = 201, body = ThreadDto), (status = 401, body = ErrorBody),
              (status = 404, description = "No such share for you (share_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn fork<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<SharePath>,
) -> Result<HttpResponse, ApiError> {
    let thread = state.shares.fork(Some(&auth.0), &path.share_id).await?;
    Ok(HttpResponse::Created().json(ThreadDto::from(thread)))
}
