//! Folders and tags: an owner's ways of organizing threads. Threads are filed, tagged and
//! pinned with `PATCH /v1/threads/{id}` (`folder_id`, `tags`, `pinned`) and listed by them with
//! `GET /v1/threads?folder_id=…&tag=…&pinned=…`.

use actix_web::{HttpResponse, web};
use chat_threads_application::organize::{CreateFolder, FolderCount, TagCount, UpdateFolder};
use chat_threads_domain::FolderId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A folder of threads. Its system prompt and model are the defaults of the threads filed in
/// it (a thread's own win).
#[derive(Debug, Serialize, ToSchema)]
pub struct FolderDto {
    pub id: uuid::Uuid,
    /// Unique among your folders.
    pub name: String,
    /// The system prompt of its threads that set none.
    pub system_prompt: Option<String>,
    /// The model of its threads that set none.
    pub model: Option<String>,
    /// Your live threads in it (temporary ones not counted).
    pub thread_count: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<FolderCount> for FolderDto {
    fn from(c: FolderCount) -> Self {
        let f = c.folder;
        Self {
            id: f.id.as_uuid(),
            name: f.name.into_inner(),
            system_prompt: f.system_prompt.map(|p| p.into_inner()),
            model: f.model.map(|m| m.into_inner()),
            thread_count: c.thread_count,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// A new folder.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFolderBody {
    /// 1-128 characters, unique among your folders.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Default system prompt of its threads.
    pub system_prompt: Option<String>,
    /// Default model of its threads (one you may use).
    pub model: Option<String>,
}

/// Changes to a folder; absent fields stay, `null` clears `system_prompt` / `model`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFolderBody {
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
}

impl From<CreateFolderBody> for CreateFolder {
    fn from(b: CreateFolderBody) -> Self {
        Self {
            name: b.name,
            system_prompt: b.system_prompt,
            model: b.model,
        }
    }
}

impl From<UpdateFolderBody> for UpdateFolder {
    fn from(b: UpdateFolderBody) -> Self {
        Self {
            name: b.name,
            system_prompt: b.system_prompt,
            model: b.model,
        }
    }
}

/// Path parameters of a folder.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FolderPath {
    /// The folder id (anything that is not one of your folders' ids is 404 folder_not_found).
    #[param(value_type = uuid::Uuid)]
    pub folder_id: String,
}

impl FolderPath {
    fn folder(&self) -> Result<FolderId, ApiError> {
        self.folder_id
            .parse::<uuid::Uuid>()
            .map(FolderId::from_uuid)
            .map_err(|_| ApiError::from(chat_threads_application::AppError::FolderNotFound))
    }
}

/// A tag with how many of your live threads carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagDto {
    pub name: String,
    /// Your live threads carrying it (temporary ones not counted).
    pub thread_count: i64,
}

impl From<TagCount> for TagDto {
    fn from(t: TagCount) -> Self {
        Self {
            name: t.name.into_inner(),
            thread_count: t.thread_count,
        }
    }
}

/// Path parameters of a tag.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TagPath {
    /// The tag (URL-encoded).
    #[param(min_length = 1, max_length = 64)]
    pub tag: String,
}

/// A tag's new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTagBody {
    /// 1-64 characters. Threads that already carry it keep one.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

/// How many threads a tag or folder change touched.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadsTouched {
    /// Threads whose tags (or folder) changed.
    pub threads: u64,
}

