//! The OpenAPI document.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// Declares the bearer scheme that protected operations reference.
#[derive(Debug)]
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// What a status means on every operation; used where an operation says nothing more specific.
fn standard_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "No content",
        "400" => {
            "The request is invalid: validation_failed (details.field names the field), \
                  malformed_json, invalid_query (an unknown or badly typed query parameter), \
                  invalid_path, invalid_cursor"
        }
        "401" => {
            "No usable bearer token: token_missing, token_expired, token_signature_invalid \
                  and the other token_* codes"
        }
        "403" => "The feature is switched off on this server (forbidden)",
        "404" => "Not found for this caller: thread_not_found, message_not_found",
        "409" => {
            "Conflicts with the current state: generation_in_progress, conflict, \
                  idempotency_key_in_progress"
        }
        "413" => "The body exceeds a size limit (payload_too_large)",
        "415" => "The body is not of the documented media type (unsupported_media_type)",
        "422" => {
            "Refused by a rule: limit_exceeded, parent_not_found, parent_in_other_thread, \
                  parent_deleted, message_unusable, folder_unusable, thread_not_writable, \
                  model_not_allowed, \
                  content_not_json, \
                  idempotency_key_reused"
        }
        "429" => {
            "Too many requests (rate_limited, see Retry-After) or the daily token quota \
                  is spent (token_quota_exceeded)"
        }
        "502" => "The model server failed (model_error); the partial reply is stored",
        "503" => "The database is unreachable or saturated (storage_unavailable); retry",
        _ => "See the error code",
    }
}

/// Completes every operation: each response gets a description, and the errors every operation
/// of its kind can answer are listed (401 and 429 where a token is needed, 400 where there are
/// parameters, 400/413/415/422 where there is a body).
#[derive(Debug)]
struct StandardResponses;

impl StandardResponses {
    fn complete(op: &mut Operation) {
        let mut statuses = Vec::new();
        if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
            statuses.extend(["401", "429"]);
        }
        if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            statuses.push("400");
        }
        if op.request_body.is_some() {
            // 422: a value over a configured limit (limit_exceeded), whatever the operation.
            statuses.extend(["400", "413", "415", "422"]);
        }
        for status in statuses {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| {
                    let mut r = Response::new(standard_description(status));
                    r.content.insert(
                        "application/json".to_owned(),
                        RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
                    );
                    RefOr::T(r)
                });
        }
        for (status, response) in op.responses.responses.iter_mut() {
            if let RefOr::T(r) = response
                && r.description.trim().is_empty()
            {
                r.description = standard_description(status).to_owned();
            }
        }
    }
}

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                Self::complete(op);
            }
        }
    }
}

/// Pages refer to their item's schema instead of repeating it inline (utoipa inlines generic
/// arguments), so generated clients give `PageDto_ThreadDto.data` the type `ThreadDto`.
#[derive(Debug)]
struct PageItemsByReference;

impl Modify for PageItemsByReference {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ArrayItems, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let names: Vec<String> = components.schemas.keys().cloned().collect();
        for (name, schema) in components.schemas.iter_mut() {
            let Some(item) = name.strip_prefix("PageDto_") else {
                continue;
            };
            if !names.iter().any(|n| n == item) {
                continue;
            }
            let RefOr::T(Schema::Object(page)) = schema else {
                continue;
            };
            if let Some(RefOr::T(Schema::Array(data))) = page.properties.get_mut("data") {
                data.items =
                    ArrayItems::RefOrSchema(Box::new(RefOr::Ref(Ref::from_schema_name(item))));
            }
        }
    }
}

/// The document served at `/openapi.json`: the routes' description with every value rule
/// written in (see `openapi_rules`).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(<ApiDoc as OpenApi>::openapi()).unwrap_or_default();
    crate::openapi_rules::apply(&mut doc);
    doc
}

/// `GET /openapi.json`: the document as JSON, built and serialized once per process on first
/// use and shared by every worker. (Built per worker at start-up, as a `serde_json::Value` each
/// worker kept, it cost ~17 MiB of resident memory per worker — the transient structures the
/// allocator had touched — before any request asked for it.)
pub async fn serve() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(served().clone())
}

/// The document's JSON text, built once per process (what other parts that read the document
/// at run time parse, instead of building it again).
pub fn served() -> &'static actix_web::web::Bytes {
    static SERVED: std::sync::LazyLock<actix_web::web::Bytes> =
        std::sync::LazyLock::new(|| serde_json::to_vec(&document()).unwrap_or_default().into());
    &SERVED
}

