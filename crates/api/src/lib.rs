//! The HTTP front door of chat-threads (actix-web): routes, error mapping, health probes.

pub mod error;
pub mod health;

use actix_web::web;
use chat_threads_application::Readiness;

/// Registers every route. `R` answers the readiness probe.
pub fn configure<R: Readiness>(readiness: R) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(readiness))
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz::<R>));
    }
}
