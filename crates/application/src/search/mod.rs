//! Full-text search over the caller's messages, newest first, a page at a time.

use std::future::Future;

use chat_threads_domain::{FolderId, MessageId, Principal, Role, Scope, Tag, ThreadId, Timestamp};
use serde::Serialize;

use crate::cursor;
use crate::error::AppError;
use crate::messages::MessageCursor;
use crate::paging::{Page, page_size};
use crate::system::Clock;
use crate::threads::{ThreadService, ThreadStore};

/// A search result: a message whose content matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The thread holding the message.
    pub thread_id: ThreadId,
    /// The thread's title.
    pub thread_title: String,
    /// The matching message.
    pub message_id: MessageId,
    /// Its role.
    pub role: Role,
    /// A short excerpt with the match marked by `[` and `]`.
    pub snippet: String,
    /// When the message was written.
    pub created_at: Timestamp,
}

impl crate::paging::Weigh for SearchHit {
    fn weigh(&self) -> usize {
        crate::paging::ITEM_OVERHEAD + self.thread_title.len() + self.snippet.len()
    }
}

/// What a search looks for besides its words; every filter is ANDed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchFilter {
    /// Only threads with this tag.
    pub tag: Option<Tag>,
    /// Only threads in this folder.
    pub folder_id: Option<FolderId>,
    /// Only messages written at or after this time.
    pub from: Option<Timestamp>,
    /// Only messages written before this time.
    pub to: Option<Timestamp>,
}

/// Raw search input (the api's query).
#[derive(Debug, Clone, Default)]
pub struct SearchInput {
    /// The words; each matches as a prefix (`lisb` finds "Lisbon").
    pub text: String,
    /// Tag filter.
    pub tag: Option<String>,
    /// Folder filter.
    pub folder_id: Option<FolderId>,
    /// From this time (inclusive).
    pub from: Option<Timestamp>,
    /// Until this time (exclusive).
    pub to: Option<Timestamp>,
    /// Cursor of the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// Storage of the search index.
pub trait SearchStore: Clone + Send + Sync + 'static {
    /// Full-text search over the content of the owner's live messages in live, listed (not
    /// temporary) threads, every word a prefix, newest `(created_at, id)` first, after the
    /// cursor, at most `limit`.
    fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        filter: &SearchFilter,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SearchHit>, AppError>> + Send;
}

impl<S: ThreadStore + SearchStore, C: Clock> ThreadService<S, C> {
    /// Full-text search over the owner's messages, newest first, a page at a time: every word
    /// matches as a prefix; filters by tag, folder and time.
    pub async fn search(
        &self,
        who: &Principal,
        input: SearchInput,
    ) -> Result<Page<SearchHit>, AppError> {
        let SearchInput {
            text,
            tag,
            folder_id,
            from,
            to,
            cursor,
            limit,
        } = input;
        let limit = page_size(limit, &self.limits)?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(chat_threads_domain::DomainError::inconsistent(
                "to",
                "must be later than from",
            )
            .into());
        }
        let filter = SearchFilter {
            tag: tag.as_deref().map(Tag::parse).transpose()?,
            folder_id,
            from: from.map(chat_threads_domain::to_micros),
            to: to.map(chat_threads_domain::to_micros),
        };
        let Some(text) = chat_threads_domain::query_text("q", &text)? else {
            return Err(chat_threads_domain::DomainError::invalid("q", "must not be blank").into());
        };
        let text = text.as_str();
        let after = cursor
            .as_deref()
            .map(cursor::decode::<MessageCursor>)
            .transpose()?;
        let rows = self
            .store
            .search_messages(&who.scope(), text, &filter, after, limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |h| {
            MessageCursor {
                created_at: h.created_at,
                id: h.message_id,
            }
        }))
    }
}
