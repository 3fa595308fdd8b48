//! What real clients meet: browsers on other origins (CORS, WebSocket `Origin`), strict request
//! parsing on every documented operation, one metrics registry for the whole process, and
//! start-up failures that say what is wrong in one line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod browsers;
mod errors;
mod metrics;
mod startup;
mod strict;
