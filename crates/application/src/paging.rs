//! Keyset pagination: a page of results and the page size rules (cursors are in `cursor`).

use chat_threads_domain::Limits;
use serde::Serialize;

use crate::error::AppError;

/// A page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// A page from rows fetched with `limit + 1` in list order: the extra row only says another
    /// page follows; the cursor is the position of the last row kept.
    pub fn from_rows<C: Serialize>(
        mut rows: Vec<T>,
        limit: u32,
        position: impl FnOnce(&T) -> C,
    ) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more {
            rows.last()
                .map(|last| crate::cursor::encode(&position(last)))
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
            has_more,
        }
    }
}

/// Default page size when the caller gives none (capped by the configured maximum).
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// Checks a requested page size (1..=max, default 20).
pub fn page_size(requested: Option<u32>, limits: &Limits) -> Result<u32, AppError> {
    let max = limits.page_size_max.max(1);
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(chat_threads_domain::DomainError::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        )
        .into()),
    }
}
