//! A real MCP server for the tests: `mcp_server.py` (the `mcp` package's streamable HTTP
//! server) on a free port, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The running server.
pub struct McpServer {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
}

impl McpServer {
    /// Starts it with the tools' python and waits until it listens.
    pub fn start(python: &Path) -> McpServer {
        let mut child = Command::new(python)
            .arg(super::repo().join("tests/support/mcp_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        break port.trim().to_owned();
                    }
                }
                _ => panic!("the MCP test server did not start"),
            }
        };
        McpServer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }

    /// Stops it (a server that went away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
