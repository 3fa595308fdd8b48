//! The few places where the two SQL dialects differ: bind placeholders and full-text search.

use std::borrow::Cow;

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35+ (bundled).
    Sqlite,
    /// PostgreSQL 13+.
    Postgres,
}

impl Dialect {
    /// Rewrites `?` placeholders as `$1, $2, ...` for PostgreSQL. Raw queries are written with
    /// `?` and never contain a literal question mark.
    pub fn sql(self, query: &str) -> Cow<'_, str> {
        match self {
            Self::Sqlite => Cow::Borrowed(query),
            Self::Postgres => {
                let mut out = String::with_capacity(query.len() + 8);
                let mut n = 0;
                for ch in query.chars() {
                    if ch == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(ch);
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// A condition matching threads whose title contains every word of the query bound
    /// between the two halves returned.
    pub fn title_match(self) -> (&'static str, &'static str) {
        match self {
            Self::Sqlite => (
                "threads.seq IN (SELECT rowid FROM threads_fts WHERE threads_fts MATCH ",
                ")",
            ),
            Self::Postgres => ("(threads.title_tsv @@ to_tsquery('simple', ", "))"),
        }
    }

    /// A condition matching messages whose content contains every word of the query bound
    /// between the two halves returned.
    pub fn content_match(self) -> (&'static str, &'static str) {
        match self {
            Self::Sqlite => (
                "messages.seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ",
                ")",
            ),
            Self::Postgres => ("(messages.content_tsv @@ to_tsquery('simple', ", "))"),
        }
    }

    /// Full-text search over live messages of an owner's live, listed threads, newest first,
    /// before a keyset position: binds (the query first for PostgreSQL's headline), owner,
    /// query, the tag twice, the folder twice, from twice, to twice (each filter `NULL` when
    /// unset), the position's time twice and id, and the limit.
    pub fn message_search(self) -> String {
        let (snippet, from, matches) = match self {
            Self::Sqlite => (
                "snippet(messages_fts, 0, '[', ']', '…', 16)",
                "messages_fts JOIN messages m ON m.seq = messages_fts.rowid",
                "messages_fts MATCH ?",
            ),
            Self::Postgres => (
                "ts_headline('simple', m.content, to_tsquery('simple', ?), \
                 'StartSel=[, StopSel=], MaxWords=24, MinWords=8')",
                "messages m",
                "m.content_tsv @@ to_tsquery('simple', ?)",
            ),
        };
        self.sql(&format!(
            "SELECT m.id AS message_id, m.thread_id AS thread_id, t.title AS thread_title, \
             m.role AS role, m.created_at AS created_at, {snippet} AS snippet \
             FROM {from} JOIN threads t ON t.id = m.thread_id \
             WHERE t.owner = ? AND {matches} \
             AND m.deleted_at IS NULL AND m.tombstoned_at IS NULL \
             AND t.deleted_at IS NULL AND NOT t.temporary \
             AND (? IS NULL OR EXISTS (SELECT 1 FROM thread_tags g \
                  WHERE g.thread_id = t.id AND g.tag = ?)) \
             AND (? IS NULL OR t.folder_id = ?) \
             AND (? IS NULL OR m.created_at >= ?) \
             AND (? IS NULL OR m.created_at < ?) \
             AND (m.created_at < ? OR (m.created_at = ? AND m.id < ?)) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT ?"
        ))
        .into_owned()
    }

    /// Turns free text into this dialect's full-text query, every word a prefix (`lisb` finds
    /// "Lisbon"), all words required. For SQLite every word becomes a quoted FTS5 prefix
    /// string (`"lisb"*`, so operators and punctuation are literal); for PostgreSQL a
    /// `to_tsquery` of `lisb:* & …` (words are letters and digits only, so nothing else can
    /// reach the query syntax). `None` when no word is left.
    pub fn fts_query(self, text: &str) -> Option<String> {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return None;
        }
        Some(match self {
            Self::Sqlite => words
                .iter()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" "),
            Self::Postgres => words
                .iter()
                .map(|w| format!("{}:*", w.to_lowercase()))
                .collect::<Vec<_>>()
                .join(" & "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            Dialect::Postgres.sql("a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(Dialect::Sqlite.sql("a = ?"), "a = ?");
    }

    #[test]
    fn fts_queries_quote_words_and_drop_operators() {
        assert_eq!(
            Dialect::Sqlite.fts_query("budget* OR (x").as_deref(),
            Some("\"budget\"* \"OR\"* \"x\"*")
        );
        assert_eq!(
            Dialect::Postgres.fts_query("Hello, wor").as_deref(),
            Some("hello:* & wor:*")
        );
        assert_eq!(Dialect::Sqlite.fts_query("\"(*"), None);
    }
}