/// The API description served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "chat-threads", description = "Threads of messages between people and AI assistants, arranged as trees."),
    paths(
        routes::accounts::register, routes::accounts::login, routes::accounts::refresh,
        routes::accounts::logout, routes::accounts::open_session, routes::accounts::whoami,
        routes::accounts::list_sessions, routes::accounts::current_session,
        routes::accounts::end_current_session, routes::accounts::get_session,
        routes::accounts::delete_session,
        routes::threads::create, routes::threads::list, routes::threads::get, routes::threads::update,
        routes::threads::delete, routes::threads::restore, routes::threads::purge, routes::threads::title,
        routes::messages::append, routes::messages::list, routes::messages::get, routes::messages::delete,
        routes::messages::edit, routes::messages::set_feedback, routes::messages::clear_feedback,
        routes::messages::set_reaction, routes::messages::clear_reaction,
        routes::messages::update, routes::messages::revisions, routes::messages::restore,
        routes::branches::list, routes::branches::set_active_leaf, routes::branches::fork,
        routes::summaries::list, routes::summaries::add, routes::search::search,
        routes::organize::create_folder, routes::organize::list_folders, routes::organize::get_folder,
        routes::organize::update_folder, routes::organize::delete_folder, routes::organize::list_tags,
        routes::organize::rename_tag, routes::organize::delete_tag,
        routes::shares::create, routes::shares::list, routes::shares::refresh, routes::shares::revoke,
        routes::shares::get, routes::shares::file, routes::shares::fork,
        routes::members::add, routes::members::list, routes::members::remove,
        routes::audit::list, routes::audit::export, routes::feed::read,
        routes::webhooks::create, routes::webhooks::list, routes::webhooks::get,
        routes::webhooks::update, routes::webhooks::delete, routes::webhooks::deliveries,
        routes::webhooks::redeliver,
        routes::erasure::erase_principal, routes::erasure::erase_me, routes::erasure::get,
        routes::policies::list, routes::policies::put, routes::policies::delete,
        routes::policies::dry_run, routes::policies::holds, routes::policies::hold,
        routes::policies::release,
        routes::transfer::export_thread, routes::transfer::export_all,
        routes::transfer::import_ndjson, routes::transfer::import_chatgpt,
        routes::files::upload, routes::files::list, routes::files::get, routes::files::content,
        routes::files::delete,
        routes::billing::get, routes::billing::credit, routes::billing::ledger,
        routes::replies::models, routes::replies::usage, routes::replies::chat, routes::replies::regenerate, routes::tools::submit,
        routes::replies::resend, routes::replies::stream, routes::replies::cancel, routes::live::presence,
    ),
    modifiers(&BearerScheme, &StandardResponses, &PageItemsByReference),
    tags(
        (name = "auth", description = "Built-in accounts and the caller"),
        (name = "sessions", description = "Anonymous sessions for public widgets: open, read and end your own; list, read and delete your organization's"),
        (name = "threads", description = "Conversations"),
        (name = "messages", description = "The message tree"),
        (name = "branches", description = "Switching and forking branches"),
        (name = "summaries", description = "Summaries of long threads"),
        (name = "search", description = "Full-text search"),
        (name = "folders", description = "Folders and tags: organizing your threads"),
        (name = "shares", description = "Share links: one branch of a thread, read-only, for the public, signed-in principals or your organization"),
        (name = "members", description = "Members of a thread: viewers read it and follow it live, editors also write; the owner manages them"),
        (name = "retention", description = "Retention policies and legal holds of your organization (org admins and service principals)"),
        (name = "erasure", description = "Erasure of a person: by their organization's admins, or by themselves; a job with a receipt"),
        (name = "audit", description = "The audit log: who shared, let in, deleted, restored, purged or read whose thread, when (org admins and service principals)"),
        (name = "events", description = "The change feed: every change of the threads you may see, in one order, resumable from a cursor (NDJSON pages or a live SSE stream)"),
        (name = "webhooks", description = "Webhooks: the change feed POSTed to your URL, signed (Standard Webhooks), retried, in order per thread"),
        (name = "transfer", description = "Export and import"),
        (name = "replies", description = "Assistant replies, streamed over SSE"),
        (name = "files", description = "Uploaded files: upload, read, download, delete"),
        (name = "billing", description = "Balances in money: read yours, credit (service principals), the ledger"),
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn pages_refer_to_their_items() {
        let doc = super::document();
        let page = &doc["components"]["schemas"]["PageDto_ThreadDto"];
        assert_eq!(
            page["properties"]["data"]["items"]["$ref"],
            "#/components/schemas/ThreadDto"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_every_response_is_described() {
        let doc = super::document();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let at = format!("{method} {path}");
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(
                    id.contains('_') || ["chat"].contains(&id.as_str()),
                    "{at}: {id} says too little"
                );
                if let Some(other) = ids.insert(id.clone(), at.clone()) {
                    panic!("operationId {id} is used by {other} and {at}");
                }
                for (status, response) in op["responses"].as_object().unwrap() {
                    let d = response["description"].as_str().unwrap_or("");
                    assert!(!d.trim().is_empty(), "{at} {status} has no description");
                }
            }
        }
    }
}
