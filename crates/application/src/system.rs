//! Ports every feature shares: the clock, and whether the service can serve (readiness).

use std::future::Future;

use chat_threads_domain::Timestamp;

use crate::error::AppError;

/// The source of the current time.
pub trait Clock: Clone + Send + Sync + 'static {
    /// Now, truncated to microseconds.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chat_threads_domain::to_micros(chrono::Utc::now())
    }
}

/// Whether the service's dependencies (the database) can serve requests; backs `/readyz`.
pub trait Readiness: Clone + Send + Sync + 'static {
    /// `Ok` when ready, else why not.
    fn check(&self) -> impl Future<Output = Result<(), AppError>> + Send;
}
