//! The store contract on a real SQLite file.

mod support;

chat_threads_application::contract_tests!(support::sqlite_store());
