//! Settings: the built-in `config/default.toml`, then an optional file, then
//! `CHAT_THREADS__SECTION__KEY` environment variables. Unknown keys are refused.
//!
//! One file on purpose: it is the schema of `config/default.toml`, section by section, with the
//! checks that refuse a bad configuration at start-up; splitting it would scatter one document.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use chat_threads_domain::Limits;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::db::{DatabaseUrl, PoolOptions};

/// The defaults, documented line by line.
pub const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "CHAT_THREADS__";

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Input size limits.
    pub limits: Limits,
    /// Authentication.
    pub auth: AuthSettings,
    /// Rate limits.
    pub rate_limit: RateLimitSettings,
    /// Model providers and allowlists.
    pub models: ModelsSettings,
    /// Replies: context, quotas, timers, prompts (`[replies]`; `[generation]` is its old
    /// name, still read).
    pub replies: chat_threads_application::replies::RepliesSettings,
    /// Prices and balances.
    pub billing: chat_threads_application::billing::BillingSettings,
    /// Uploaded files.
    pub files: FilesConfig,
    /// WebSocket limits.
    pub websocket: chat_threads_application::live::WebSocketSettings,
    /// Tools the service runs on MCP servers.
    pub mcp: McpSettings,
    /// Threads (temporary ones).
    pub threads: ThreadsConfig,
    /// Titles written by a model.
    pub titles: chat_threads_application::replies::titles::TitleSettings,
    /// How long deleted things stay restorable.
    pub retention: RetentionConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// The change feed.
    pub events: EventsConfig,
    /// Webhooks.
    pub webhooks: WebhooksConfig,
    /// Logging.
    pub log: LogSettings,
    /// OpenTelemetry traces.
    pub telemetry: TelemetryConfig,
    /// `/openai/v1` defaults.
    pub openai: chat_threads_application::replies::OpenAiDefaults,
}

/// Model settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsSettings {
    /// The default model.
    pub default: String,
    /// The built-in echo model.
    pub echo: EchoSettings,
    /// OpenAI-compatible providers by name.
    pub providers: std::collections::BTreeMap<String, ModelProviderSettings>,
    /// Allowlists.
    pub allow: AllowSettings,
    /// Prices per model.
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, PriceSettings>,
    /// Models that accept images.
    #[serde(default)]
    pub vision: Vec<String>,
    /// Timeouts and retries.
    pub http: ModelHttpSettings,
}

/// A model's prices, in the smallest currency unit per million tokens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    /// Per million prompt tokens.
    pub input_per_million: u64,
    /// Per million completion tokens.
    pub output_per_million: u64,
}

/// Threads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsConfig {
    /// How long a temporary thread lives, s.
    pub temporary_ttl_secs: u64,
    /// Memory for rendered first pages of active paths, bytes (0: none kept).
    pub page_cache_bytes: usize,
}

/// Deleted messages and threads: restorable for a window, then forgotten by the sweeper.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// How long a deleted message or thread stays restorable, s.
    pub restore_window_secs: u64,
    /// Rows per sweep transaction.
    pub sweep_batch: u32,
}

/// The echo model.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoSettings {
    /// On or off.
    pub enabled: bool,
    /// Delay between words, ms.
    pub delay_ms: u64,
}

/// One OpenAI-compatible provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelProviderSettings {
    /// API base, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Models served.
    pub models: Vec<String>,
}

/// Model allowlists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSettings {
    /// For principals whose org has no list.
    pub default: Vec<String>,
    /// Per org.
    pub orgs: std::collections::BTreeMap<String, Vec<String>>,
    /// Per scope.
    pub scopes: std::collections::BTreeMap<String, Vec<String>>,
}

/// HTTP behaviour towards model servers.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelHttpSettings {
    /// Connect timeout, s.
    pub connect_timeout_secs: u64,
    /// Read timeout, s.
    pub read_timeout_secs: u64,
    /// Retries before the first token.
    pub retries: u32,
    /// First backoff, ms.
    pub retry_backoff_ms: u64,
}

/// MCP servers whose tools replies may run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    /// Most rounds of tool calls one reply runs.
    pub max_tool_rounds: u32,
    /// How long one tool call may take, s.
    pub call_timeout_secs: u64,
    /// Who may name which servers.
    pub allow: AllowSettings,
    /// The servers by name.
    #[serde(default)]
    pub servers: std::collections::BTreeMap<String, McpServerSettings>,
}

