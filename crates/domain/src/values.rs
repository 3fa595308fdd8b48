//! Validated value types ("parse, don't validate"): once built, a value is known to be valid.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::DomainError;

/// Size limits applied when values are parsed. Configurable; the defaults suit most deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Maximum title length, in characters.
    pub title_chars: usize,
    /// Maximum message content size, in bytes.
    pub content_bytes: usize,
    /// Maximum size of a metadata object serialized as JSON, in bytes.
    pub metadata_bytes: usize,
    /// Maximum system prompt size, in bytes.
    pub system_prompt_bytes: usize,
    /// Maximum feedback text length, in characters.
    pub feedback_chars: usize,
    /// Largest page a list may return.
    pub page_size_max: u32,
    /// Maximum request body, in bytes (JSON bodies).
    pub body_bytes: usize,
    /// Maximum import body (NDJSON or ChatGPT export), in bytes.
    pub import_bytes: usize,
    /// Largest response page, in bytes (roughly): a list stops early, with `has_more`, when its
    /// items reach this size, so no response grows with the data.
    pub page_bytes: usize,
    /// Imports running at once in this process; more get 503 `overloaded` (each holds its body).
    pub imports_at_once: usize,
    /// Maximum uploaded file size, in bytes.
    pub file_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            title_chars: 200,
            content_bytes: 256 * 1024,
            metadata_bytes: 16 * 1024,
            system_prompt_bytes: 32 * 1024,
            feedback_chars: 2000,
            page_size_max: 100,
            body_bytes: 1024 * 1024,
            import_bytes: 16 * 1024 * 1024,
            page_bytes: 512 * 1024,
            imports_at_once: 4,
            file_bytes: 10 * 1024 * 1024,
        }
    }
}

fn reject_controls(field: &'static str, s: &str, allow_newlines: bool) -> Result<(), DomainError> {
    let bad = s
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(DomainError::invalid(field, "contains control characters"));
    }
    Ok(())
}

fn check_bytes(field: &'static str, s: &str, limit: usize) -> Result<(), DomainError> {
    if s.len() > limit {
        return Err(DomainError::LimitExceeded {
            field,
            limit,
            actual: s.len(),
        });
    }
    Ok(())
}

/// Declares a string newtype with `as_str`, `into_inner`, `Display` and transparent serde.
macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
            /// Wraps a value read back from storage, which was validated when it was written
            /// (limits may have changed since, and stored data must stay readable).
            pub fn from_stored(raw: String) -> Self {
                Self(raw)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Parses a short identifier-like string: at most `max` chars and no control characters as
/// sent, not blank; stored without the whitespace at its ends. (The rules apply to the value as
/// sent, so the OpenAPI document can state them exactly.)
fn parse_identifier(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    reject_controls(field, raw, false)?;
    let chars = raw.chars().count();
    if chars > max {
        return Err(DomainError::LimitExceeded {
            field,
            limit: max,
            actual: chars,
        });
    }
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    Ok(s.to_owned())
}

/// Most characters in a text query (`q`).
pub const QUERY_TEXT_MAX: usize = 500;

/// Checks a text query (`q`): at most [`QUERY_TEXT_MAX`] characters, no control characters.
/// Gives the words without the whitespace at the ends; `None` when blank (no filter).
pub fn query_text(field: &'static str, raw: &str) -> Result<Option<String>, DomainError> {
    reject_controls(field, raw, false)?;
    if raw.chars().count() > QUERY_TEXT_MAX {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {QUERY_TEXT_MAX} characters"),
        ));
    }
    let s = raw.trim();
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

string_value!(
    /// The principal that owns a thread: a JWT subject or an anonymous session.
    Owner
);
impl Owner {
    /// Parses an owner (1..=255 characters).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("owner", raw, 255).map(Self)
    }
}

string_value!(
    /// An organization id (1..=255 characters).
    OrgId
);
impl OrgId {
    /// Parses an org id.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("org_id", raw, 255).map(Self)
    }
}

string_value!(
    /// A client-chosen thread id, unique per owner (1..=255 characters).
    ExternalId
);
impl ExternalId {
    /// Parses an external id.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("external_id", raw, 255).map(Self)
    }
}

string_value!(
    /// Identifies a document a thread is about (1..=255 characters).
    DocumentId
);
impl DocumentId {
    /// Parses a document id.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("document_id", raw, 255).map(Self)
    }
}

