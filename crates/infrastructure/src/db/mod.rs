//! Persistence: one schema and one set of queries over SQLite and PostgreSQL.
//!
//! The backend is picked at run time from the database URL. Queries are written once and
//! expanded per backend by the [`with_conn!`] and [`write_tx!`] macros, which type-check the same
//! body against each connection type.

#[macro_use]
mod macros;
mod accounts;
mod audit;
mod billing;
mod conn;
mod dialect;
mod erasure;
mod error;
mod feed;
mod files;
mod histories;
mod idempotency;
mod members;
mod messages;
mod migrations;
mod models;
mod organize;
mod path_stamps;
mod pg_appends;
mod pg_pools;
mod policies;
mod pool;
mod pooler;
mod prepared;
mod queue;
mod replies;
mod retention;
pub mod schema;
mod search;
mod shares;
mod store;
mod summaries;
mod threads;
mod transfer;
mod tree_sql;
pub mod types;
mod usage;
mod webhooks;
mod writer;

pub use dialect::Dialect;
pub use error::DbError;
pub use migrations::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
pub use pg_appends::AppendGroups;
pub use pool::{
    Backend, Database, DatabaseUrl, PoolOptions, PoolUsage, SetupError, SqliteSynchronous,
    redact as redact_url,
};
pub use store::SqlStore;