/// One MCP server (streamable HTTP).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSettings {
    /// Its endpoint, e.g. `http://127.0.0.1:9000/mcp`.
    pub url: String,
    /// Headers sent with every request: header name (`_` read as `-`) → the NAME of the
    /// environment variable holding its value.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Only these of its tools (empty: all).
    #[serde(default)]
    pub allowed_tools: Vec<String>,
}

/// A secret string: never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the code that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `iss`/`aud` of own tokens.
    pub self_issuer: String,
    /// Clock skew tolerance, seconds.
    pub leeway_secs: u64,
    /// Whether people may erase themselves (`DELETE /v1/me`).
    pub self_erasure: bool,
    /// Configured HS256 secret; generated and stored in the database when absent.
    pub hs256_secret: Option<Secret>,
    /// The identity provider.
    pub provider: ProviderSettings,
    /// Claim names in provider tokens.
    pub claims: crate::auth::ClaimNames,
    /// Built-in accounts.
    pub accounts: chat_threads_application::accounts::AccountSettings,
    /// Anonymous sessions.
    pub sessions: chat_threads_application::accounts::SessionSettings,
}

/// Identity provider settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// HS256, RS256 or ES256.
    pub algorithm: crate::auth::ProviderAlgorithm,
    /// PEM public key file.
    pub public_key_file: Option<std::path::PathBuf>,
    /// JWKS file.
    pub jwks_file: Option<std::path::PathBuf>,
    /// Required issuer.
    pub issuer: Option<String>,
    /// Required audience.
    pub audience: Option<String>,
}

/// Rate limit settings.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// On or off.
    pub enabled: bool,
    /// Sustained requests per minute per principal.
    pub per_principal_per_minute: u32,
    /// Burst per principal.
    pub per_principal_burst: u32,
    /// Sustained requests per minute per IP.
    pub per_ip_per_minute: u32,
    /// Burst per IP.
    pub per_ip_burst: u32,
    /// Use X-Forwarded-For for the client IP.
    pub trust_forwarded_for: bool,
    /// Login attempts per minute for one account (by e-mail), and how many may come at once.
    pub login_per_account_per_minute: u32,
    /// Burst of login attempts per account.
    pub login_per_account_burst: u32,
    /// How often instances on PostgreSQL tell each other what they spent, ms.
    pub cluster_sync_ms: u64,
}

