//! Test scaffolding for chat-threads, kept out of the production crates: the in-memory store
//! (the reference the contract is checked against), the store contract suite every store must
//! pass ([`contract_tests!`]), and a scripted language model.

pub mod contract;
pub mod fakes;
pub mod memory;
pub mod samples;
pub mod scripted;
