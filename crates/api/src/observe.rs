//! Request ids, structured request logs and Prometheus metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use tracing::Instrument;

/// The request id, available to handlers through the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Upper bounds of the latency histogram buckets, seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Reads a gauge's current value.
pub type GaugeFn = Box<dyn Fn() -> f64 + Send + Sync>;

struct Gauge {
    name: &'static str,
    help: &'static str,
    read: GaugeFn,
    /// `gauge`, or `counter` for a count that only grows.
    kind: &'static str,
}

/// The process's metrics, one registry shared by every HTTP worker: request counts and latency
/// histograms per (method, route, status), and gauges read at scrape time.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    gauges: Mutex<Vec<Gauge>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Connections that stay open: WebSocket sessions and SSE followers, counted by guards.
#[derive(Debug, Default)]
pub struct Live {
    websockets: AtomicI64,
    sse: AtomicI64,
}

/// Counts one open connection while it lives.
#[derive(Debug)]
pub struct LiveGuard {
    live: Arc<Live>,
    websocket: bool,
}

impl Live {
    fn counter(&self, websocket: bool) -> &AtomicI64 {
        if websocket {
            &self.websockets
        } else {
            &self.sse
        }
    }

    /// Counts a WebSocket connection until the guard is dropped.
    pub fn websocket(self: &Arc<Self>) -> LiveGuard {
        self.enter(true)
    }

    /// Counts an SSE follower until the guard is dropped.
    pub fn sse(self: &Arc<Self>) -> LiveGuard {
        self.enter(false)
    }

    fn enter(self: &Arc<Self>, websocket: bool) -> LiveGuard {
        self.counter(websocket).fetch_add(1, Ordering::Relaxed);
        LiveGuard {
            live: self.clone(),
            websocket,
        }
    }

    /// Open WebSocket connections.
    pub fn websockets(&self) -> i64 {
        self.websockets.load(Ordering::Relaxed)
    }

