//! Reading the active path: pages root first, towards the root through the cursor, within the
//! page byte budget; and first pages with a [`PathStamp`], so a caller holding one can learn
//! whether its page would read the same without reading it again.

use chat_threads_domain::{Message, MessageId, Principal, ThreadId};

use super::{MessageFilter, MessageService, MessageStore, contains_words};
use crate::access::{Need, scope_for};
use crate::cursor;
use crate::error::AppError;
use crate::paging::{Page, page_size};
use crate::system::Clock;
use crate::threads::ThreadStore;

/// What a first page of the active path was read from, as the store tells it: a version of
/// the thread that changes whenever anything the page shows may have changed — its active
/// leaf, any of its messages (on PostgreSQL the thread row's `xmin`: every write of one of its
/// messages writes the thread's row too). Two equal stamps of one thread mean its first pages
/// read the same. Only a store that can tell it cheaply gives one
/// ([`MessageStore::path_stamp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStamp(i64);

impl PathStamp {
    /// A stamp of this version.
    pub fn new(version: i64) -> Self {
        Self(version)
    }

    /// Bytes it holds (to count it against a cache's budget).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// Entity tags of first pages (`ETag`, answered with `304 Not Modified` to an
/// `If-None-Match` that names the page as it is): a digest of the page's thread, size and stamp
/// under a key every instance derives from the same secret, so a client's tag holds on any
/// instance and tells nothing of the stamp (a transaction id, on PostgreSQL). The release is
/// in the digest too: a page another release rendered never matches.
#[derive(Clone)]
pub struct PageTags {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTags(..)")
    }
}

impl PageTags {
    /// Tags keyed with `secret` (the service's signing secret: the same on every instance).
    pub fn new(secret: &[u8]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"chat-threads page tags\0");
        h.update(secret);
        Self {
            key: h.finalize().into(),
        }
    }

    /// The tag of `thread`'s first page of `limit` messages read with `stamp`, quoted as an
    /// `ETag` header carries it.
    pub fn tag(&self, thread: ThreadId, limit: u32, stamp: PathStamp) -> String {
        use sha2::Digest;
        use std::fmt::Write;
        let mut h = sha2::Sha256::new();
        h.update(self.key);
        h.update(thread.as_uuid().as_bytes());
        h.update(limit.to_be_bytes());
        h.update(stamp.0.to_be_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        let digest = h.finalize();
        let mut tag = String::with_capacity(37);
        tag.push_str("\"p1-");
        for b in &digest[..16] {
            let _ = write!(tag, "{b:02x}");
        }
        tag.push('"');
        tag
    }
}

/// A first page read for a caller that may hold it already.
#[derive(Debug)]
pub enum PathRead {
    /// The stamp the caller holds is the page's stamp now: its page reads the same.
    Unchanged,
    /// The page, and its stamp when the store gives one.
    Read {
        /// The page.
        page: Page<Message>,
        /// What it was read from.
        stamp: Option<PathStamp>,
    },
}

impl<S: MessageStore + ThreadStore + crate::files::FileStore, C: Clock> MessageService<S, C> {
    /// The active path, root first: the last `limit` messages (all when `None`), then earlier
    /// pages through the cursor. With a filter, the path is walked from the cursor to the root
    /// and the last `limit` matching messages are returned (the cost then grows with the depth).
    pub async fn active_path(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        cursor: Option<String>,
        limit: Option<u32>,
        filter: MessageFilter,
    ) -> Result<Page<Message>, AppError> {
        let before = cursor
            .as_deref()
            .map(cursor::decode::<MessageId>)
            .transpose()?;
        let want = match limit {
            None => u32::MAX - 1,
            Some(n) => page_size(Some(n), &self.limits)?,
        };
        let walk = if filter.is_empty() {
            want + 1
        } else {
            u32::MAX
        };
        let scope = scope_for(&self.store, who, thread_id, Need::Read).await?;
        let mut rows = if filter.is_empty() {
            self.path_within_budget(&scope, thread_id, before, walk)
                .await?
        } else {
            self.store
                .active_path(&scope, thread_id, before, walk)
                .await?
        };
        if !filter.is_empty() {
            rows.retain(|m| {
                filter.role.is_none_or(|r| m.role == r)
                    && filter
                        .text
                        .as_deref()
                        .is_none_or(|t| contains_words(m.content.as_str(), t))
            });
        }
        Ok(self.path_page(who, thread_id, rows, want).await)
    }

