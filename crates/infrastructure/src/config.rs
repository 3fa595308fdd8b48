//! Settings: the built-in `config/default.toml`, then an optional file, then
//! `CHAT_THREADS__SECTION__KEY` environment variables. Unknown keys are refused.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use chat_threads_domain::Limits;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::db::{DatabaseUrl, PoolOptions};

/// The defaults, documented line by line.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

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
    /// Logging.
    pub log: LogSettings,
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
            figment = figment.merge(Toml::file(path));
        }
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(describe(e)))?;
        settings
            .database
            .url()
            .map_err(|e| ConfigError(format!("database.url: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The environment provider with nothing in it, so tests ignore the caller's environment.
    fn env(_: &[(&str, &str)]) -> Env {
        Env::prefixed(ENV_PREFIX).split("__").filter(|_| false)
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn environment_variables_override_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("over.toml", "[server]\nport = 7000\nhost = \"0.0.0.0\"\n")?;
            jail.set_env("CHAT_THREADS__SERVER__PORT", "7001");
            jail.set_env(
                "CHAT_THREADS__DATABASE__URL",
                "postgres://u:pw@localhost/db",
            );
            jail.set_env("CHAT_THREADS__LIMITS__TITLE_CHARS", "50");
            let s = Settings::load(Some(Path::new("over.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.server.port, 7001, "env wins over the file");
            assert_eq!(s.server.host, "0.0.0.0", "the file wins over defaults");
            assert_eq!(s.database.url, "postgres://u:pw@localhost/db");
            assert_eq!(s.limits.title_chars, 50);
            jail.set_env("CHAT_THREADS__SERVER__PROT", "1");
            let err = Settings::load(None).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("prot"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn defaults_load_and_use_a_sqlite_file_under_data() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.database.url, "sqlite://./data/chat-threads.db");
        assert_eq!(s.server.port, 8080);
        assert_eq!(
            s.limits,
            Limits::default(),
            "the file and the code agree on limits"
        );
        assert!(s.database.migrate_on_start);
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[server]\nport = 9999\n").unwrap();
        let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
        assert_eq!(s.server.port, 9999);
        assert_eq!(s.server.host, "127.0.0.1");

        let mut typo = tempfile::NamedTempFile::new().unwrap();
        writeln!(typo, "[database]\nurll = \"sqlite://x.db\"\n").unwrap();
        let err = Settings::load_from(Some(typo.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("urll"), "{err}");

        let mut section = tempfile::NamedTempFile::new().unwrap();
        writeln!(section, "[databse]\nurl = \"sqlite://x.db\"\n").unwrap();
        let err = Settings::load_from(Some(section.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("databse"), "{err}");
    }

    #[test]
    fn a_missing_file_and_a_bad_url_are_clear_errors() {
        let err =
            Settings::load_from(Some(Path::new("/nonexistent/x.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[database]\nurl = \"mysql://root:hunter2@db/x\"\n").unwrap();
        let err = Settings::load_from(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported scheme"), "{err}");
        assert!(!err.contains("hunter2"), "the password never shows: {err}");
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[database]\nurl = \"postgres://app:s3cret@db:5432/chat\"\n"
        )
        .unwrap();
        let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("app:***@db"), "{shown}");
    }
}
