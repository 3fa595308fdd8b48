//! The store contract, run against the in-memory store.

use chat_threads_application::memory::MemoryStore;

chat_threads_application::contract_tests!(async { Some(MemoryStore::new()) });
