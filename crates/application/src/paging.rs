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

/// About how many bytes an item takes in a response, for the page byte budget
/// (`limits.page_bytes`).
pub trait Weigh {
    /// The approximate size in bytes.
    fn weigh(&self) -> usize;
}

/// Fixed cost of an item besides its texts (ids, times, field names). Each feature weighs its
/// own items next to their types, so paging imports no feature.
pub(crate) const ITEM_OVERHEAD: usize = 400;

impl Weigh for chat_threads_domain::Message {
    fn weigh(&self) -> usize {
        ITEM_OVERHEAD
            + self.content.as_str().len()
            + self
                .attachments
                .iter()
                .map(|a| 120 + a.name.len())
                .sum::<usize>()
            + self.display_text.as_ref().map_or(0, String::len)
            + self.metadata.approx_bytes()
            + self
                .feedback
                .as_ref()
                .and_then(|f| f.text.as_ref())
                .map_or(0, |t| t.as_str().len())
    }
}

impl Weigh for chat_threads_domain::Thread {
    fn weigh(&self) -> usize {
        ITEM_OVERHEAD
            + self.title.as_str().len()
            + self.metadata.approx_bytes()
            + self.system_prompt.as_ref().map_or(0, |p| p.as_str().len())
    }
}

/// How many of `items`, taken in order, fit in `budget` bytes: at least one, so a single large
/// item still makes progress.
pub fn fitting<'a, T: Weigh + 'a>(items: impl IntoIterator<Item = &'a T>, budget: usize) -> usize {
    let mut used = 0;
    let mut n = 0;
    for item in items {
        used += item.weigh();
        if n > 0 && used > budget {
            break;
        }
        n += 1;
    }
    n
}

impl<T: Weigh> Page<T> {
    /// A page from rows fetched with `limit + 1` in list order: the extra row only says another
    /// page follows; the cursor is the position of the last row kept. The page also ends early
    /// when its items reach `budget` bytes.
    pub fn from_rows<C: Serialize>(
        mut rows: Vec<T>,
        limit: u32,
        budget: usize,
        position: impl FnOnce(&T) -> C,
    ) -> Self {
        let keep = fitting(rows.iter().take(limit as usize), budget);
        let has_more = rows.len() > keep;
        rows.truncate(keep);
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
