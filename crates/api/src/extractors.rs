//! Errors that actix raises on its own (bad JSON, wrong content type, a body too large, a path
//! id that is not a UUID, an unknown route) in the one error shape.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

fn request_error(
    status: StatusCode,
    code: crate::error::ErrorCode,
    message: String,
) -> actix_web::Error {
    ApiError::Request {
        status,
        code,
        message,
    }
    .into()
}

/// JSON bodies: size limit, content type and syntax errors.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| match &err {
            JsonPayloadError::OverflowKnownLength { length, limit } => request_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::error::ErrorCode::PayloadTooLarge,
                format!("the body is {length} bytes; the limit is {limit}"),
            ),
            JsonPayloadError::Overflow { limit } => request_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::error::ErrorCode::PayloadTooLarge,
                format!("the body exceeds the limit of {limit} bytes"),
            ),
            JsonPayloadError::ContentType => request_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                crate::error::ErrorCode::UnsupportedMediaType,
                "send the body as application/json".into(),
            ),
            JsonPayloadError::Deserialize(e) if e.is_data() => request_error(
                StatusCode::BAD_REQUEST,
                crate::error::ErrorCode::ValidationFailed,
                format!("invalid body: {e}"),
            ),
            other => request_error(
                StatusCode::BAD_REQUEST,
                crate::error::ErrorCode::MalformedJson,
                format!("malformed JSON body: {other}"),
            ),
        })
}

/// A body that must be a JSON object. serde reads a struct from a JSON array of its fields in
/// order too (`["token"]` for `{"refresh_token":"token"}`); the document says object, so
/// anything else is refused (`400 validation_failed`, "expected a map").
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Strict(value) = Strict::deserialize(d)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom("expected a map"));
        }
        T::deserialize(value)
            .map(Object)
            .map_err(serde::de::Error::custom)
    }
}

/// Any JSON, refusing an object that names a key twice (at any depth): JSON leaves duplicates
/// undefined and parsers disagree on which one wins, so a body is never read two ways.
#[derive(Debug)]
pub struct Strict(pub serde_json::Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(out.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(out.into())
    }
}

/// A JSON object body: [`web::Json`] (content type, size limit, error shapes) that refuses
/// arrays, see [`Object`].
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use futures_util::FutureExt;
        web::Json::<Object<T>>::from_request(req, payload)
            .map(|r| r.map(|json| Self(json.into_inner().0)))
            .boxed_local()
    }
}

/// A JSON body that may be left out entirely: no body at all gives the defaults; anything sent
/// is held to the same rules as [`web::Json`] (JSON content type, known fields, right types).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default + 'static> actix_web::FromRequest
    for OptionalJson<T>
{
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
        use futures_util::FutureExt;
        let headers = req.headers();
        let no_body = match headers.get(CONTENT_LENGTH) {
            Some(length) => length.as_bytes() == b"0",
            None => !headers.contains_key(TRANSFER_ENCODING),
        };
        if no_body {
            return futures_util::future::ready(Ok(Self(T::default()))).boxed_local();
        }
        Json::<T>::from_request(req, payload)
            .map(|r| r.map(|json| Self(json.into_inner())))
            .boxed_local()
    }
}

/// Refuses a body whose content type is not one of `accepted` (415 `unsupported_media_type`),
/// for handlers that read the raw payload.
pub fn require_content_type(req: &HttpRequest, accepted: &[&str]) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match given {
        Some(t) if accepted.contains(&t.as_str()) => Ok(()),
        _ => Err(ApiError::Request {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: crate::error::ErrorCode::UnsupportedMediaType,
            message: format!("send the body as {}", accepted.join(" or ")),
        }),
    }
}

/// Path parameters: ids that are not UUIDs.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        request_error(
            StatusCode::BAD_REQUEST,
            crate::error::ErrorCode::InvalidPath,
            format!("invalid path parameter: {err}"),
        )
    })
}

/// Query strings: unknown or badly typed parameters.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        request_error(
            StatusCode::BAD_REQUEST,
            crate::error::ErrorCode::InvalidQuery,
            format!("invalid query string: {err}"),
        )
    })
}

/// Whether a concrete path matches a route pattern like `/v1/threads/{thread_id}`.
fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.trim_end_matches('/').split('/');
    let mut q = path.trim_end_matches('/').split('/');
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') || a == b => {}
            _ => return false,
        }
    }
}

/// Anything no route matches: 405 with `Allow` when the path exists under other methods, else
/// 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed: Vec<String> = crate::ROUTE_TABLE
        .iter()
        .filter(|(_, pattern)| matches(pattern, req.path()))
        .map(|(method, _)| method.to_uppercase())
        .collect();
    if !allowed.is_empty() {
        let mut response = actix_web::ResponseError::error_response(&ApiError::Request {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: crate::error::ErrorCode::MethodNotAllowed,
            message: format!(
                "{} is not allowed on {}; use {}",
                req.method(),
                req.path(),
                allowed.join(", ")
            ),
        });
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
            response
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
        return Ok(response);
    }
    Err(ApiError::Request {
        status: StatusCode::NOT_FOUND,
        code: crate::error::ErrorCode::RouteNotFound,
        message: format!("no route for {} {}", req.method(), req.path()),
    })
}

/// `/docs` → `/docs/` (Swagger UI).
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// Reads `value` as `T` (a body or argument type that refuses unknown fields), naming the field
/// at fault: an unknown, missing or mistyped field is `400 validation_failed` with
/// `details.field` (`messages[1].role` for a nested one), so a client learns exactly what to fix.
pub fn typed<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    context: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        let quoted = |prefix: &str| {
            inner
                .strip_prefix(prefix)
                .and_then(|r| r.split('`').next())
                .map(str::to_owned)
        };
        // A missing field is reported at its parent (an unknown one at itself): name the
        // field itself.
        let field = match (quoted("missing field `"), path.as_str()) {
            (Some(name), ".") => name,
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => quoted("unknown field `").unwrap_or_else(|| "body".to_owned()),
            (None, path) => path.to_owned(),
        };
        let message = match inner.strip_prefix("unknown field `") {
            Some(_) => format!("{context}: unsupported parameter `{field}`"),
            None => format!("{context}: `{field}`: {inner}"),
        };
        ApiError::Argument { field, message }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_patterns_match_concrete_paths() {
        assert!(super::matches("/v1/threads/{thread_id}", "/v1/threads/abc"));
        assert!(super::matches("/v1/threads", "/v1/threads/"));
        assert!(!super::matches("/v1/threads/{thread_id}", "/v1/threads"));
        assert!(!super::matches(
            "/v1/threads/{thread_id}/messages",
            "/v1/threads/a/branches"
        ));
    }
}
