//! Use cases of chat-threads and the ports they need.
//!
//! Services ([`ThreadService`], [`MessageService`], [`SummaryService`]) parse raw input into
//! domain values, check the rules, and call the storage ports ([`ThreadStore`], [`MessageStore`],
//! [`SummaryStore`]). Adapters implement the ports; [`memory::MemoryStore`] is the in-memory one
//! used by unit tests, and the `contract` module (feature `contract-tests`) is the suite every
//! store must pass.

pub mod auth;
pub mod catalog;
pub mod cursor;
pub mod error;
pub mod events;
pub mod generation;
pub mod idempotency;
pub mod llm;
pub mod memory;
pub mod ports;
pub mod services;
pub mod transfer;

#[cfg(feature = "contract-tests")]
pub mod contract;

pub use error::AppError;
pub use ports::{
    Anchor, Branch, Clock, DeleteOutcome, DeletedFilter, ForkMode, MessageCursor, MessageFilter,
    MessageStore, NewMessage, Page, Readiness, SearchHit, SummaryStore, SystemClock, ThreadCursor,
    ThreadPatch, ThreadQuery, ThreadStore,
};
pub use services::{
    AppendMessage, CreateThread, ListThreads, MessageService, SummaryService, ThreadService,
    UpdateThread,
};
