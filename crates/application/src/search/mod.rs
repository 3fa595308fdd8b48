//! Full-text search over the caller's messages, newest first, a page at a time.

use std::future::Future;

use chat_threads_domain::{MessageId, Principal, Role, Scope, ThreadId, Timestamp};
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

/// Storage of the search index.
pub trait SearchStore: Clone + Send + Sync + 'static {
    /// Full-text search over the content of the owner's live messages, newest
    /// `(created_at, id)` first, after the cursor, at most `limit`.
    fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SearchHit>, AppError>> + Send;
}

impl<S: ThreadStore + SearchStore, C: Clock> ThreadService<S, C> {
    /// Full-text search over the owner's messages, newest first, a page at a time.
    pub async fn search(
        &self,
        who: &Principal,
        text: &str,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<SearchHit>, AppError> {
        let limit = page_size(limit, &self.limits)?;
        let Some(text) = chat_threads_domain::query_text("q", text)? else {
            return Err(chat_threads_domain::DomainError::invalid("q", "must not be blank").into());
        };
        let text = text.as_str();
        let after = cursor
            .as_deref()
            .map(cursor::decode::<MessageCursor>)
            .transpose()?;
        let rows = self
            .store
            .search_messages(&who.scope(), text, after, limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |h| {
            MessageCursor {
                created_at: h.created_at,
                id: h.message_id,
            }
        }))
    }
}
