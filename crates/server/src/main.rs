//! The `chat-threads` binary: command line and composition root.

mod cli;
mod serve;
mod wiring;

use anyhow::Context;
use chat_threads_infrastructure::Settings;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let config_path = cli.config.clone();
    let settings = Settings::load(config_path.as_deref())?;
    serve::init_tracing(&settings.log);
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    };
    match cli.command.unwrap_or(cli::Command::Serve) {
        cli::Command::Serve => actix_web::rt::System::new().block_on(serve::serve(settings)),
        cli::Command::Migrate { revert_all } => {
            runtime()?.block_on(serve::migrate(settings, revert_all))
        }
        cli::Command::Token(args) => runtime()?.block_on(serve::token(settings, args)),
    }
}
