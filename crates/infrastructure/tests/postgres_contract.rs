//! The store contract on a real PostgreSQL database (skipped unless `TEST_DATABASE_URL` is set;
//! required when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

chat_threads_testing::contract_tests!(support::pg_store());
