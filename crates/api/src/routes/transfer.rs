//! Export (NDJSON) and import (NDJSON, ChatGPT's conversations.json).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chat_threads_application::messages::MessageStore;
use chat_threads_application::summaries::SummaryStore;
use chat_threads_application::threads::ThreadStore;
use chat_threads_application::transfer::{Export, ImportOutcome};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::ThreadPath;
use crate::error::{ApiError, ErrorBody};
use crate::extractors::require_content_type;
use crate::state::{AppState, Deps};

const NDJSON: &str = "application/x-ndjson";

/// Export one thread: the thread, then every message (parents first, deleted ones included with
/// `deleted_at`), then its summaries, one JSON object per line.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/export", tag = "transfer", operation_id = "export_thread", params(ThreadPath),
    responses((status = 200, description = "NDJSON", content_type = "application/x-ndjson", body = String),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_thread<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<HttpResponse, ApiError> {
    let export = state.transfer.export_thread(&auth.0, path.thread()).await?;
    Ok(ndjson_stream(export))
}

/// Export all your live threads as NDJSON, streamed thread by thread.
#[utoipa::path(get, path = "/v1/export", tag = "transfer", operation_id = "export_threads",
    responses((status = 200, description = "NDJSON", content_type = "application/x-ndjson", body = String),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_all<D: Deps>(auth: Auth, state: web::Data<AppState<D>>) -> HttpResponse {
    ndjson_stream(state.transfer.export_all(&auth.0))
}

/// Streams an export: the next batch is read only when the client has taken the previous one
/// (the HTTP layer polls the body while its write buffer has room), so a client that stops
/// reading holds one batch.
fn ndjson_stream<S>(export: Export<S>) -> HttpResponse
where
    S: ThreadStore + MessageStore + SummaryStore,
{
    let stream = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(chunk)),
                Some(export),
            )),
            Ok(None) => None,
            Err(e) => {
                // Headers are gone by now: end the stream with an error line the client sees.
                tracing::error!(error = %e, "export failed mid-stream");
                let line =
                    serde_json::json!({"type": "error", "code": e.code()}).to_string() + "\n";
                Some((Ok(web::Bytes::from(line)), None))
            }
        }
    });
    HttpResponse::Ok().content_type(NDJSON).streaming(stream)
}

/// What an import did, per thread of the file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// One entry per thread: `{"result":"imported","source_id","id","messages"}` or
    /// `{"result":"skipped","source_id","reason"}` (an external_id you already use).
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<ImportOutcome>,
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Request {
            status: StatusCode::BAD_REQUEST,
            code: crate::error::ErrorCode::MalformedBody,
            message: format!("cannot read the body: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::Request {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: crate::error::ErrorCode::PayloadTooLarge,
                message: format!(
                    "the import exceeds the limit of {limit} bytes (limits.import_bytes)"
                ),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Import NDJSON in the export format. Every thread gets a new id and belongs to you; threads
/// whose external_id you already use are skipped. A file with any invalid line imports nothing.
#[utoipa::path(post, path = "/v1/import", tag = "transfer", operation_id = "import_threads",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = ImportResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn import_ndjson<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    payload: web::Payload,
) -> Result<web::Json<ImportResult>, ApiError> {
    require_content_type(&req, &[NDJSON, "application/jsonl", "text/plain"])?;
    let _turn = state.transfer.import_turn().map_err(ApiError::App)?;
    let body = read_body(payload, state.limits.import_bytes).await?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::Request {
        status: StatusCode::BAD_REQUEST,
        code: crate::error::ErrorCode::MalformedBody,
        message: "the import is not UTF-8 text".into(),
    })?;
    Ok(web::Json(ImportResult {
        results: state.transfer.import_ndjson(&auth.0, text).await?,
    }))
}

/// Import ChatGPT's `conversations.json` (from its data export). Each conversation becomes a
/// thread with its whole message tree; the branch ChatGPT showed last is the active one.
/// Conversations imported before are skipped.
#[utoipa::path(post, path = "/v1/import/chatgpt", tag = "transfer", operation_id = "import_chatgpt",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = ImportResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn import_chatgpt<D: Deps>(
    auth: Auth,
    req: HttpRequest,
    state: web::Data<AppState<D>>,
    payload: web::Payload,
) -> Result<web::Json<ImportResult>, ApiError> {
    require_content_type(&req, &["application/json"])?;
    let _turn = state.transfer.import_turn().map_err(ApiError::App)?;
    let body = read_body(payload, state.limits.import_bytes).await?;
    Ok(web::Json(ImportResult {
        results: state.transfer.import_chatgpt(&auth.0, &body).await?,
    }))
}
