//! The HTTP front door of chat-threads (actix-web): routes, authentication, error mapping,
//! rate limits, OpenAPI and Swagger UI.

pub mod auth;
pub mod dto;
pub mod error;
pub mod extractors;
pub mod health;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod state;

use actix_web::web;

pub use state::{ApiConfig, AppState, Deps, Verifier};

use rate_limit::Verdict;

/// Adds x-ratelimit-* headers for a verdict.
pub fn rate_limit_headers(response: &mut actix_web::HttpResponseBuilder, v: &Verdict) {
    response
        .insert_header(("x-ratelimit-limit", v.limit.to_string()))
        .insert_header(("x-ratelimit-remaining", v.remaining.to_string()))
        .insert_header(("x-ratelimit-reset", v.reset_secs.to_string()));
}

/// Registers every route.
pub fn configure<D: Deps>(config: ApiConfig<D>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let readiness = config.state.readiness.clone();
        let openapi = <openapi::ApiDoc as utoipa::OpenApi>::openapi();
        cfg.app_data(extractors::json_config(config.json_limit))
            .app_data(extractors::path_config())
            .app_data(extractors::query_config())
            .app_data(web::Data::new(config.state))
            .app_data(web::Data::new(config.verifier))
            .app_data(web::Data::new(config.rate_limits))
            .route("/healthz", web::get().to(health::healthz))
            .app_data(web::Data::new(readiness))
            .route("/readyz", web::get().to(health::readyz::<D::Store>))
            .service(web::scope("/v1").configure(routes_v1::<D>))
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi),
            )
            .route("/docs", web::get().to(extractors::docs_redirect));
    }
}

/// Every /v1 route. The OpenAPI document ([`openapi::ApiDoc`]) lists the same operations; a
/// test checks the two agree.
fn routes_v1<D: Deps>(cfg: &mut web::ServiceConfig) {
    use routes::{accounts, branches, messages, summaries, threads};
    cfg.route("/auth/register", web::post().to(accounts::register::<D>))
        .route("/auth/login", web::post().to(accounts::login::<D>))
        .route("/auth/refresh", web::post().to(accounts::refresh::<D>))
        .route("/auth/logout", web::post().to(accounts::logout::<D>))
        .route("/sessions", web::post().to(accounts::open_session::<D>))
        .route("/whoami", web::get().to(accounts::whoami))
        .route("/threads", web::post().to(threads::create::<D>))
        .route("/threads", web::get().to(threads::list::<D>))
        .route("/threads/{thread_id}", web::get().to(threads::get::<D>))
        .route(
            "/threads/{thread_id}",
            web::patch().to(threads::update::<D>),
        )
        .route(
            "/threads/{thread_id}",
            web::delete().to(threads::delete::<D>),
        )
        .route(
            "/threads/{thread_id}/restore",
            web::post().to(threads::restore::<D>),
        )
        .route(
            "/threads/{thread_id}/purge",
            web::post().to(threads::purge::<D>),
        )
        .route(
            "/threads/{thread_id}/messages",
            web::post().to(messages::append::<D>),
        )
        .route(
            "/threads/{thread_id}/messages",
            web::get().to(messages::list::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}",
            web::get().to(messages::get::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}",
            web::delete().to(messages::delete::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/edits",
            web::post().to(messages::edit::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/feedback",
            web::put().to(messages::set_feedback::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/feedback",
            web::delete().to(messages::clear_feedback::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/reaction",
            web::put().to(messages::set_reaction::<D>),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/reaction",
            web::delete().to(messages::clear_reaction::<D>),
        )
        .route(
            "/threads/{thread_id}/branches",
            web::get().to(branches::list::<D>),
        )
        .route(
            "/threads/{thread_id}/active-leaf",
            web::put().to(branches::set_active_leaf::<D>),
        )
        .route(
            "/threads/{thread_id}/fork",
            web::post().to(branches::fork::<D>),
        )
        .route(
            "/threads/{thread_id}/summaries",
            web::get().to(summaries::list::<D>),
        )
        .route(
            "/threads/{thread_id}/summaries",
            web::post().to(summaries::add::<D>),
        )
        .route("/search", web::get().to(summaries::search::<D>));
}
