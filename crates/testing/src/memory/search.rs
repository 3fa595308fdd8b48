//! The in-memory store's full-text search over messages, and the snippet that marks a hit.

use chat_threads_domain::Scope;

use chat_threads_application::AppError;
use chat_threads_application::{MessageCursor, SearchHit};

use super::{MemoryStore, matches_terms};

impl chat_threads_application::SearchStore for MemoryStore {
    async fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        filter: &chat_threads_application::search::SearchFilter,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, AppError> {
        let s = self.lock()?;
        let mut hits: Vec<SearchHit> = s
            .messages
            .values()
            .filter(|m| !m.is_deleted() && matches_terms(m.content.as_str(), text))
            .filter(|m| after.is_none_or(|c| (m.created_at, m.id) < (c.created_at, c.id)))
            .filter(|m| filter.from.is_none_or(|f| m.created_at >= f))
            .filter(|m| filter.to.is_none_or(|t| m.created_at < t))
            .filter_map(|m| {
                let t = s
                    .threads
                    .get(&m.thread_id)
                    .filter(|t| t.owner == scope.owner && !t.is_deleted() && !t.temporary)
                    .filter(|t| filter.tag.as_ref().is_none_or(|g| t.tags.contains(g)))
                    .filter(|t| filter.folder_id.is_none() || t.folder_id == filter.folder_id)?;
                Some(SearchHit {
                    thread_id: t.id,
                    thread_title: t.title.to_string(),
                    message_id: m.id,
                    role: m.role,
                    snippet: snippet(m.content.as_str(), text),
                    created_at: m.created_at,
                })
            })
            .collect();
        hits.sort_by_key(|h| std::cmp::Reverse((h.created_at, h.message_id)));
        hits.truncate(limit as usize);
        Ok(hits)
    }
}

fn snippet(content: &str, text: &str) -> String {
    let lower = content.to_lowercase();
    let Some(term) = text.split_whitespace().next().map(str::to_lowercase) else {
        return content.chars().take(64).collect();
    };
    match lower.find(&term) {
        // Lowercasing can change byte lengths; fall back to a plain excerpt when it does.
        Some(pos) if lower.len() == content.len() && content.is_char_boundary(pos + term.len()) => {
            let end = pos + term.len();
            format!(
                "{}[{}]{}",
                &content[..pos],
                &content[pos..end],
                &content[end..]
            )
        }
        _ => content.chars().take(64).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snippet_marks_the_first_term() {
        assert_eq!(snippet("Hello World", "world"), "Hello [World]");
        assert_eq!(snippet("no match here", "zebra"), "no match here");
    }
}
