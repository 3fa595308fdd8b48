//! Middleware: `Idempotency-Key` on creating requests (every POST under /v1). A replay with the
//! same key and the same request returns the first response (with `idempotent-replayed: true`);
//! the same key with another request is `422 idempotency_key_reused`; while the first request
//! is still running, `409 idempotency_key_in_progress`. Keys are kept per principal and expire.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use chat_threads_application::accounts::sha256_hex;
use chat_threads_application::idempotency::{Begin, IdempotencyStore, StoredResponse};
use futures_util::StreamExt;

use crate::auth::Verifier;
use crate::error::ApiError;
use crate::state::{AppState, Deps};

/// Room for the multipart framing (boundaries, part headers) around an uploaded file.
const UPLOAD_FRAMING: usize = 64 * 1024;

/// How long keys are kept.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyTtl {
    /// How long a response is kept for replays.
    pub ttl_secs: i64,
    /// How long a key may stay in progress before it counts as abandoned (its request died).
    pub lease_secs: i64,
}

fn fail(
    req: ServiceRequest,
    status: StatusCode,
    code: crate::error::ErrorCode,
    message: &str,
) -> ServiceResponse<BoxBody> {
    let response = ApiError::Request {
        status,
        code,
        message: message.to_owned(),
    }
    .error_response();
    req.into_response(response)
}

/// The middleware; register with `middleware::from_fn(idempotency::<D>)`.
pub async fn idempotency<D: Deps>(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned));
    let applies = req.method() == Method::POST && req.path().starts_with("/v1/");
    let (Some(key), true) = (key, applies) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Ok(key) = key.map(|k| k.trim().to_owned()) else {
        return Ok(fail(
            req,
            StatusCode::BAD_REQUEST,
            crate::error::ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be ASCII",
        ));
    };
    if !(1..=255).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(fail(
            req,
            StatusCode::BAD_REQUEST,
            crate::error::ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1-255 printable ASCII characters",
        ));
    }
    let (Some(state), Some(verifier)) = (
        req.app_data::<web::Data<AppState<D>>>().cloned(),
        req.app_data::<web::Data<Verifier>>().cloned(),
    ) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Keys belong to a principal; without a valid token the handler answers 401 itself.
    let token = crate::auth::bearer_token(req.headers()).ok().flatten();
    let Some(principal) = token.and_then(|t| verifier.0.verify(t).ok()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let owner = principal.owner();
    let (ttl, lease) = req
        .app_data::<web::Data<IdempotencyTtl>>()
        .map_or((86_400, 120), |t| (t.ttl_secs, t.lease_secs));

    // Read the body to fingerprint the request, then hand it back to the handler. The key
    // never raises a limit: the operation's own limit (imports, or every JSON body) applies,
    // checked against Content-Length first and then while reading, never after buffering.
    let limit = match req.path() {
        "/v1/import" | "/v1/import/chatgpt" => state.limits.import_bytes,
        // An upload's own limit, plus room for the multipart framing around the file.
        "/v1/files" => state.limits.file_bytes + UPLOAD_FRAMING,
        _ => state.limits.body_bytes,
    };
    let too_large = |req| {
        Ok(fail(
            req,
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::error::ErrorCode::PayloadTooLarge,
            &format!("the body exceeds the limit of {limit} bytes"),
        ))
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(req);
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return too_large(req);
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let fingerprint = {
        let mut material =
            format!("{} {}?{}\n", req.method(), req.path(), req.query_string()).into_bytes();
        material.extend_from_slice(&body);
        sha256_hex(&material)
    };
    req.set_payload(actix_web::dev::Payload::from(body));

    let now = chrono::Utc::now();
    let store = &state.store;
    match store
        .begin(
            &owner,
            &key,
            &fingerprint,
            now,
            now + chrono::TimeDelta::seconds(ttl),
            now - chrono::TimeDelta::seconds(lease),
        )
        .await
    {
        Err(e) => return Ok(req.into_response(ApiError::App(e).error_response())),
        Ok(Begin::Mismatch) => {
            return Ok(fail(
                req,
                StatusCode::UNPROCESSABLE_ENTITY,
                crate::error::ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for a different request",
            ));
        }
        Ok(Begin::InProgress) => {
            return Ok(fail(
                req,
                StatusCode::CONFLICT,
                crate::error::ErrorCode::IdempotencyKeyInProgress,
                "a request with this Idempotency-Key is still running; retry shortly",
            ));
        }
        Ok(Begin::Replay(stored)) => {
            let mut response =
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            if let Some(ct) = stored.content_type {
                response.insert_header((CONTENT_TYPE, ct));
            }
            response.insert_header(("idempotent-replayed", "true"));
            return Ok(req.into_response(response.body(stored.body)));
        }
        Ok(Begin::Fresh) => {}
    }

    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            let _ = store.abandon(&owner, &key).await;
            return Err(e);
        }
    };
    let streaming = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if streaming {
        // A stream is not buffered for replay (that would hold it back until it ends); the key
        // is released, and a retry resumes the reply with its stream endpoint instead.
        let _ = store.abandon(&owner, &key).await;
        return Ok(res.map_into_boxed_body());
    }
    let status = res.status();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (http_req, response) = res.into_parts();
    let (head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let kept = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if !status.is_server_error() => {
            let stored = StoredResponse {
                status: status.as_u16(),
                content_type,
                body: text,
            };
            store.complete(&owner, &key, stored).await.is_ok()
        }
        _ => false,
    };
    if !kept {
        let _ = store.abandon(&owner, &key).await;
    }
    let mut rebuilt = head.set_body(BoxBody::new(bytes));
    if let Ok(v) = HeaderValue::from_str(&key) {
        rebuilt.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotency-key"),
            v,
        );
    }
    Ok(ServiceResponse::new(http_req, rebuilt))
}
