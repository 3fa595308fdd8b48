//! The store contract, run against the in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use chat_threads_testing::memory::MemoryStore;

chat_threads_testing::contract_tests!(async { Some(MemoryStore::new()) });
