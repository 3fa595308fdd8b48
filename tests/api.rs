//! The REST API end to end, on SQLite and PostgreSQL: a tour that touches every documented
//! operation, every error case, and paging that neither skips nor repeats while threads are
//! being created.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod edits;
mod errors;
mod paging;
mod requests;
mod tour;
