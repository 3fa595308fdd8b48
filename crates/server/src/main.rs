//! The `chat-threads` binary: command line and composition root.

mod cli;
mod cluster;
mod serve;
mod wiring;

use anyhow::Context;
use chat_threads_infrastructure::Settings;
use clap::Parser;

/// mimalloc gives freed memory back to the system, so RSS comes down after a burst of large
/// responses or long replies (the system allocator kept it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages for this process: mimalloc asks for them on its arenas, and a
    // huge page is resident in whole (2 MiB) once any byte of it is touched — the idle server
    // showed ~64 MiB of them, and 10,000 idle connections ~1/3 more resident memory than the
    // 4 KiB pages they use. (Linux only; elsewhere, or if the kernel refuses, nothing changes.)
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = cli::Cli::parse();
    let mut json_logs = false;
    let mut telemetry = None;
    let code = match run(cli, &mut json_logs, &mut telemetry) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem; in JSON mode as a log record, like everything else.
            if json_logs {
                tracing::error!(error = %format!("{e:#}"), "chat-threads stopped");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    };
    // The spans still queued go out before the process ends.
    if let Some(t) = telemetry {
        t.shutdown();
    }
    code
}

fn run(
    cli: cli::Cli,
    json_logs: &mut bool,
    telemetry: &mut Option<chat_threads_infrastructure::telemetry::Telemetry>,
) -> anyhow::Result<()> {
    let config_path = cli.config.clone();
    let settings = Settings::load(config_path.as_deref())?;
    let command = cli.command.unwrap_or(cli::Command::Serve);
    // Only the server exports traces (the other commands are short and local).
    if matches!(command, cli::Command::Serve) {
        *telemetry = chat_threads_infrastructure::telemetry::Telemetry::start(&settings.telemetry)
            .map_err(anyhow::Error::msg)?;
        if telemetry.is_some() {
            chat_threads_api::observe::enable_tracing();
        }
    }
    serve::init_tracing(&settings.log, telemetry.as_ref());
    *json_logs = settings.log.format == chat_threads_infrastructure::config::LogFormat::Json;
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    };
    match command {
        cli::Command::Serve => {
            let replies_rt = serve::reply_runtime()?;
            let served = actix_web::rt::System::new()
                .block_on(serve::serve(settings, replies_rt.handle().clone()));
            replies_rt.shutdown_background();
            served
        }
        cli::Command::Migrate { revert_all } => {
            runtime()?.block_on(serve::migrate(settings, revert_all))
        }
        cli::Command::Token(args) => runtime()?.block_on(serve::token(settings, args)),
    }
}
