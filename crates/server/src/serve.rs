//! Wiring: settings -> database -> store -> HTTP server.

use std::time::Duration;

use actix_web::{App, HttpServer, middleware};
use anyhow::Context;
use chat_threads_infrastructure::config::{LogFormat, LogSettings};
use chat_threads_infrastructure::db::Database;
use chat_threads_infrastructure::{Settings, SqlStore};
use tracing_subscriber::EnvFilter;

/// Sets up logging from settings (`RUST_LOG` wins when set).
pub fn init_tracing(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database.url()?;
    tracing::info!(database = %url, "connecting to the database");
    Database::connect(&url, settings.database.pool_options())
        .await
        .with_context(|| format!("database {url} is not usable"))
}

/// `chat-threads migrate`.
pub async fn migrate(settings: Settings, revert_all: bool) -> anyhow::Result<()> {
    let db = open_database(&settings).await?;
    let done = if revert_all {
        db.revert_all().await?
    } else {
        db.migrate().await?
    };
    let verb = if revert_all { "reverted" } else { "applied" };
    if done.is_empty() {
        println!("database {} is up to date; nothing {verb}", db.url());
    }
    for version in done {
        println!("{verb} {version}");
    }
    Ok(())
}

/// `chat-threads serve`.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = open_database(&settings).await?;
    if settings.database.migrate_on_start {
        for version in db.migrate().await? {
            tracing::info!(%version, "applied migration");
        }
    }
    let store = SqlStore::new(db);
    let server = &settings.server;
    let mut http = HttpServer::new(move || {
        App::new()
            .wrap(middleware::Logger::default().exclude("/healthz"))
            .configure(chat_threads_api::configure(store.clone()))
    })
    .shutdown_timeout(server.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(30));
    if server.workers > 0 {
        http = http.workers(server.workers);
    }
    let http = http
        .bind((server.host.as_str(), server.port))
        .with_context(|| format!("cannot listen on {}:{}", server.host, server.port))?;
    for addr in http.addrs() {
        // Tests and scripts read this line to learn the port when port = 0.
        tracing::info!("listening on http://{addr}");
        println!("listening on http://{addr}");
    }
    http.run().await.context("HTTP server failed")
}
