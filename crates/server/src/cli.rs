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
    /// Apply pending database migrations and exit.
    Migrate {
        /// Revert every migration instead (drops all data).
        #[arg(long)]
        revert_all: bool,
    },
}
