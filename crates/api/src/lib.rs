//! The HTTP front door of chat-threads (actix-web): routes, authentication, error mapping,
//! rate limits, OpenAPI and Swagger UI.

pub mod auth;
pub mod dto;
pub mod error;
pub mod extractors;
pub mod health;
pub mod idempotency;
pub mod observe;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod ws;

use actix_web::web;

pub use state::{ApiConfig, AppState, Deps, Verifier};

/// Registers every route.
pub fn configure<D: Deps>(config: ApiConfig<D>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let readiness = config.state.store.clone();
        let openapi = <openapi::ApiDoc as utoipa::OpenApi>::openapi();
        cfg.app_data(extractors::json_config(config.json_limit))
            .app_data(extractors::path_config())
            .app_data(extractors::query_config())
            .app_data(web::Data::new(config.state))
            .app_data(web::Data::new(config.verifier))
            .app_data(web::Data::new(config.rate_limits))
            .app_data(web::Data::new(idempotency::IdempotencyTtl(
                config.idempotency_ttl_secs,
            )))
            .app_data(web::Data::new(observe::Metrics::default()))
            .route("/metrics", web::get().to(observe::metrics))
            .route("/healthz", web::get().to(health::healthz))
            .app_data(web::Data::new(readiness))
            .route("/readyz", web::get().to(health::readyz::<D::Store>))
            .app_data(web::Data::new(config.ws))
            .route("/v1/ws", web::get().to(ws::upgrade::<D>))
            .service(web::scope("/v1").configure(routes_v1::<D>))
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi),
            )
            .route("/docs", web::get().to(extractors::docs_redirect));
    }
}

/// Declares the /v1 route table once: [`ROUTE_TABLE`] lists it (a test checks it against the
/// OpenAPI document, both ways) and `routes_v1` registers it.
macro_rules! v1_routes {
    ($($method:ident $path:literal => $($handler:ident)::+),* $(,)?) => {
        /// Every /v1 route as (method, path).
        pub const ROUTE_TABLE: &[(&str, &str)] = &[$((stringify!($method), concat!("/v1", $path))),*];

        fn routes_v1<D: Deps>(cfg: &mut web::ServiceConfig) {
            use routes::{accounts, branches, chat, live, messages, summaries, threads, transfer};
            $(cfg.route($path, web::$method().to($($handler)::+::<D>));)*
        }
    };
}

v1_routes! {
    post "/auth/register" => accounts::register,
    post "/auth/login" => accounts::login,
    post "/auth/refresh" => accounts::refresh,
    post "/auth/logout" => accounts::logout,
    post "/sessions" => accounts::open_session,
    get "/whoami" => accounts::whoami,
    post "/threads" => threads::create,
    get "/threads" => threads::list,
    get "/threads/{thread_id}" => threads::get,
    patch "/threads/{thread_id}" => threads::update,
    delete "/threads/{thread_id}" => threads::delete,
    post "/threads/{thread_id}/restore" => threads::restore,
    post "/threads/{thread_id}/purge" => threads::purge,
    post "/threads/{thread_id}/messages" => messages::append,
    get "/threads/{thread_id}/messages" => messages::list,
    get "/threads/{thread_id}/messages/{message_id}" => messages::get,
    delete "/threads/{thread_id}/messages/{message_id}" => messages::delete,
    post "/threads/{thread_id}/messages/{message_id}/edits" => messages::edit,
    put "/threads/{thread_id}/messages/{message_id}/feedback" => messages::set_feedback,
    delete "/threads/{thread_id}/messages/{message_id}/feedback" => messages::clear_feedback,
    put "/threads/{thread_id}/messages/{message_id}/reaction" => messages::set_reaction,
    delete "/threads/{thread_id}/messages/{message_id}/reaction" => messages::clear_reaction,
    get "/threads/{thread_id}/branches" => branches::list,
    put "/threads/{thread_id}/active-leaf" => branches::set_active_leaf,
    post "/threads/{thread_id}/fork" => branches::fork,
    get "/threads/{thread_id}/summaries" => summaries::list,
    post "/threads/{thread_id}/summaries" => summaries::add,
    get "/search" => summaries::search,
    get "/threads/{thread_id}/export" => transfer::export_thread,
    get "/export" => transfer::export_all,
    post "/import" => transfer::import_ndjson,
    post "/import/chatgpt" => transfer::import_chatgpt,
    get "/models" => chat::models,
    get "/usage" => chat::usage,
    post "/threads/{thread_id}/chat" => chat::chat,
    post "/threads/{thread_id}/messages/{message_id}/regenerate" => chat::regenerate,
    post "/threads/{thread_id}/messages/{message_id}/resend" => chat::resend,
    get "/threads/{thread_id}/messages/{message_id}/stream" => chat::stream,
    post "/threads/{thread_id}/messages/{message_id}/cancel" => chat::cancel,
    get "/threads/{thread_id}/presence" => live::presence,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn the_route_table_and_the_openapi_document_agree() {
        let doc = <crate::openapi::ApiDoc as utoipa::OpenApi>::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let routed: BTreeSet<(String, String)> = super::ROUTE_TABLE
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(
            routed, documented,
            "every route is documented and every documented operation is routed"
        );
    }
}