string_value!(
    /// A model name as the model server knows it (1..=200 characters).
    ModelName
);
impl ModelName {
    /// Parses a model name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("model", raw, 200).map(Self)
    }
}

string_value!(
    /// Which product or assistant a thread belongs to: lowercase `[a-z0-9][a-z0-9_.-]{0,63}`.
    ProductName
);
impl ProductName {
    /// Parses a product name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || (i > 0 && matches!(b, b'_' | b'.' | b'-'))
            });
        if !ok {
            return Err(DomainError::invalid(
                "product",
                "must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_value!(
    /// A tag on a thread: 1-64 characters, no control characters, trimmed; tags are named per
    /// owner and compared exactly.
    Tag
);
impl Tag {
    /// Most tags on one thread.
    pub const MAX_PER_THREAD: usize = 32;

    /// Parses a tag.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("tags", raw, 64).map(Self)
    }

    /// Parses a thread's tags: at most [`Self::MAX_PER_THREAD`], duplicates dropped, in the
    /// order given.
    pub fn parse_all(raw: &[String]) -> Result<Vec<Self>, DomainError> {
        if raw.len() > Self::MAX_PER_THREAD {
            return Err(DomainError::LimitExceeded {
                field: "tags",
                limit: Self::MAX_PER_THREAD,
                actual: raw.len(),
            });
        }
        let mut tags: Vec<Self> = Vec::with_capacity(raw.len());
        for t in raw {
            let tag = Self::parse(t)?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(tags)
    }

    /// `tags` with `from` renamed to `to`, in place, each tag once (a thread that had both
    /// keeps one: the two merge).
    pub fn renamed(tags: Vec<Self>, from: &Self, to: &Self) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::with_capacity(tags.len());
        for t in tags {
            let t = if &t == from { to.clone() } else { t };
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

string_value!(
    /// A folder's name: 1-128 characters, no control characters, trimmed; unique per owner.
    FolderName
);
impl FolderName {
    /// Parses a folder name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_identifier("name", raw, 128).map(Self)
    }
}

string_value!(
    /// A thread title: trimmed, no control characters, at most `Limits::title_chars`.
    Title
);
impl Title {
    /// Parses a title. An empty title is allowed (untitled threads are common).
    pub fn parse(raw: &str, limits: &Limits) -> Result<Self, DomainError> {
        reject_controls("title", raw, false)?;
        let chars = raw.chars().count();
        if chars > limits.title_chars {
            return Err(DomainError::LimitExceeded {
                field: "title",
                limit: limits.title_chars,
                actual: chars,
            });
        }
        Ok(Self(raw.trim().to_owned()))
    }
}

string_value!(
    /// Message content, at most `Limits::content_bytes`. May be empty (a reply that failed at once).
    Content
);
impl Content {
    /// Parses message content.
    pub fn parse(raw: String, limits: &Limits) -> Result<Self, DomainError> {
        check_bytes("content", &raw, limits.content_bytes)?;
        if raw.contains('\0') {
            return Err(DomainError::invalid("content", "contains a NUL character"));
        }
        Ok(Self(raw))
    }
}

string_value!(
    /// A system prompt, at most `Limits::system_prompt_bytes`.
    SystemPrompt
);
impl SystemPrompt {
    /// Parses a system prompt.
    pub fn parse(raw: String, limits: &Limits) -> Result<Self, DomainError> {
        check_bytes("system_prompt", &raw, limits.system_prompt_bytes)?;
        reject_controls("system_prompt", &raw, true)?;
        Ok(Self(raw))
    }
}

string_value!(
    /// Free text attached to a thumbs up/down, at most `Limits::feedback_chars`.
    FeedbackText
);
impl FeedbackText {
    /// Parses feedback text.
    pub fn parse(raw: &str, limits: &Limits) -> Result<Self, DomainError> {
        let chars = raw.chars().count();
        if chars > limits.feedback_chars {
            return Err(DomainError::LimitExceeded {
                field: "feedback_text",
                limit: limits.feedback_chars,
                actual: chars,
            });
        }
        reject_controls("feedback_text", raw, true)?;
        Ok(Self(raw.to_owned()))
    }
}

string_value!(
    /// An emoji reaction: exactly one grapheme cluster that is an emoji.
    Reaction
);
impl Reaction {
    /// Parses a reaction such as "👍", "❤️" or "👩‍💻".
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let mut graphemes = raw.graphemes(true);
        let (Some(g), None) = (graphemes.next(), graphemes.next()) else {
            return Err(DomainError::invalid(
                "reaction",
                "must be exactly one emoji",
            ));
        };
        if g.len() > 32 || !g.chars().any(is_emoji_char) {
            return Err(DomainError::invalid(
                "reaction",
                "must be exactly one emoji",
            ));
        }
        let allowed = g.chars().all(|c| {
            is_emoji_char(c)
                || matches!(c, '\u{200D}' | '\u{FE0F}' | '\u{20E3}')
                || ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)
                || ('\u{E0020}'..='\u{E007F}').contains(&c)
                || c.is_ascii_digit()
                || matches!(c, '#' | '*')
        });
        if !allowed {
            return Err(DomainError::invalid(
                "reaction",
                "must be exactly one emoji",
            ));
        }
        Ok(Self(g.to_owned()))
    }
}

/// Code points in the Unicode blocks that hold pictographic emoji.
fn is_emoji_char(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}'   // mahjong .. symbols and pictographs extended-A
        | '\u{2600}'..='\u{27BF}'   // misc symbols, dingbats
        | '\u{2300}'..='\u{23FF}'   // misc technical (⌚, ⏰)
        | '\u{2B00}'..='\u{2BFF}'   // arrows, ⭐
        | '\u{2190}'..='\u{21FF}'   // arrows
        | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}' | '\u{00A9}' | '\u{00AE}'
        | '\u{2122}' | '\u{2139}' | '\u{24C2}' | '\u{2934}' | '\u{2935}' | '\u{203C}' | '\u{2049}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_limited() {
        let limits = Limits {
            title_chars: 5,
            ..Limits::default()
        };
        // The limit applies to the title as sent (what the OpenAPI maxLength states); the ends
        // are trimmed when stored.
        assert_eq!(Title::parse(" hi  ", &limits).unwrap().as_str(), "hi");
        assert!(Title::parse("  hello ", &limits).is_err());
        assert!(
            Title::parse("\thi", &limits).is_err(),
            "a control character, even at an end"
        );
        assert!(matches!(
            Title::parse("toolong", &limits),
            Err(DomainError::LimitExceeded {
                field: "title",
                limit: 5,
                actual: 7
            })
        ));
        assert!(Title::parse("a\u{7}b", &limits).is_err());
        // Characters, not bytes, are counted.
        assert!(Title::parse("ééééé", &limits).is_ok());
    }

    #[test]
    fn content_is_limited_in_bytes() {
        let limits = Limits {
            content_bytes: 4,
            ..Limits::default()
        };
        assert!(Content::parse("abcd".into(), &limits).is_ok());
        assert!(matches!(
            Content::parse("ééé".into(), &limits),
            Err(DomainError::LimitExceeded {
                field: "content",
                ..
            })
        ));
        assert!(Content::parse("a\0".into(), &limits).is_err());
        assert!(Content::parse("line\nbreak".into(), &Limits::default()).is_ok());
    }

    #[test]
    fn product_names_are_slugs() {
        for ok in ["co_pilot", "doc-creator", "a", "v1.2"] {
            assert!(ProductName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Co_Pilot", "_x", "with space", &"x".repeat(65), "ü"] {
            assert!(ProductName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reactions_are_single_emoji() {
        for ok in ["👍", "❤️", "👩‍💻", "🇫🇷", "👍🏽", "🔥", "⭐"] {
            assert!(Reaction::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "👍👍", ":+1:", "👍 ", "ok"] {
            assert!(Reaction::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identifiers_refuse_empty_and_controls() {
        assert!(Owner::parse("alice").is_ok());
        assert!(Owner::parse("  ").is_err());
        assert!(OrgId::parse("a\nb").is_err());
        assert!(ExternalId::parse(&"x".repeat(256)).is_err());
        assert_eq!(DocumentId::parse(" doc-1 ").unwrap().as_str(), "doc-1");
    }

    #[test]
    fn feedback_text_is_limited() {
        let limits = Limits {
            feedback_chars: 3,
            ..Limits::default()
        };
        assert!(FeedbackText::parse("abc", &limits).is_ok());
        assert!(FeedbackText::parse("abcd", &limits).is_err());
    }
}
