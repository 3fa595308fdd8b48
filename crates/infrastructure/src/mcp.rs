//! MCP servers over streamable HTTP, through the official Rust SDK (`rmcp`): the
//! [`ToolServers`] port of the application. One client session per server, opened on first
//! use and opened again after it breaks; its tools listed (and narrowed to the configured
//! allowlist) and called with the reply's arguments.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chat_threads_application::replies::llm::ToolDef;
use chat_threads_application::replies::mcp::{Pending, ToolOutput, ToolServers};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::sync::Mutex;

use crate::config::McpServerSettings;

/// How long opening a session may take.
const CONNECT: Duration = Duration::from_secs(10);

/// One configured server.
#[derive(Debug, Clone)]
struct Server {
    url: String,
    headers: reqwest::header::HeaderMap,
    allowed_tools: Vec<String>,
}

/// The configured MCP servers and their open sessions.
pub struct McpServers {
    servers: BTreeMap<String, Server>,
    sessions: Mutex<HashMap<String, RunningService<RoleClient, ClientConfig>>>,
}

impl std::fmt::Debug for McpServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServers")
            .field("servers", &self.servers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl McpServers {
    /// The servers of `[mcp.servers]`; a header's value is read from the environment variable
    /// the configuration names (a missing variable or a value that is not a header is an
    /// error naming the setting, never its value).
    pub fn new(settings: &BTreeMap<String, McpServerSettings>) -> Result<Self, String> {
        let mut servers = BTreeMap::new();
        for (name, s) in settings {
            let mut headers = reqwest::header::HeaderMap::new();
            for (header, var) in &s.headers {
                let value = std::env::var(var).map_err(|_| {
                    format!("mcp.servers.{name}.headers.{header}: the variable {var} is not set")
                })?;
                // `_` is read as `-`: environment variables cannot name `x-api-key`.
                let header = header.replace('_', "-");
                let header =
                    reqwest::header::HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                        format!("mcp.servers.{name}.headers: {header:?} is no header name")
                    })?;
                let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    format!(
                        "mcp.servers.{name}.headers.{header}: the value of {var} is no header value"
                    )
                })?;
                headers.insert(header, value);
            }
            url::Url::parse(&s.url).map_err(|e| format!("mcp.servers.{name}.url: {e}"))?;
            servers.insert(
                name.clone(),
                Server {
                    url: s.url.clone(),
                    headers,
                    allowed_tools: s.allowed_tools.clone(),
                },
            );
        }
        Ok(Self {
            servers,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The configured names.
    pub fn names(&self) -> Vec<String> {
        self.servers.keys().cloned().collect()
    }

    fn server(&self, name: &str) -> Result<&Server, String> {
        self.servers
            .get(name)
            .ok_or_else(|| format!("no MCP server is named {name}"))
    }

    /// A session with `name`, opened if there is none.
    async fn peer(&self, name: &str) -> Result<Peer<RoleClient>, String> {
        let server = self.server(name)?;
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.get(name).filter(|s| !s.is_closed()) {
            return Ok(s.peer().clone());
        }
        // Opened in a task of its own: the session outlives the reply that opens it, and rmcp
        // makes its workers' spans under the current one — they would hold that reply's span
        // (and the request's above it) open for the session's life. A new task has no span.
        let (owned, url, headers) = (name.to_owned(), server.url.clone(), server.headers.clone());
        let session = tokio::spawn(async move { open_session(&owned, &url, headers).await })
            .await
            .map_err(|e| format!("opening a session with MCP server {name} failed: {e}"))??;
        let peer = session.peer().clone();
        sessions.insert(name.to_owned(), session);
        Ok(peer)
    }

    /// Forgets a broken session, so the next use opens another.
    async fn forget(&self, name: &str) {
        self.sessions.lock().await.remove(name);
    }
}

/// Opens a session with the MCP server `name` at `url`, sending `headers` with every request.
async fn open_session(
    name: &str,
    url: &str,
    headers: reqwest::header::HeaderMap,
) -> Result<RunningService<RoleClient, ClientConfig>, String> {
    // The TLS provider must be there before any client is built (with no model server
    // configured, nothing else has installed it yet).
    crate::tls::install();
    let http = reqwest::Client::builder()
        .default_headers(headers)
        // Small JSON-RPC writes leave at once, not after the peer's delayed ACK.
        .tcp_nodelay(true)
        // A fresh connection per request, as rmcp's own client does: on a reused one, a
        // server that writes its head and body apart (uvicorn) makes each answer wait
        // ~40 ms for this side's delayed ACK.
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    // The newest version with the initialize handshake, which every server of 2025 and
    // later answers.
    let me = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("chat-threads", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
    let session = tokio::time::timeout(CONNECT, me.serve(transport))
        .await
        .map_err(|_| {
            format!(
                "MCP server {name} did not answer within {} s",
                CONNECT.as_secs()
            )
        })?
        .map_err(|e| format!("cannot open a session with MCP server {name}: {e}"))?;
    Ok(session)
}

impl ToolServers for McpServers {
    fn tools<'a>(&'a self, server: &'a str) -> Pending<'a, Vec<ToolDef>> {
        Box::pin(async move {
            let allowed = &self.server(server)?.allowed_tools;
            let peer = self.peer(server).await?;
            let tools = match peer.list_all_tools().await {
                Ok(t) => t,
                Err(e) => {
                    self.forget(server).await;
                    return Err(format!(
                        "listing the tools of MCP server {server} failed: {e}"
                    ));
                }
            };
            Ok(tools
                .into_iter()
                .filter(|t| allowed.is_empty() || allowed.iter().any(|a| a == t.name.as_ref()))
                .map(|t| ToolDef {
                    name: t.name.to_string(),
                    description: t.description.map(|d| d.to_string()),
                    parameters: serde_json::Value::Object((*t.input_schema).clone()),
                    strict: None,
                })
                .collect())
        })
    }

    fn call<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Pending<'a, ToolOutput> {
        Box::pin(async move {
            let allowed = &self.server(server)?.allowed_tools;
            if !allowed.is_empty() && !allowed.iter().any(|a| a == tool) {
                return Err(format!(
                    "{tool} is not an allowed tool of MCP server {server}"
                ));
            }
            let peer = self.peer(server).await?;
            let request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
            let result = match peer.call_tool(request).await {
                Ok(r) => r,
                Err(rmcp::ServiceError::McpError(e)) => {
                    // The server refused the call (an unknown tool, bad arguments): the model
                    // reads why.
                    return Ok(ToolOutput {
                        text: e.message.to_string(),
                        is_error: true,
                    });
                }
                Err(e) => {
                    self.forget(server).await;
                    return Err(format!("calling {tool} on MCP server {server} failed: {e}"));
                }
            };
            let texts: Vec<&str> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                .collect();
            let text = match (&result.structured_content, texts.is_empty()) {
                (Some(v), true) => v.to_string(),
                _ => texts.join("\n"),
            };
            Ok(ToolOutput {
                text,
                is_error: result.is_error == Some(true),
            })
        })
    }
}
