//! The typed parts of an agent's turn that are not plain text: the tools an assistant message
//! calls, the results a tool message gives back, and the model's reasoning. A message's text
//! stays in `content`; these sit beside it in `parts`. The pairing rules (a result answers a
//! call on its path, once) are in [`crate::pairing`].
//!
//! Tools the service runs itself (over MCP) are answered inside the reply that called them: its
//! parts hold each call followed by its result, round after round, and only calls without a
//! result in the same message ([`open_calls`]) wait for results from the caller.

use serde::{Deserialize, Serialize};

/// Most parts one message may hold.
pub const MAX_PARTS: usize = 128;
/// Longest call id or tool name.
pub(crate) const ID_CHARS: usize = 128;

/// One typed part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    /// A tool the assistant calls (assistant messages).
    ToolCall {
        /// The call's id, which its result names.
        call_id: String,
        /// The tool.
        name: String,
        /// Its arguments, JSON text, kept as the model wrote them (even when they do not
        /// parse).
        arguments: String,
        /// The MCP server that ran it, for a tool the service runs; absent for the caller's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
    },
    /// A tool's answer to a call (tool messages).
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// What the tool returned: a string, or any JSON value.
        output: serde_json::Value,
        /// Whether the tool failed (the output then says how).
        #[serde(default)]
        is_error: bool,
    },
    /// The model's reasoning before it answered (assistant messages).
    Reasoning {
        /// Readable reasoning or its summary.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// The provider's opaque (encrypted) reasoning, kept as given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

impl Part {
    /// The wire name of its type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ToolCall { .. } => "tool_call",
            Self::ToolResult { .. } => "tool_result",
            Self::Reasoning { .. } => "reasoning",
        }
    }

    /// The call it makes or answers.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Self::ToolCall { call_id, .. } | Self::ToolResult { call_id, .. } => Some(call_id),
            Self::Reasoning { .. } => None,
        }
    }

    /// A result's output as the model reads it: the string itself, else the JSON text.
    pub fn output_text(output: &serde_json::Value) -> String {
        match output {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// The calls of `parts` that no result in `parts` answers: (call id, name, arguments).
pub fn open_calls(parts: &[Part]) -> impl Iterator<Item = (&str, &str, &str)> {
    parts.iter().filter_map(move |p| match p {
        Part::ToolCall {
            call_id,
            name,
            arguments,
            ..
        } if !parts
            .iter()
            .any(|r| matches!(r, Part::ToolResult { call_id: c, .. } if c == call_id)) =>
        {
            Some((call_id.as_str(), name.as_str(), arguments.as_str()))
        }
        _ => None,
    })
}

/// Replaces NUL characters (which no database stores) in text a model wrote.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}
