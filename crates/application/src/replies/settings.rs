//! What replies are configured with: `[replies]` as the configuration holds it, and the few
//! values replies take from other sections.

use std::time::Duration;

use super::titles;

/// `[replies]` as configured: the configuration deserializes into it (config/default.toml
/// documents every key).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepliesSettings {
    /// Token budget of the prompt (system prompt, summary and recent messages).
    pub context_tokens: usize,
    /// At most this many recent messages of the path go into the prompt.
    pub context_messages: u32,
    /// Upper bound on a reply's tokens sent to the model, if any.
    pub reply_max_tokens: Option<u32>,
    /// Daily token quota per principal (prompt + completion); `None` = unlimited.
    pub daily_token_quota: Option<u64>,
    /// How often a reply's text is written to the database while it streams, ms.
    pub flush_interval_ms: u64,
    /// How long a finished reply's events stay available for resuming, s.
    pub retention_secs: u64,
    /// A reply untouched this long while `streaming` is considered dead, s.
    pub stale_after_secs: u64,
    /// How often replies of stopped instances are looked for, s.
    pub orphan_check_secs: u64,
    /// How long a stopping instance lets running replies finish, s.
    pub shutdown_grace_secs: u64,
    /// Keep-alive comment interval of idle SSE streams, s.
    pub sse_keepalive_secs: u64,
    /// Instruction given to the model to write a summary.
    pub summary_prompt: String,
    /// System prompt when the thread has none and its product has none.
    pub default_system_prompt: Option<String>,
    /// System prompts per product.
    pub products: std::collections::BTreeMap<String, String>,
}

impl RepliesSettings {
    /// How often a reply's text is written while it streams.
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// How long a finished reply's events stay available for resuming.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }

    /// A reply untouched this long while `streaming` is considered dead.
    pub fn stale_after(&self) -> Duration {
        Duration::from_secs(self.stale_after_secs)
    }

    /// Keep-alive comment interval of idle SSE streams.
    pub fn sse_keepalive(&self) -> Duration {
        Duration::from_secs(self.sse_keepalive_secs)
    }
}

/// What replies need: `[replies]` whole, and what they take from other sections.
#[derive(Debug, Clone, Default)]
pub struct ReplySettings {
    /// `[replies]`.
    pub replies: RepliesSettings,
    /// Maximum reply size in bytes (`limits.content_bytes`).
    pub max_reply_bytes: usize,
    /// Prices and balances (`[billing]`).
    pub billing: crate::billing::BillingSettings,
    /// Tokens of an attached text file (or a PDF's text) given to the model; the rest is cut,
    /// and the cut marked (`files.inline_tokens`).
    pub inline_tokens: usize,
    /// Most rounds of MCP tool calls one reply runs before the model must answer (0: MCP
    /// tools are never offered; `mcp.max_tool_rounds`).
    pub max_tool_rounds: u32,
    /// How long one MCP tool call may take; then it is an error result the model sees
    /// (`mcp.call_timeout_secs`).
    pub tool_call_timeout: Duration,
    /// Titles of untitled threads (`[titles]`; off by default here, on in the server's
    /// configuration).
    pub titles: titles::TitleSettings,
}

impl ReplySettings {
    /// Most tokens a reply may have: what the caller asked for, never above `reply_max_tokens`.
    pub(crate) fn max_tokens(&self, asked: Option<u32>) -> Option<u32> {
        match (asked, self.replies.reply_max_tokens) {
            (Some(asked), Some(most)) => Some(asked.min(most)),
            (asked, most) => asked.or(most),
        }
    }
}
