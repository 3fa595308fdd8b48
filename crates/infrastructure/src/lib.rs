//! Adapters of chat-threads: persistence on SQLite and PostgreSQL (diesel + diesel-async),
//! and configuration loading.

pub mod auth;
pub mod bus;
pub mod config;
pub mod db;
pub mod llm;
pub mod mcp;
pub mod objects;
mod spans;
pub mod telemetry;
pub mod tls;
pub mod webhooks;

pub use config::Settings;
pub use db::{Database, SqlStore};
