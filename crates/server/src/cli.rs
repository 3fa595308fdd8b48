//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// chat-threads: a backend for conversations between people and AI assistants.
#[derive(Debug, Parser)]
#[command(name = "chat-threads", version, about)]
pub struct Cli {
    /// A TOML file overriding config/default.toml (only the settings you change).
    #[arg(long, short, global = true, env = "CHAT_THREADS_CONFIG")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Print a bearer token signed with the service secret (for development and scripts).
    Token(TokenArgs),
    /// Apply pending database migrations and exit.
    Migrate {
        /// Revert every migration instead (drops all data).
        #[arg(long)]
        revert_all: bool,
    },
}

/// `chat-threads token` arguments.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Subject (user id).
    #[arg(long)]
    pub sub: String,
    /// Organization.
    #[arg(long)]
    pub org: Option<String>,
    /// E-mail claim.
    #[arg(long)]
    pub email: Option<String>,
    /// Display name claim (`name`): shown as the author of what the token's user writes.
    #[arg(long)]
    pub name: Option<String>,
    /// A scope to grant (repeatable), e.g. --scope org:admin.
    #[arg(long)]
    pub scope: Vec<String>,
    /// A service principal instead of a user.
    #[arg(long)]
    pub service: bool,
    /// Lifetime: 90s, 30m, 1h, 7d.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
}

/// Parses `90s`, `30m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_duration(raw: &str) -> anyhow::Result<chrono::TimeDelta> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: i64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid duration {raw:?}: use 90s, 30m, 1h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("invalid duration {raw:?}: use 90s, 30m, 1h or 7d"),
    };
    if secs <= 0 {
        anyhow::bail!("the duration must be positive");
    }
    Ok(chrono::TimeDelta::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap().num_seconds(), 90);
        assert_eq!(parse_duration("30m").unwrap().num_seconds(), 1800);
        assert_eq!(parse_duration("1h").unwrap().num_seconds(), 3600);
        assert_eq!(parse_duration("7d").unwrap().num_seconds(), 604_800);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("h").is_err());
    }
}
