//! The store contract on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

chat_threads_testing::contract_tests!(support::sqlite_store());
