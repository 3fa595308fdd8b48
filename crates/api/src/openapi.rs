//! The OpenAPI document.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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

/// The API description served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "chat-threads", description = "Threads of messages between people and AI assistants, arranged as trees."),
    paths(
        routes::accounts::register, routes::accounts::login, routes::accounts::refresh,
        routes::accounts::logout, routes::accounts::open_session, routes::accounts::whoami,
        routes::threads::create, routes::threads::list, routes::threads::get, routes::threads::update,
        routes::threads::delete, routes::threads::restore, routes::threads::purge,
        routes::messages::append, routes::messages::list, routes::messages::get, routes::messages::delete,
        routes::messages::edit, routes::messages::set_feedback, routes::messages::clear_feedback,
        routes::messages::set_reaction, routes::messages::clear_reaction,
        routes::branches::list, routes::branches::set_active_leaf, routes::branches::fork,
        routes::summaries::list, routes::summaries::add, routes::summaries::search,
        routes::transfer::export_thread, routes::transfer::export_all,
        routes::transfer::import_ndjson, routes::transfer::import_chatgpt,
        routes::chat::models, routes::chat::usage, routes::chat::chat, routes::chat::regenerate,
        routes::chat::resend, routes::chat::stream, routes::chat::cancel, routes::live::presence,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Built-in accounts, anonymous sessions, the caller"),
        (name = "threads", description = "Conversations"),
        (name = "messages", description = "The message tree"),
        (name = "branches", description = "Switching and forking branches"),
        (name = "summaries", description = "Summaries of long threads"),
        (name = "search", description = "Full-text search"),
        (name = "transfer", description = "Export and import"),
        (name = "replies", description = "Assistant replies, streamed over SSE"),
    )
)]
pub struct ApiDoc;
