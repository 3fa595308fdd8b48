//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use chat_threads_application::Readiness;
use serde_json::json;

use crate::error::ApiError;

/// Liveness: the process answers HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers a query. 503 with the error shape when it does not.
pub async fn readyz<R: Readiness>(readiness: web::Data<R>) -> Result<HttpResponse, ApiError> {
    readiness.check().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "checks": {"database": "ok"}})))
}