    /// Open SSE streams.
    pub fn sse_followers(&self) -> i64 {
        self.sse.load(Ordering::Relaxed)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.live
            .counter(self.websocket)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Adds a gauge, read at every scrape. Register each once per process.
    pub fn gauge(&self, name: &'static str, help: &'static str, read: GaugeFn) {
        self.read_at_scrape(name, help, read, "gauge");
    }

    /// Adds a counter kept elsewhere (a count that only grows), read at every scrape. Register
    /// each once per process.
    pub fn counter(&self, name: &'static str, help: &'static str, read: GaugeFn) {
        self.read_at_scrape(name, help, read, "counter");
    }

    fn read_at_scrape(
        &self,
        name: &'static str,
        help: &'static str,
        read: GaugeFn,
        kind: &'static str,
    ) {
        if let Ok(mut gauges) = self.gauges.lock() {
            gauges.push(Gauge {
                name,
                help,
                read,
                kind,
            });
        }
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        let s = series
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let series = self.series.lock().map(|s| s.clone()).unwrap_or_default();
        let mut out = String::new();
        out.push_str("# HELP http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((method, route, status), s) in &series {
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        if let Ok(gauges) = self.gauges.lock() {
            for g in gauges.iter() {
                let _ = writeln!(out, "# HELP {} {}", g.name, g.help);
                let _ = writeln!(out, "# TYPE {} {}", g.name, g.kind);
                let _ = writeln!(out, "{} {}", g.name, (g.read)());
            }
        }
        out.push_str(
            "# HELP http_request_duration_seconds HTTP request latency by method and route.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(String, String), Series> = BTreeMap::new();
        for ((method, route, _), s) in &series {
            let agg = by_route.entry((method.clone(), route.clone())).or_default();
            agg.count += s.count;
            agg.sum += s.sum;
            for (a, b) in agg.buckets.iter_mut().zip(s.buckets.iter()) {
                *a += b;
            }
        }
        for ((method, route), s) in &by_route {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

fn valid_request_id(raw: &str) -> bool {
    (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic())
}

/// Middleware: echoes or generates `x-request-id`, logs each request with it (errors logged while
/// handling carry it too, through the span), and records metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // The route is known once the router has matched (below); the span gets it then.
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        request_id = %id,
        %method,
        %path,
        route = tracing::field::Empty,
        principal_kind = tracing::field::Empty,
    );
    let traced = tracing_enabled();
    if traced {
        trace::continue_caller(&span, req.headers());
    }
    let started = Instant::now();
    // The audit log's entries written while handling name the request.
    let result = chat_threads_application::audit::REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut res = match result {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => return Err(e),
    };
    // The pattern the router matched, read from the match it recorded on the request (no
    // second walk of the route table); unmatched requests (404s) share one label.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    span.record("route", route.as_str());
    let status = res.status().as_u16();
    if traced {
        trace::finish(&span, &method, &route, status);
    }
    if let Some(m) = metrics {
        m.record(&method, &route, status, elapsed);
    }
    span.in_scope(|| {
        if route != "/healthz" {
            tracing::info!(
                status,
                elapsed_ms = (elapsed * 1000.0).round() as u64,
                "request"
            );
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes requests OpenTelemetry spans: called once at start-up when traces are exported.
pub fn enable_tracing() {
    TRACING.store(true, Ordering::Relaxed);
}

fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// The request's OpenTelemetry span: a child of the caller's trace, named after the route.
mod trace {
    use actix_web::http::header::HeaderMap;
    use opentelemetry::propagation::Extractor;
    use opentelemetry::trace::{Status, TraceContextExt};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    struct Headers<'a>(&'a HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    /// A W3C `traceparent` (and `tracestate`) from the caller makes the request's span its
    /// child; without one the request starts a trace.
    pub(super) fn continue_caller(span: &tracing::Span, headers: &HeaderMap) {
        if headers.contains_key("traceparent") {
            let parent =
                opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
            let _ = span.set_parent(parent);
        }
    }

    /// Names the span `METHOD /route/{pattern}` and gives it the HTTP attributes; a 5xx is an
    /// error.
    pub(super) fn finish(span: &tracing::Span, method: &str, route: &str, status: u16) {
        let cx = span.context();
        let otel = cx.span();
        otel.update_name(format!("{method} {route}"));
        otel.set_attribute(opentelemetry::KeyValue::new("http.route", route.to_owned()));
        otel.set_attribute(opentelemetry::KeyValue::new(
            "http.request.method",
            method.to_owned(),
        ));
        otel.set_attribute(opentelemetry::KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            otel.set_status(Status::error(format!("HTTP {status}")));
        }
    }
}

/// Names the kind of principal a request acts as on its span (`user`, `service`, `anon`).
pub fn record_principal_kind(kind: &str) {
    tracing::Span::current().record("principal_kind", kind);
}

/// `GET /metrics`.
pub async fn metrics(m: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.record("GET", "/v1/threads", 200, 0.003);
        m.record("GET", "/v1/threads", 200, 0.2);
        m.record("GET", "/v1/threads", 404, 0.02);
        let text = m.render();
        assert!(text.contains(
            "http_requests_total{method=\"GET\",route=\"/v1/threads\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "http_requests_total{method=\"GET\",route=\"/v1/threads\",status=\"404\"} 1"
        ));
        assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/threads\",le=\"0.005\"} 1"));
        assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/threads\",le=\"0.25\"} 3"));
        assert!(text.contains(
            "http_request_duration_seconds_count{method=\"GET\",route=\"/v1/threads\"} 3"
        ));
    }

    #[test]
    fn gauges_and_live_connections_are_read_at_scrape_time() {
        let m = Metrics::default();
        let live = Arc::new(Live::default());
        let read = live.clone();
        m.gauge(
            "websocket_connections",
            "Open WebSocket connections.",
            Box::new(move || read.websockets() as f64),
        );
        let a = live.websocket();
        let b = live.websocket();
        let sse = live.sse();
        assert!(m.render().contains("\nwebsocket_connections 2\n"));
        drop(a);
        drop(sse);
        assert!(m.render().contains("\nwebsocket_connections 1\n"));
        assert_eq!(live.sse_followers(), 0);
        drop(b);
    }

    #[test]
    fn request_ids_are_bounded_printable_ascii() {
        assert!(valid_request_id("abc-123"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id(&"x".repeat(129)));
    }
}
