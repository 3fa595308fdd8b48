//! Everything the API needs to run, assembled by the binary (or a test).

use std::sync::Arc;

use crate::auth::Verifier;
use crate::rate_limit::RateLimits;
use crate::state::{AppState, Deps};

/// Everything [`crate::configure`] needs.
#[derive(Debug)]
pub struct ApiConfig<D: Deps> {
    /// The services.
    pub state: AppState<D>,
    /// Verifies bearer tokens.
    pub verifier: Verifier,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Maximum JSON body size, bytes.
    pub json_limit: usize,
    /// How long idempotency keys are kept, seconds.
    pub idempotency_ttl_secs: i64,
    /// How long an Idempotency-Key may stay in progress before a retry may take it over.
    pub idempotency_lease_secs: i64,
    /// WebSocket limits and timers.
    pub ws: chat_threads_application::live::WebSocketSettings,
    /// Origins browsers may call from.
    pub origins: crate::cors::OriginPolicy,
    /// The process's metrics (one registry for every worker).
    pub metrics: Arc<crate::observe::Metrics>,
}

impl<D: Deps> Clone for ApiConfig<D> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            verifier: self.verifier.clone(),
            rate_limits: self.rate_limits.clone(),
            json_limit: self.json_limit,
            idempotency_ttl_secs: self.idempotency_ttl_secs,
            idempotency_lease_secs: self.idempotency_lease_secs,
            ws: self.ws,
            origins: self.origins.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