impl Settings {
    /// Refuses values below what works, naming the key: a configured 0 is an error, never
    /// quietly taken as 1.
    fn minimums(&self) -> Result<(), ConfigError> {
        let r = &self.replies;
        let w = &self.websocket;
        let l = &self.rate_limit;
        let checks: [(&str, u64, u64); 38] = [
            ("rate_limit.cluster_sync_ms", l.cluster_sync_ms, 10),
            ("audit.retention_days", self.audit.retention_days.into(), 1),
            (
                "events.retention_days",
                self.events.retention_days.into(),
                1,
            ),
            ("webhooks.timeout_secs", self.webhooks.timeout_secs, 1),
            ("webhooks.backoff_ms", self.webhooks.backoff_ms, 1),
            (
                "webhooks.retry_window_secs",
                self.webhooks.retry_window_secs,
                1,
            ),
            (
                "webhooks.disable_after",
                self.webhooks.disable_after.into(),
                1,
            ),
            ("webhooks.interval_ms", self.webhooks.interval_ms, 10),
            ("webhooks.lease_secs", self.webhooks.lease_secs, 2),
            (
                "threads.temporary_ttl_secs",
                self.threads.temporary_ttl_secs,
                1,
            ),
            (
                "retention.restore_window_secs",
                self.retention.restore_window_secs,
                1,
            ),
            (
                "retention.sweep_batch",
                self.retention.sweep_batch.into(),
                1,
            ),
            ("titles.max_chars", self.titles.max_chars as u64, 8),
            ("server.head_timeout_secs", self.server.head_timeout_secs, 1),
            (
                "server.write_buffer_bytes",
                self.server.write_buffer_bytes as u64,
                1024,
            ),
            (
                "auth.sessions.purge_interval_secs",
                self.auth.sessions.purge_interval_secs,
                1,
            ),
            ("replies.context_messages", r.context_messages.into(), 1),
            ("replies.flush_interval_ms", r.flush_interval_ms, 50),
            ("replies.stale_after_secs", r.stale_after_secs, 1),
            ("replies.orphan_check_secs", r.orphan_check_secs, 1),
            ("replies.sse_keepalive_secs", r.sse_keepalive_secs, 1),
            ("mcp.call_timeout_secs", self.mcp.call_timeout_secs, 1),
            ("websocket.queue", w.queue as u64, 1),
            ("websocket.heartbeat_secs", w.heartbeat_secs, 1),
            ("websocket.idle_timeout_secs", w.idle_timeout_secs, 1),
            ("websocket.auth_timeout_secs", w.auth_timeout_secs, 1),
            (
                "rate_limit.per_principal_per_minute",
                l.per_principal_per_minute.into(),
                1,
            ),
            (
                "rate_limit.per_principal_burst",
                l.per_principal_burst.into(),
                1,
            ),
            (
                "rate_limit.per_ip_per_minute",
                l.per_ip_per_minute.into(),
                1,
            ),
            ("rate_limit.per_ip_burst", l.per_ip_burst.into(), 1),
            (
                "rate_limit.login_per_account_per_minute",
                l.login_per_account_per_minute.into(),
                1,
            ),
            (
                "rate_limit.login_per_account_burst",
                l.login_per_account_burst.into(),
                1,
            ),
            (
                "limits.imports_at_once",
                self.limits.imports_at_once as u64,
                1,
            ),
            ("limits.page_size_max", self.limits.page_size_max.into(), 1),
            ("limits.content_bytes", self.limits.content_bytes as u64, 1),
            ("limits.body_bytes", self.limits.body_bytes as u64, 1024),
            ("limits.page_bytes", self.limits.page_bytes as u64, 1024),
            (
                "database.max_connections",
                self.database.max_connections as u64,
                1,
            ),
        ];
        let (accounts, sessions) = (&self.auth.accounts, &self.auth.sessions);
        let lifetimes: [(&str, i64); 4] = [
            ("auth.accounts.access_ttl_secs", accounts.access_ttl_secs),
            ("auth.accounts.refresh_ttl_secs", accounts.refresh_ttl_secs),
            ("auth.sessions.default_ttl_secs", sessions.default_ttl_secs),
            ("auth.sessions.max_ttl_secs", sessions.max_ttl_secs),
        ];
        let mut low: Vec<String> = checks
            .iter()
            .filter(|(_, value, min)| value < min)
            .map(|(key, value, min)| format!("{key} must be at least {min} (it is {value})"))
            .collect();
        low.extend(
            lifetimes
                .iter()
                .filter(|(_, value)| *value < 1)
                .map(|(key, value)| format!("{key} must be at least 1 (it is {value})")),
        );
        if low.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(low.join("; ")))
        }
    }

    /// Checks the model settings hang together: the default model exists, providers have models.
    fn catalog_check(&self) -> Result<(), ConfigError> {
        let m = &self.models;
        let mut known: Vec<&str> = Vec::new();
        if m.echo.enabled {
            known.push("echo");
        }
        for (name, p) in &m.providers {
            if p.models.is_empty() {
                return Err(ConfigError(format!(
                    "models.providers.{name}: list at least one model"
                )));
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "models.providers.{name}.base_url must be an http(s) URL"
                )));
            }
            known.extend(p.models.iter().map(String::as_str));
        }
        if !known.contains(&m.default.as_str()) {
            return Err(ConfigError(format!(
                "models.default = {:?} is not served by any provider (known: {})",
                m.default,
                known.join(", ")
            )));
        }
        Ok(())
    }
}

impl AuthSettings {
    /// The provider's key source.
    pub fn key_source(&self) -> Result<crate::auth::KeySource, ConfigError> {
        use crate::auth::KeySource;
        match (&self.provider.public_key_file, &self.provider.jwks_file) {
            (Some(_), Some(_)) => Err(ConfigError(
                "auth.provider: set public_key_file or jwks_file, not both".into(),
            )),
            (Some(pem), None) => Ok(KeySource::PemFile(pem.clone())),
            (None, Some(jwks)) => Ok(KeySource::JwksFile(jwks.clone())),
            (None, None) => Ok(KeySource::SharedSecret),
        }
    }

