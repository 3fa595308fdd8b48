//! Handlers, one module per resource, and the route table.

pub mod accounts;
pub mod audit;
pub mod billing;
pub mod branches;
pub mod erasure;
pub mod feed;
pub mod files;
pub mod live;
pub mod members;
pub mod messages;
pub mod openai;
pub mod organize;
pub mod policies;
pub mod replies;
pub mod search;
pub mod shares;
pub mod summaries;
pub mod threads;
pub mod tools;
pub mod transfer;
pub mod webhooks;
