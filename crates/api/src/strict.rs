//! Strict query strings: every operation refuses query parameters it does not document, so a
//! misspelt or unsupported parameter (`?include=messages`, `?limt=5`) is a 400, never silently
//! ignored. The parameters each operation takes are read from the OpenAPI document, so the
//! contract and the check cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;

use crate::error::{ApiError, ErrorCode};

/// (METHOD, path template) -> the query parameters the operation documents.
type Table = BTreeMap<(String, String), BTreeSet<String>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_slice(crate::openapi::served()).unwrap_or_default();
        let mut table = Table::new();
        let Some(paths) = doc["paths"].as_object() else {
            return table;
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                let names = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect();
                table.insert((method.to_ascii_uppercase(), path.clone()), names);
            }
        }
        table
    })
}

/// The query parameter names of a request that `allowed` does not list, in order of appearance.
fn unknown(query: &str, allowed: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for (name, _) in url_pairs(query) {
        if !allowed.contains(&name) && !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_else(|_| {
        // Undecodable: report the raw names, so the caller still learns what was refused.
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| (p.split('=').next().unwrap_or(p).to_owned(), String::new()))
            .collect()
    })
}

/// Middleware: 400 `invalid_query` for a query parameter the operation does not document.
/// Routes outside the API document (health, metrics, docs) are left alone.
pub async fn known_query_parameters(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let allowed = match req.match_pattern() {
        Some(pattern) if !req.query_string().is_empty() => {
            table().get(&(req.method().as_str().to_owned(), pattern))
        }
        _ => None,
    };
    if let Some(allowed) = allowed {
        let unknown = unknown(req.query_string(), allowed);
        if !unknown.is_empty() {
            let takes = if allowed.is_empty() {
                "this operation takes no query parameters".to_owned()
            } else {
                let names: Vec<&str> = allowed.iter().map(String::as_str).collect();
                format!("this operation takes: {}", names.join(", "))
            };
            return Err(ApiError::Request {
                status: StatusCode::BAD_REQUEST,
                code: ErrorCode::InvalidQuery,
                message: format!(
                    "unknown query parameter{} {}; {takes}",
                    if unknown.len() > 1 { "s" } else { "" },
                    unknown.join(", ")
                ),
            }
            .into());
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_comes_from_the_document() {
        let t = table();
        let list = &t[&("GET".to_owned(), "/v1/threads".to_owned())];
        assert!(list.contains("cursor") && list.contains("limit"));
        let one = &t[&("GET".to_owned(), "/v1/threads/{thread_id}".to_owned())];
        assert_eq!(one.iter().collect::<Vec<_>>(), ["include"]);
        assert!(
            t[&(
                "POST".to_owned(),
                "/v1/threads/{thread_id}/purge".to_owned()
            )]
                .is_empty()
        );
        let stream = "/v1/threads/{thread_id}/messages/{message_id}/stream".to_owned();
        assert!(t[&("GET".to_owned(), stream)].contains("access_token"));
    }

    #[test]
    fn unknown_names_are_reported_once() {
        let allowed: BTreeSet<String> = ["limit".to_owned()].into();
        assert_eq!(
            unknown("limit=2&include=messages&include=x&b", &allowed),
            vec!["include".to_owned(), "b".to_owned()]
        );
        assert!(unknown("limit=5", &allowed).is_empty());
    }
}
