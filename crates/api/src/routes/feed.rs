//! The change feed: `GET /v1/events?after=` answers NDJSON pages, or with
//! `Accept: text/event-stream` catches up and then follows the log live.

use std::time::Duration;

use actix_web::http::header::ACCEPT;
use actix_web::{HttpRequest, HttpResponse, web};
use chat_threads_application::feed::{FeedEntry, FeedFilter, logged_kind};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// An entry of the change feed (one NDJSON line).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct FeedEntryDto {
    /// Its place in the log: increasing, never reused; read on with `after=` this value.
    pub cursor: i64,
    /// The event's name (`message.created` …).
    #[serde(rename = "type")]
    pub kind: String,
    pub thread_id: uuid::Uuid,
    /// When it happened.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The event's `data`, as the thread's SSE and WebSocket subscribers got it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The SSE frame of an entry: its cursor as the `id` (so `Last-Event-ID` resumes).
fn frame(e: &FeedEntry) -> String {
    format!("id: {}\nevent: {}\ndata: {}\n\n", e.cursor, e.kind, e.data)
}

/// What to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// Entries after this cursor (default 0: from the oldest kept); `now`: only what comes
    /// next. On a stream, `Last-Event-ID` takes its place.
    pub after: Option<String>,
    /// Only these events, comma-separated (`message.created,message.completed`).
    pub types: Option<String>,
    /// Only this thread's events.
    pub thread_id: Option<uuid::Uuid>,
    /// Only events of threads of this product.
    pub product: Option<String>,
    /// Entries per page, 1-1000 (default 100; a stream reads in pages of 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl FeedParams {
    fn filter(&self) -> Result<FeedFilter, ApiError> {
        let mut types = Vec::new();
        for t in self.types.iter().flat_map(|t| t.split(',')) {
            let Some(kind) = logged_kind(t) else {
                return Err(ApiError::Argument {
                    field: "types".into(),
                    message: format!("{t:?} is not an event of the change feed"),
                });
            };
            types.push(kind.as_str().to_owned());
        }
        let product = self
            .product
            .clone()
            .as_deref()
            .map(chat_threads_domain::ProductName::parse)
            .transpose()
            .map_err(|e| ApiError::Argument {
                field: "product".into(),
                message: e.to_string(),
            })?;
        Ok(FeedFilter {
            types,
            thread_id: self.thread_id.map(chat_threads_domain::ThreadId::from_uuid),
            product: product.map(|p| p.as_str().to_owned()),
        })
    }
}

/// Where a read starts: `after`, `Last-Event-ID` on a stream, `now`, or the beginning.
async fn start<D: Deps>(
    state: &AppState<D>,
    req: &HttpRequest,
    after: Option<&str>,
) -> Result<i64, ApiError> {
    let raw = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(after);
    match raw {
        None => Ok(0),
        Some("now") => Ok(state.feed.head().await?),
        Some(n) => Some(n)
            .filter(|n| !n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| ApiError::Argument {
                field: "after".into(),
                message: "a cursor (a whole number from an entry) or `now`".into(),
            }),
    }
}

/// The change feed: every event of the threads you may see except deltas and typing, oldest
/// first, after a cursor — your own threads', or your organization's for org admins and
/// service principals. Answers a page as NDJSON (`Feed-Cursor` names where to read on,
/// `Feed-Has-More` whether more is there now); with `Accept: text/event-stream` catches up and
/// then follows live (each event's `id` is its cursor). A cursor before what retention removed
/// is 410 `cursor_expired`.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "read_events", params(FeedParams),
    responses((status = 200, description = "NDJSON, one entry per line (or an SSE stream)", content_type = "application/x-ndjson", body = FeedEntryDto,
                headers(("Feed-Cursor" = i64, description = "The last entry's cursor (or the one read from): read on after it"),
                        ("Feed-Has-More" = bool, description = "Whether more entries are there now"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 410, description = "cursor_expired: entries after the cursor are past retention", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn read<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    req: HttpRequest,
    query: web::Query<FeedParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let filter = q.filter()?;
    let stream = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let after = start(&state, &req, q.after.as_deref()).await?;
    if !stream {
        let page = state.feed.read(&auth.0, &filter, after, q.limit).await?;
        let body: String = page
            .entries
            .iter()
            .map(|e| chat_threads_application::feed::line(e) + "\n")
            .collect();
        return Ok(HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .insert_header(("feed-cursor", page.cursor.to_string()))
            .insert_header(("feed-has-more", page.has_more.to_string()))
            .body(body));
    }
    // The first page now, so an expired cursor is a status, not a broken stream.
    let first = state.feed.read(&auth.0, &filter, after, Some(1000)).await?;
    Ok(tail(state.into_inner(), auth.0, filter, first))
}

/// Follows the log: each page as it is read, then waits for it to grow (woken by commits
/// here and, on PostgreSQL, on other instances; read again every 2 s anyway), with a
/// keep-alive comment when idle.
fn tail<D: Deps>(
    state: std::sync::Arc<AppState<D>>,
    who: chat_threads_domain::Principal,
    filter: FeedFilter,
    first: chat_threads_application::feed::FeedPage,
) -> HttpResponse {
    struct Tail<D: Deps> {
        state: std::sync::Arc<AppState<D>>,
        who: chat_threads_domain::Principal,
        filter: FeedFilter,
        cursor: i64,
        pending: Option<chat_threads_application::feed::FeedPage>,
        grown: Option<tokio::sync::watch::Receiver<u64>>,
        idle_since: tokio::time::Instant,
        _guard: crate::observe::LiveGuard,
    }
    let grown = state.feed.watch();
    let t = Tail {
        cursor: first.cursor,
        pending: Some(first),
        grown,
        idle_since: tokio::time::Instant::now(),
        _guard: state.live.sse(),
        state,
        who,
        filter,
    };
    let body = futures_util::stream::unfold(Some(t), |t| async move {
        let mut t = t?;
        loop {
            if let Some(page) = t.pending.take()
                && !page.entries.is_empty()
            {
                t.cursor = page.cursor;
                t.idle_since = tokio::time::Instant::now();
                let chunk: String = page.entries.iter().map(frame).collect();
                return Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), Some(t)));
            }
            let keepalive = t.state.sse_keepalive.max(Duration::from_secs(1));
            if t.idle_since.elapsed() >= keepalive {
                t.idle_since = tokio::time::Instant::now();
                return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), Some(t)));
            }
            let wait = Duration::from_secs(2).min(keepalive);
            match &mut t.grown {
                Some(rx) => {
                    let _ = tokio::time::timeout(wait, rx.changed()).await;
                }
                None => tokio::time::sleep(wait).await,
            }
            match t
                .state
                .feed
                .read_on(&t.who, &t.filter, t.cursor, Some(1000))
                .await
            {
                Ok(page) => t.pending = Some(page),
                Err(e) => {
                    let frame = format!(
                        "event: error\ndata: {}\n\n",
                        serde_json::json!({"type": "error", "code": e.code(), "message": e.to_string()})
                    );
                    return Some((Ok(web::Bytes::from(frame)), None));
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}
