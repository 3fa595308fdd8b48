//! Tools the service runs itself, on MCP servers named in the configuration: the port to them
//! ([`ToolServers`]), and which servers a request may name (the catalog's allowlists, like
//! models'). The loop that offers their tools, runs the calls and feeds the results back lives
//! in the reply task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::replies::llm::ToolDef;

/// What a tool returned: its text (or JSON text), and whether it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The output as the model reads it.
    pub text: String,
    /// Whether the tool reported a failure.
    pub is_error: bool,
}

/// A boxed future of the port.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// MCP servers, by their configured names. Errors are short texts fit for the model and the
/// log (no secrets: header values never appear in them).
pub trait ToolServers: Send + Sync + 'static {
    /// The tools a server offers (only those the configuration allows).
    fn tools<'a>(&'a self, server: &'a str) -> Pending<'a, Vec<ToolDef>>;

    /// Runs a tool with its arguments (a JSON object).
    fn call<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Pending<'a, ToolOutput>;
}

/// The shared servers.
pub type SharedToolServers = Arc<dyn ToolServers>;

/// A server a request names, and optionally which of its tools it wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct McpUse {
    /// The configured server's name (`[mcp.servers.NAME]`).
    pub server: String,
    /// Only these of its tools (all when `None`).
    pub tools: Option<Vec<String>>,
}

impl McpUse {
    /// Whether this use offers `tool`.
    pub fn offers(&self, tool: &str) -> bool {
        self.tools
            .as_ref()
            .is_none_or(|only| only.iter().any(|t| t == tool))
    }
}

/// The longest tool output kept and given to the model; the rest is cut and the cut marked.
pub fn bounded(text: String, most: usize) -> String {
    if text.len() <= most {
        return text;
    }
    let mut end = most.saturating_sub(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[cut: the tool's output was over {most} bytes]",
        &text[..end]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_over_the_limit_are_cut_and_marked() {
        assert_eq!(bounded("short".into(), 100), "short");
        let cut = bounded("é".repeat(200), 100);
        assert!(cut.len() < 160 && cut.ends_with("over 100 bytes]"), "{cut}");
    }

    #[test]
    fn a_use_narrows_the_servers_tools() {
        let all = McpUse {
            server: "files".into(),
            tools: None,
        };
        assert!(all.offers("read"));
        let some = McpUse {
            tools: Some(vec!["read".into()]),
            ..all
        };
        assert!(some.offers("read") && !some.offers("write"));
    }
}
