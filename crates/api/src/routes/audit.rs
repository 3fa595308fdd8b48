//! The audit log, for org admins and service principals: paged newest first, or exported whole
//! as NDJSON.

use actix_web::{HttpResponse, web};
use chat_threads_application::audit::{AuditAction, AuditEntry, AuditQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// An entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    /// Its place in the log: increasing, never reused.
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who: a principal (`user:alice`), `system` (the sweeper), `anonymous` (a failed sign-in).
    pub actor: String,
    /// `share.created`, `share.refreshed`, `share.revoked`, `member.added`, `member.removed`,
    /// `message.deleted`, `message.restored`, `thread.deleted`, `thread.restored`,
    /// `thread.purged`, `thread.read_by_admin`, `auth.sign_in_failed`, `retention.swept`,
    /// `legal_hold.placed`, `legal_hold.lifted`, `erasure.started`, `erasure.done`,
    /// `webhook.created`, `webhook.updated`, `webhook.deleted`.
    pub action: String,
    /// On what: `thread:<id>`, `message:<id>`, `share:<id>`, `member:<principal>`, `account`,
    /// `deleted` (the sweeper's run).
    pub target: String,
    /// The thread concerned, if one.
    pub thread_id: Option<uuid::Uuid>,
    /// The request that did it (`x-request-id`; over the WebSocket `<connection>:<request id>`).
    pub request_id: Option<String>,
    /// Anything else: a role, a delete's scope and count, a share's audience, counts.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The organization whose log holds it (`null`: the system's own entries).
    pub org_id: Option<String>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action.as_str().to_owned(),
            target: e.target,
            thread_id: e.thread_id.map(|t| t.as_uuid()),
            request_id: e.request_id,
            details: e.details,
            org_id: e.org_id.map(|o| o.into_inner()),
        }
    }
}

/// Audit log filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQueryParams {
    /// Page size, 1-100.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
    /// Only this action (see the entry's `action`).
    pub action: Option<String>,
    /// Only this actor (`user:alice`).
    pub actor: Option<String>,
    /// Only entries about this thread.
    pub thread_id: Option<uuid::Uuid>,
}

impl AuditQueryParams {
    fn query(&self) -> Result<AuditQuery, ApiError> {
        let action = match self.action.as_deref() {
            None => None,
            Some(a) => Some(AuditAction::parse(a).ok_or_else(|| ApiError::Argument {
                field: "action".into(),
                message: "not an audit action".into(),
            })?),
        };
        Ok(AuditQuery {
            action,
            actor: self.actor.clone().filter(|a| !a.trim().is_empty()),
            thread_id: self.thread_id.map(chat_threads_domain::ThreadId::from_uuid),
        })
    }
}

/// Your organization's audit log, newest first (org admins and service principals; others
/// get 403). Entries are never changed or deleted through the API.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", operation_id = "list_audit", params(AuditQueryParams),
    responses((status = 200, body = PageDto<AuditEntryDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an org admin or service principal of an organization (forbidden)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<AuditQueryParams>,
) -> Result<web::Json<PageDto<AuditEntryDto>>, ApiError> {
    let q = query.into_inner();
    let page = state
        .audit
        .list(&auth.0, q.query()?, q.cursor, q.limit)
        .await?;
    Ok(web::Json(page.into()))
}

/// Filters of an export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditExportParams {
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only entries about this thread.
    pub thread_id: Option<uuid::Uuid>,
}

/// Your organization's whole audit log as NDJSON (one entry per line, newest first), read
/// page by page as the client takes it.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", operation_id = "export_audit", params(AuditExportParams),
    responses((status = 200, description = "NDJSON", content_type = "application/x-ndjson", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an org admin or service principal of an organization (forbidden)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    query: web::Query<AuditExportParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let filters = AuditQueryParams {
        limit: None,
        cursor: None,
        action: q.action,
        actor: q.actor,
        thread_id: q.thread_id,
    }
    .query()?;
    // The first page now, so a caller who may not read the log gets its 403 as a status.
    let who = auth.0;
    let first = state
        .audit
        .list(&who, filters.clone(), None, Some(100))
        .await?;
    let audit = state.audit.clone();
    let stream = futures_util::stream::unfold(Some(first), move |page| {
        let (audit, who, filters) = (audit.clone(), who.clone(), filters.clone());
        async move {
            let page = page?;
            let mut chunk = String::new();
            for e in page.data {
                chunk.push_str(&serde_json::to_string(&AuditEntryDto::from(e)).unwrap_or_default());
                chunk.push('\n');
            }
            let next = match page.next_cursor {
                Some(c) => match audit.list(&who, filters, Some(c), Some(100)).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::error!(error = %e, "audit export failed mid-stream");
                        chunk.push_str(
                            &(serde_json::json!({"type": "error", "code": e.code()}).to_string()
                                + "\n"),
                        );
                        None
                    }
                },
                None => None,
            };
            Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), next))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream))
}