    /// The first page of the active path, `limit` messages (1 to `limits.page_size_max`), as
    /// [`active_path`](Self::active_path) reads it with no cursor and no filter — unless the
    /// caller holds the page's stamp as it is now ([`PathRead::Unchanged`]: the store was
    /// asked for the stamp only). Access is checked (and an admin's read audited) either way.
    pub async fn first_path_page(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        limit: u32,
        held: Option<&PathStamp>,
    ) -> Result<PathRead, AppError> {
        let want = page_size(Some(limit), &self.limits)?;
        let scope = scope_for(&self.store, who, thread_id, Need::Read).await?;
        if let Some(held) = held
            && self
                .store
                .path_stamp(&scope, thread_id, want + 1)
                .await?
                .as_ref()
                == Some(held)
        {
            crate::audit::admin_read(&self.store, &self.clock, who, thread_id, "messages").await;
            return Ok(PathRead::Unchanged);
        }
        let (rows, stamp) = self.store.stamped_path(&scope, thread_id, want + 1).await?;
        let page = self.path_page(who, thread_id, rows, want).await;
        Ok(PathRead::Read { page, stamp })
    }

    /// The page of the newest `want` of `rows` (a stretch of the path, root first), fewer if
    /// they pass the page byte budget, without tombstones; an admin's read is audited.
    async fn path_page(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        mut rows: Vec<Message>,
        want: u32,
    ) -> Page<Message> {
        let keep = crate::paging::fitting(
            rows.iter().rev().take(want as usize),
            self.limits.page_bytes,
        );
        let has_more = rows.len() > keep;
        if has_more {
            rows.drain(..rows.len() - keep);
        }
        let next_cursor = has_more
            .then(|| rows.first().map(|m| cursor::encode(&m.id)))
            .flatten();
        // The path reads around tombstones (messages deleted alone); the tree view shows them.
        rows.retain(|m| !m.is_tombstone());
        crate::audit::admin_read(&self.store, &self.clock, who, thread_id, "messages").await;
        Page {
            data: rows,
            next_cursor,
            has_more,
        }
    }

    /// Up to `walk` messages of the active path ending above `before`, root first — but read
    /// no further back than the page's byte budget needs. A page of at most
    /// `PATH_READ_AT_ONCE` rows (any `limit` a client may ask) is one read; a longer walk (no
    /// `limit`: the whole path, up to `limits.page_bytes`) reads back in growing chunks and
    /// stops once the newest messages fill the budget, so a request never loads a long
    /// thread's whole path (tens of MB of large messages) to answer 512 KiB of it.
    async fn path_within_budget(
        &self,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        mut before: Option<MessageId>,
        walk: u32,
    ) -> Result<Vec<Message>, AppError> {
        /// Rows read at once when the walk is short enough to take whole.
        const PATH_READ_AT_ONCE: u32 = 128;
        /// The first and the largest chunk of a longer walk.
        const FIRST_CHUNK: u32 = 16;
        const LARGEST_CHUNK: u32 = 1024;
        if walk <= PATH_READ_AT_ONCE {
            return self.store.active_path(scope, thread_id, before, walk).await;
        }
        let mut rows: Vec<Message> = Vec::new();
        let mut chunk = FIRST_CHUNK;
        loop {
            let ask = chunk.min(walk.saturating_sub(rows.len() as u32));
            let mut older = self
                .store
                .active_path(scope, thread_id, before, ask)
                .await?;
            let reached_root = (older.len() as u32) < ask;
            before = older.first().map(|m| m.id);
            older.append(&mut rows);
            rows = older;
            let full = crate::paging::fitting(rows.iter().rev(), self.limits.page_bytes);
            if reached_root || rows.len() as u32 >= walk || full < rows.len() {
                return Ok(rows);
            }
            chunk = (chunk * 2).min(LARGEST_CHUNK);
        }
    }
}