    /// The JWT configuration, given the secret to use.
    pub fn jwt_config(&self, secret: Vec<u8>) -> Result<crate::auth::JwtConfig, ConfigError> {
        Ok(crate::auth::JwtConfig {
            self_issuer: self.self_issuer.clone(),
            secret,
            leeway_secs: self.leeway_secs,
            provider: crate::auth::ProviderConfig {
                algorithm: self.provider.algorithm,
                keys: self.key_source()?,
                issuer: self.provider.issuer.clone(),
                audience: self.provider.audience.clone(),
                claims: self.claims.clone(),
            },
        })
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Bind address.
    pub host: String,
    /// Bind port (0 = any free port).
    pub port: u16,
    /// Worker threads (0 = one per core).
    pub workers: usize,
    /// Grace period for in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Open connections the process accepts, all workers together (0 = from the open-files
    /// limit); one more is answered `503 overloaded` at once.
    pub max_connections: usize,
    /// Bytes of response a connection buffers before it waits for the client to read.
    pub write_buffer_bytes: usize,
    /// Seconds a client has to send a request's head (line and headers); then `408`.
    pub head_timeout_secs: u64,
    /// How long Idempotency-Key responses are kept, seconds.
    pub idempotency_ttl_secs: i64,
    /// How long a key may stay in progress before a retry takes it over, seconds.
    pub idempotency_lease_secs: i64,
    /// Which other origins browsers may call from.
    pub cors: CorsSettings,
}

/// Cross-origin access for browsers (CORS), also applied to WebSocket `Origin` checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins (`scheme://host[:port]`) allowed to call the API; `"*"` allows any (development
    /// only). Empty: same-origin only.
    pub allowed_origins: Vec<String>,
    /// How long browsers may cache a preflight answer, seconds.
    pub max_age_secs: usize,
}

impl CorsSettings {
    /// Checks each origin is `*` or a bare `scheme://host[:port]`.
    pub fn validate(&self) -> Result<(), String> {
        for origin in &self.allowed_origins {
            if origin == "*" {
                continue;
            }
            let parsed = url::Url::parse(origin).map_err(|e| {
                format!("server.cors.allowed_origins: {origin:?} is not a URL ({e})")
            })?;
            let bare = matches!(parsed.scheme(), "http" | "https")
                && parsed.host_str().is_some()
                && parsed.path() == "/"
                && !origin.ends_with('/')
                && parsed.query().is_none()
                && parsed.username().is_empty();
            if !bare {
                return Err(format!(
                    "server.cors.allowed_origins: {origin:?} must be scheme://host[:port] with no \
                     path or trailing slash, or \"*\""
                ));
            }
        }
        Ok(())
    }
}

/// Database settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; may hold a password, so never printed as is.
    pub url: String,
    /// Pool size.
    pub max_connections: usize,
    /// Wait for a pooled connection, seconds.
    pub acquire_timeout_secs: u64,
    /// SQLite busy timeout, milliseconds.
    pub sqlite_busy_timeout_ms: u64,
    /// What a SQLite commit survives: `normal` (a process crash) or `full` (a power loss too).
    pub sqlite_synchronous: crate::db::SqliteSynchronous,
    /// PostgreSQL reads running at once; 0: twice the cores.
    #[serde(default)]
    pub max_concurrent_reads: usize,
    /// Migrate on `serve`.
    pub migrate_on_start: bool,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &crate::db::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("sqlite_busy_timeout_ms", &self.sqlite_busy_timeout_ms)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("max_concurrent_reads", &self.max_concurrent_reads)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

impl DatabaseSettings {
    /// The parsed URL.
    pub fn url(&self) -> Result<DatabaseUrl, crate::db::SetupError> {
        DatabaseUrl::parse(&self.url)
    }

    /// Pool options.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_secs(self.acquire_timeout_secs),
            sqlite_busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
            sqlite_synchronous: self.sqlite_synchronous,
            max_concurrent_reads: self.max_concurrent_reads,
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// EnvFilter directives.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// A configuration error with this explanation.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Settings {
    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(renamed::Renamed(Toml::file(path)));
        }
        let settings: Settings = figment
            .merge(renamed::Renamed(env))
            .extract()
            .map_err(|e| ConfigError(describe(e)))?;
        settings.minimums()?;
        settings
            .database
            .url()
            .map_err(|e| ConfigError(format!("database.url: {e}")))?;
        settings.auth.key_source()?;
        if settings
            .auth
            .hs256_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            return Err(ConfigError(
                "auth.hs256_secret must be at least 32 bytes".into(),
            ));
        }
        settings.catalog_check()?;
        settings.server.cors.validate().map_err(ConfigError)?;
        Ok(settings)
    }
}

/// One line per problem, naming the key and where its value came from, without the value.
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::from("(top level)")
            } else {
                e.path.join(".")
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(path)) => {
                        format!(" (from {} {})", m.name, path.display())
                    }
                    _ => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            format!("{key}: {}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

mod files;
mod integrations;
mod renamed;

pub use files::{FileBackend, FileStorageConfig, FilesConfig, S3Config};
pub use integrations::{AuditConfig, EventsConfig, TelemetryConfig, WebhooksConfig};

#[cfg(test)]
mod tests;
