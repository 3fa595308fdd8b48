//! Browsers on other origins: CORS for REST and SSE (actix-cors), and the same list applied to
//! the `Origin` of WebSocket upgrades (browsers do not preflight those, so a foreign page could
//! otherwise open a socket in its visitor's name).

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;

use crate::error::{ApiError, ErrorCode};

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    any: bool,
    origins: Vec<String>,
    max_age_secs: usize,
}

/// Request headers a cross-origin page may send.
const ALLOWED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "accept",
    "idempotency-key",
    "last-event-id",
    "x-request-id",
];

/// Response headers a cross-origin page may read.
const EXPOSED_HEADERS: [&str; 7] = [
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "idempotent-replayed",
    "allow",
];

impl OriginPolicy {
    /// From the configured list (`"*"` allows any origin; empty allows none).
    pub fn new(origins: &[String], max_age_secs: usize) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins
                .iter()
                .filter(|o| *o != "*")
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            max_age_secs,
        }
    }

    /// Whether a page on `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Whether a WebSocket upgrade may proceed: no `Origin` (not a browser), the server's own
    /// origin (same host and port as the `Host` header), or an allowed one.
    pub fn allows_upgrade(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let same_site = host.is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        });
        same_site || self.allows(origin)
    }

    /// The CORS middleware. Preflights are answered by it, before rate limits and auth; a
    /// disallowed origin gets no `Access-Control-*` headers (the browser then refuses), and
    /// requests without `Origin` pass untouched.
    pub fn middleware(&self) -> Cors {
        let mut cors = Cors::default()
            .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
            .allowed_headers(ALLOWED_HEADERS.map(header::HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(header::HeaderName::from_static))
            .max_age(self.max_age_secs)
            .block_on_origin_mismatch(false);
        if self.any {
            cors = cors.allow_any_origin();
        } else {
            for origin in &self.origins {
                cors = cors.allowed_origin(origin);
            }
        }
        cors
    }
}

/// Middleware around [`OriginPolicy::middleware`]: a refused preflight answers 403
/// `origin_not_allowed` in the error shape (instead of actix-cors's plain-text 400), and a
/// response to an origin that is not allowed carries no `Access-Control-*` header at all.
pub async fn refusals(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // Only preflights keep a copy of the request: CORS answers them without routing (a clone
    // held across routing would break it).
    let http = preflight.then(|| req.request().clone());
    let result = next.call(req).await;
    let allowed = |res: &ServiceResponse<BoxBody>| {
        res.headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    };
    let mut res = match (result, http) {
        (Ok(res), _) => res.map_into_boxed_body(),
        (Err(_), Some(http)) => return Ok(refused(http)),
        (Err(e), None) => return Err(e),
    };
    if !allowed(&res) {
        if preflight {
            let (http, _) = res.into_parts();
            return Ok(refused(http));
        }
        let cors: Vec<_> = res
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            res.headers_mut().remove(name);
        }
    }
    Ok(res)
}

fn refused(req: actix_web::HttpRequest) -> ServiceResponse<BoxBody> {
    let error = ApiError::Request {
        status: StatusCode::FORBIDDEN,
        code: ErrorCode::OriginNotAllowed,
        message: "cross-origin request refused: the origin, method or headers are not allowed \
                  (server.cors.allowed_origins)"
            .into(),
    };
    ServiceResponse::new(req, actix_web::ResponseError::error_response(&error))
}

#[cfg(test)]
mod tests {
    use super::OriginPolicy;

    #[test]
    fn websocket_origins_are_checked_against_the_list_and_the_host() {
        let none = OriginPolicy::new(&[], 600);
        assert!(none.allows_upgrade(None, Some("api:8080")));
        assert!(none.allows_upgrade(Some("http://api:8080"), Some("api:8080")));
        assert!(!none.allows_upgrade(Some("https://evil.example"), Some("api:8080")));
        let some = OriginPolicy::new(&["https://app.example".into()], 600);
        assert!(some.allows_upgrade(Some("https://app.example"), Some("api:8080")));
        assert!(!some.allows_upgrade(Some("https://app.example.evil"), Some("api:8080")));
        let any = OriginPolicy::new(&["*".into()], 600);
        assert!(any.allows_upgrade(Some("https://whatever"), None));
    }
}
