//! Files: upload (multipart, streamed to storage), read metadata, download, list, delete.

use actix_multipart::Multipart;
use actix_web::http::header::{
    CONTENT_DISPOSITION, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, HttpResponse, web};
use chat_threads_application::AppError;
use chat_threads_application::files::StoredFile;
use chat_threads_domain::{DomainError, FileId};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileDto {
    pub id: uuid::Uuid,
    /// The file name given at upload (any folder part dropped).
    pub name: String,
    /// The media type, sniffed from the bytes (never the one the client declared).
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<StoredFile> for FileDto {
    fn from(f: StoredFile) -> Self {
        Self {
            id: f.id.as_uuid(),
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            sha256: f.sha256,
            created_at: f.created_at,
        }
    }
}

/// The upload form: exactly one part, named `file`, with a file name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // describes the multipart body for the OpenAPI document
pub struct UploadForm {
    /// The file's bytes; its `filename` becomes the file's name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A file's bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // describes the download body for the OpenAPI document
pub struct FileBytes(Vec<u8>);

/// Path parameter of a file.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FilePath {
    /// The file id.
    pub file_id: uuid::Uuid,
}

impl FilePath {
    fn id(&self) -> FileId {
        FileId::from_uuid(self.file_id)
    }
}

/// File list page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilesQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
}

fn bad_form(reason: impl std::fmt::Display) -> AppError {
    DomainError::invalid(
        "file",
        format!("the multipart body is not an upload: {reason}"),
    )
    .into()
}

/// Upload a file (`multipart/form-data`, one part named `file` with a `filename`). The bytes
/// stream to storage as they arrive. Its type is sniffed from the bytes and must be in
/// `files.allowed_types` (else 422 `file_type_not_allowed`); over `limits.file_bytes` is 413
/// `payload_too_large` with the limit in `details`; over your storage quota 422
/// `storage_quota_exceeded`. A refused upload leaves nothing behind.
#[utoipa::path(post, path = "/v1/files", tag = "files", operation_id = "upload_file",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = FileDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, description = "Over limits.file_bytes (payload_too_large)", body = ErrorBody),
              (status = 415, description = "Not multipart/form-data (unsupported_media_type)", body = ErrorBody),
              (status = 422, description = "A file type that is not allowed (file_type_not_allowed), or over your storage quota (storage_quota_exceeded)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    crate::extractors::require_content_type(&req, &["multipart/form-data"])?;
    let mut form = Multipart::new(req.headers(), payload);
    let mut stored = None;
    while let Some(field) = form.next().await {
        let field = field.map_err(bad_form)?;
        if field.name() != Some("file") || stored.is_some() {
            return Err(bad_form("send exactly one part, named `file`").into());
        }
        let name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned)
            .ok_or_else(|| bad_form("the `file` part has no filename"))?;
        let bytes = field.map(|chunk| chunk.map(|b| b.to_vec()).map_err(bad_form));
        stored = Some(state.files.upload(&auth.0, &name, bytes).await?);
    }
    let file = stored.ok_or_else(|| bad_form("no part named `file`"))?;
    Ok(HttpResponse::Created().json(FileDto::from(file)))
}

/// Your files, newest first.
#[utoipa::path(get, path = "/v1/files", tag = "files", operation_id = "list_files", params(ListFilesQuery),
    responses((status = 200, body = PageDto<FileDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<ListFilesQuery>,
) -> Result<web::Json<PageDto<FileDto>>, ApiError> {
    let q = query.into_inner();
    let page = state
        .files
        .list(&auth.0, q.cursor.as_deref(), q.limit)
        .await?;
    Ok(web::Json(page.into()))
}

/// A file's metadata.
#[utoipa::path(get, path = "/v1/files/{file_id}", tag = "files", operation_id = "get_file", params(FilePath),
    responses((status = 200, body = FileDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "No such file of yours (file_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<FilePath>,
) -> Result<web::Json<FileDto>, ApiError> {
    Ok(web::Json(state.files.get(&auth.0, path.id()).await?.into()))
}

/// Download a file: its bytes with its sniffed type, as an attachment (`Content-Disposition:
/// attachment`, `X-Content-Type-Options: nosniff`), streamed from storage.
#[utoipa::path(get, path = "/v1/files/{file_id}/content", tag = "files", operation_id = "download_file", params(FilePath),
    responses((status = 200, description = "The bytes, with the type sniffed at upload (one of files.allowed_types; the defaults are listed)",
                content((FileBytes = "application/octet-stream"), (FileBytes = "image/png"), (FileBytes = "image/jpeg"),
                        (FileBytes = "image/gif"), (FileBytes = "image/webp"), (FileBytes = "application/pdf"),
                        (FileBytes = "text/plain"), (FileBytes = "text/markdown"), (FileBytes = "text/csv"),
                        (FileBytes = "application/json"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "No such file of yours (file_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn content<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<FilePath>,
) -> Result<HttpResponse, ApiError> {
    let (file, bytes) = state.files.content(&auth.0, path.id()).await?;
    Ok(download(&file, bytes))
}

/// A file's bytes as a download: its sniffed type, `Content-Disposition: attachment` with its
/// name, `X-Content-Type-Options: nosniff`, streamed from storage (files and share links).
pub(crate) fn download(
    file: &StoredFile,
    bytes: impl futures_util::Stream<Item = Result<Vec<u8>, AppError>> + 'static,
) -> HttpResponse {
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(file.name.replace(|c: char| !c.is_ascii() || c == '"', "_")),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: actix_web::http::header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: file.name.clone().into_bytes(),
            }),
        ],
    };
    HttpResponse::Ok()
        .content_type(file.content_type.as_str())
        .insert_header((CONTENT_DISPOSITION, disposition))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .no_chunking(file.size)
        .streaming(
            bytes
                .map_ok(web::Bytes::from)
                .map_err(|e| actix_web::Error::from(ApiError::from(e))),
        )
}

/// Delete a file.
#[utoipa::path(delete, path = "/v1/files/{file_id}", tag = "files", operation_id = "delete_file", params(FilePath),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "No such file of yours (file_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<FilePath>,
) -> Result<HttpResponse, ApiError> {
    state.files.delete(&auth.0, path.id()).await?;
    Ok(HttpResponse::NoContent().finish())
}
