//! Persistence: one schema and one set of queries over SQLite and PostgreSQL.
//!
//! The backend is picked at run time from the database URL. Queries are written once and
//! expanded per backend by the [`with_conn!`] and [`write_tx!`] macros, which type-check the same
//! body against each connection type.

#[macro_use]
mod macros;
mod auth_store;
mod dialect;
mod error;
mod generation_store;
mod idempotency_store;
mod migrations;
mod models;
mod pool;
pub mod schema;
mod store;
pub mod types;

pub use dialect::Dialect;
pub use error::DbError;
pub use migrations::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
pub use pool::{
    Backend, Database, DatabaseUrl, PoolOptions, PoolUsage, SetupError, redact as redact_url,
};
pub use store::SqlStore;