/// Create a folder.
#[utoipa::path(post, path = "/v1/folders", tag = "folders", operation_id = "create_folder",
    request_body = CreateFolderBody,
    responses((status = 201, body = FolderDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, description = "You already have a folder with this name (conflict)", body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_folder<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<CreateFolderBody>,
) -> Result<HttpResponse, ApiError> {
    let folder = state
        .organize
        .create_folder(&auth.0, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(FolderDto::from(FolderCount {
        folder,
        thread_count: 0,
    })))
}

/// Your folders by name, with their thread counts.
#[utoipa::path(get, path = "/v1/folders", tag = "folders", operation_id = "list_folders",
    responses((status = 200, body = PageDto<FolderDto>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_folders<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<web::Json<PageDto<FolderDto>>, ApiError> {
    Ok(web::Json(PageDto::complete(
        state.organize.folders(&auth.0).await?,
    )))
}

/// One of your folders.
#[utoipa::path(get, path = "/v1/folders/{folder_id}", tag = "folders", operation_id = "get_folder", params(FolderPath),
    responses((status = 200, body = FolderDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_folder<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<FolderPath>,
) -> Result<web::Json<FolderDto>, ApiError> {
    Ok(web::Json(
        state.organize.folder(&auth.0, path.folder()?).await?.into(),
    ))
}

/// Rename a folder or change its defaults; its threads inherit the new ones at once.
#[utoipa::path(patch, path = "/v1/folders/{folder_id}", tag = "folders", operation_id = "update_folder", params(FolderPath),
    request_body = UpdateFolderBody,
    responses((status = 200, body = FolderDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "You already have a folder with this name (conflict)", body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_folder<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<FolderPath>,
    body: crate::extractors::Json<UpdateFolderBody>,
) -> Result<web::Json<FolderDto>, ApiError> {
    let id = path.folder()?;
    state
        .organize
        .update_folder(&auth.0, id, body.into_inner().into())
        .await?;
    Ok(web::Json(state.organize.folder(&auth.0, id).await?.into()))
}

/// Delete a folder. Its threads stay: they leave the folder (and what they inherited from it).
#[utoipa::path(delete, path = "/v1/folders/{folder_id}", tag = "folders", operation_id = "delete_folder", params(FolderPath),
    responses((status = 200, description = "How many threads left the folder", body = ThreadsTouched),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_folder<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<FolderPath>,
) -> Result<web::Json<ThreadsTouched>, ApiError> {
    let threads = state
        .organize
        .delete_folder(&auth.0, path.folder()?)
        .await?;
    Ok(web::Json(ThreadsTouched { threads }))
}

/// Your tags by name, with how many live threads carry each.
#[utoipa::path(get, path = "/v1/tags", tag = "folders", operation_id = "list_tags",
    responses((status = 200, body = PageDto<TagDto>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tags<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
) -> Result<web::Json<PageDto<TagDto>>, ApiError> {
    Ok(web::Json(PageDto::complete(
        state.organize.tags(&auth.0).await?,
    )))
}

/// Rename a tag on every thread of yours that carries it (threads with both keep one).
#[utoipa::path(patch, path = "/v1/tags/{tag}", tag = "folders", operation_id = "rename_tag", params(TagPath),
    request_body = RenameTagBody,
    responses((status = 200, body = ThreadsTouched), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "None of your threads carries it (tag_not_found)", body = ErrorBody),
              (status = 422, description = "The new name is over 64 characters (limit_exceeded)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rename_tag<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<TagPath>,
    body: crate::extractors::Json<RenameTagBody>,
) -> Result<web::Json<ThreadsTouched>, ApiError> {
    let threads = state
        .organize
        .rename_tag(&auth.0, &path.tag, &body.into_inner().name)
        .await?;
    Ok(web::Json(ThreadsTouched { threads }))
}

/// Remove a tag from every thread of yours that carries it (the threads stay).
#[utoipa::path(delete, path = "/v1/tags/{tag}", tag = "folders", operation_id = "delete_tag", params(TagPath),
    responses((status = 200, body = ThreadsTouched), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "None of your threads carries it (tag_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_tag<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<TagPath>,
) -> Result<web::Json<ThreadsTouched>, ApiError> {
    let threads = state.organize.delete_tag(&auth.0, &path.tag).await?;
    Ok(web::Json(ThreadsTouched { threads }))
}
