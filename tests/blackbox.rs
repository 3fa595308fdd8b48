//! The black-box tests: the built binary driven from outside (HTTP, WebSocket, SSE, real
//! clients and tools), on SQLite and on PostgreSQL. One test binary, one module per area, so the
//! shared `support` code compiles and links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

mod agent;
mod api;
mod audit;
mod auth;
mod background;
mod billing;
mod binary;
mod browser;
mod clients;
mod cluster;
mod cluster_limits;
mod contract;
mod crash;
mod erasure;
mod feed;
mod files;
mod followups;
mod isolation;
mod keep;
mod mcp;
mod members;
mod memory;
mod nasty;
mod openai;
mod organize;
mod pages;
mod policies;
mod poolers;
mod replies;
mod sampling;
mod sessions;
mod shares;
mod telemetry;
mod tools;
mod uploads;
mod webhooks;
mod websocket;
