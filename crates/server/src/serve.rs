//! Wiring: settings -> database -> store -> HTTP server.

use std::time::Duration;

use anyhow::Context;
use chat_threads_infrastructure::config::{LogFormat, LogSettings};
use chat_threads_infrastructure::db::Database;
use chat_threads_infrastructure::telemetry::{Telemetry, WithTraceId};
use chat_threads_infrastructure::{Settings, SqlStore};
use tracing_subscriber::EnvFilter;

/// Sets up logging from settings (`RUST_LOG` wins when set), and the export of spans as
/// OpenTelemetry traces when `telemetry` runs (JSON lines then carry the trace id).
pub fn init_tracing(log: &LogSettings, telemetry: Option<&Telemetry>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(telemetry.map(Telemetry::layer));
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => registry
            .with(
                lines
                    .json()
                    .event_format(WithTraceId(tracing_subscriber::fmt::format().json())),
            )
            .try_init(),
        LogFormat::Text => registry.with(lines).try_init(),
    };
}

/// Opens the database; `instance` names this process's connections (`ct:<instance>`), which is
/// how other instances on PostgreSQL know it is alive.
async fn open_database(settings: &Settings, instance: Option<&str>) -> anyhow::Result<Database> {
    let mut url = settings.database.url()?;
    if let Some(instance) = instance {
        url = url.with_application_name(&format!("ct:{instance}"));
    }
    tracing::info!(database = %url, "connecting to the database");
    Database::connect(&url, settings.database.pool_options())
        .await
        .with_context(|| format!("database {url} is not usable"))
}

/// `chat-threads migrate`.
pub async fn migrate(settings: Settings, revert_all: bool) -> anyhow::Result<()> {
    let db = open_database(&settings, None).await?;
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

/// What the purge job forgets on purpose: the retention policies, what was deleted longer than
/// the restore window ago, and the audit log's old entries.
struct Sweeps<S> {
    retention: chat_threads_application::retention::RetentionService<
        S,
        chat_threads_application::SystemClock,
    >,
    policies: chat_threads_application::retention::policies::PolicyService<
        S,
        chat_threads_application::SystemClock,
    >,
    audit: chat_threads_application::audit::AuditService<S, chat_threads_application::SystemClock>,
    audit_days: u32,
    feed: chat_threads_application::feed::FeedService<S, chat_threads_application::SystemClock>,
    feed_days: u32,
    webhooks: chat_threads_application::webhooks::WebhookService<
        S,
        chat_threads_infrastructure::webhooks::HttpWebhookSender,
        chat_threads_application::SystemClock,
    >,
    erasures:
        chat_threads_application::erasure::ErasureService<S, chat_threads_application::SystemClock>,
}

/// Purges expired sessions (with their threads and files) and expired threads, forgets what was
/// deleted longer than the restore window ago, and collects files no message references once
/// they are older than `file_grace`, now and then.
fn spawn_purge_job<S, H, I>(
    auth: chat_threads_application::accounts::AuthService<
        S,
        H,
        I,
        chat_threads_application::SystemClock,
    >,
    files: chat_threads_application::files::FileService<
        S,
        S,
        chat_threads_application::SystemClock,
    >,
    file_grace: Duration,
    store: S,
    sweeps: Sweeps<S>,
    every_secs: u64,
) where
    S: chat_threads_application::accounts::AuthStore
        + chat_threads_application::audit::AuditStore
        + chat_threads_application::webhooks::WebhookStore
        + chat_threads_application::retention::RetentionStore
        + chat_threads_application::retention::policies::PolicyStore
        + chat_threads_application::erasure::ErasureStore
        + chat_threads_application::idempotency::IdempotencyStore
        + chat_threads_application::files::FileStore
        + chat_threads_application::files::BlobStore,
    H: chat_threads_application::accounts::PasswordHasher,
    I: chat_threads_application::accounts::TokenIssuer,
{
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every_secs));
        loop {
            tick.tick().await;
            match auth.purge_expired().await {
                Ok((0, 0)) => {}
                Ok((sessions, threads)) => tracing::info!(sessions, threads, "purged expired data"),
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
            match files.collect_garbage(file_grace).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "collected unreferenced files"),
                Err(e) => tracing::warn!(error = %e, "collecting unreferenced files failed"),
            }
            let Sweeps {
                retention,
                policies,
                audit,
                audit_days,
                feed,
                feed_days,
                webhooks,
                erasures,
            } = &sweeps;
            match erasures.resume_stalled().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(erasures = n, "resumed erasures whose runner was gone"),
                Err(e) => tracing::warn!(error = %e, "resuming erasures failed"),
            }
            match policies.apply_all().await {
                Ok(o) if o.threads_deleted + o.forgotten == 0 => {}
                Ok(o) => tracing::info!(
                    threads_deleted = o.threads_deleted,
                    forgotten = o.forgotten,
                    "applied the retention policies"
                ),
                Err(e) => tracing::warn!(error = %e, "applying the retention policies failed"),
            }
            match retention.sweep().await {
                Ok(s) if s.is_empty() => {}
                Ok(s) => tracing::info!(
                    erased = s.erased,
                    messages = s.messages,
                    threads = s.threads,
                    "forgot what was deleted longer than the restore window ago"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "sweeping deleted messages and threads failed")
                }
            }
            match audit.purge_older_than(*audit_days, 500).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(entries = n, "trimmed the audit log (audit.retention_days)")
                }
                Err(e) => tracing::warn!(error = %e, "trimming the audit log failed"),
            }
            match feed.purge_older_than(*feed_days, 500).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        entries = n,
                        "trimmed the change feed (events.retention_days)"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "trimming the change feed failed"),
            }
            match webhooks.purge_older_than(*feed_days, 500).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "trimmed finished webhook deliveries"),
                Err(e) => tracing::warn!(error = %e, "trimming webhook deliveries failed"),
            }
            if let Err(e) = store.purge_idempotency(chrono::Utc::now()).await {
                tracing::warn!(error = %e, "purging expired idempotency keys failed");
            }
        }
    });
}

/// `chat-threads token`: prints a token signed with the service secret.
pub async fn token(settings: Settings, args: crate::cli::TokenArgs) -> anyhow::Result<()> {
    use chat_threads_application::accounts::TokenIssuer;
    let db = open_database(&settings, None).await?;
    db.migrate().await?;
    let store = SqlStore::new(db);
    let authority = crate::wiring::authority(&settings, &store).await?;
    let ttl = crate::cli::parse_duration(&args.ttl)?;
    let principal = chat_threads_domain::Principal {
        subject: args.sub,
        org: args
            .org
            .as_deref()
            .map(chat_threads_domain::OrgId::parse)
            .transpose()?,
        kind: if args.service {
            chat_threads_domain::PrincipalKind::Service
        } else {
            chat_threads_domain::PrincipalKind::User
        },
        scopes: args.scope,
        email: args.email,
        name: args.name,
        session_key: None,
    };
    let expires = chrono::Utc::now() + ttl;
    println!("{}", authority.issue(&principal, expires)?);
    Ok(())
}

/// The runtime replies run on, so they outlive the request (and the HTTP workers, which stop
/// first on shutdown). Built and dropped outside any async context (dropping a runtime inside
/// one panics).
pub fn reply_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("replies")
        .enable_all()
        .build()
        .context("cannot start the reply runtime")
}

/// `chat-threads serve`; replies run on `replies_rt`, the reply runtime.
pub async fn serve(settings: Settings, replies_rt: tokio::runtime::Handle) -> anyhow::Result<()> {
    // Who this process is, recorded on the replies it writes.
    let instance = uuid::Uuid::now_v7().to_string();
    let db = open_database(&settings, Some(&instance)).await?;
    if settings.database.migrate_on_start {
        for version in db.migrate().await? {
            tracing::info!(%version, "applied migration");
        }
    }
    let store = crate::wiring::with_file_storage(SqlStore::new(db.clone()), &settings)?;
    let api = crate::wiring::api_config(&settings, store, replies_rt.clone(), &instance).await?;
    let replies = api.state.replies.clone();
    match replies.recover().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            replies = n,
            "marked replies left streaming by a stopped process as failed"
        ),
        Err(e) => tracing::warn!(error = %e, "recovering interrupted replies failed"),
    }
    // Replies of instances that die while this one runs are released within a few seconds.
    let sweeper = replies.clone();
    let every = Duration::from_secs(settings.replies.orphan_check_secs);
    replies_rt.spawn(async move {
        // The first check is one period away: `recover` just ran, and a start-up that fails
        // (port in use) must not log a cancelled check after its error line.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            if let Err(e) = sweeper.sweep().await {
                tracing::warn!(error = %e, "releasing the replies of stopped instances failed");
            }
        }
    });
    // Webhooks: every instance sends; a lease in the database gives each webhook to one.
    let w = &settings.webhooks;
    let dispatcher = chat_threads_application::webhooks::dispatch::Dispatcher::new(
        api.state.store.clone(),
        chat_threads_infrastructure::webhooks::HttpWebhookSender::new(
            Duration::from_secs(w.timeout_secs),
            w.allow_private,
        )?,
        chat_threads_application::SystemClock,
        chat_threads_application::webhooks::dispatch::DispatchSettings {
            instance: instance.clone(),
            lease: Duration::from_secs(w.lease_secs),
            interval: Duration::from_millis(w.interval_ms),
            backoff: Duration::from_millis(w.backoff_ms),
            retry_window: Duration::from_secs(w.retry_window_secs),
            disable_after: w.disable_after,
        },
    );
    if w.dispatch {
        replies_rt.spawn(dispatcher.run(api.state.feed.watch()));
    }
    let retention = chat_threads_application::retention::RetentionService::new(
        api.state.store.clone(),
        chat_threads_application::SystemClock,
        Duration::from_secs(settings.retention.restore_window_secs),
        settings.retention.sweep_batch,
    );
    let totals = retention.totals();
    for (name, help, pick) in [
        (
            "chat_retention_erased_total",
            "Tombstones whose content the sweeper erased (restore window passed).",
            (|s| s.erased) as fn(chat_threads_application::retention::Swept) -> u64,
        ),
        (
            "chat_retention_messages_removed_total",
            "Messages deleted with their subtree that the sweeper removed.",
            |s| s.messages,
        ),
        (
            "chat_retention_threads_purged_total",
            "Soft-deleted threads the sweeper purged.",
            |s| s.threads,
        ),
    ] {
        let totals = totals.clone();
        api.metrics
            .gauge(name, help, Box::new(move || pick(totals.read()) as f64));
    }
    let policy_totals = api.state.policies.totals();
    for (name, help, pick) in [
        (
            "chat_retention_policy_threads_deleted_total",
            "Threads the retention policies deleted for inactivity.",
            (|t| &t.threads_deleted)
                as fn(
                    &chat_threads_application::retention::policies::PolicyTotals,
                ) -> &std::sync::atomic::AtomicU64,
        ),
        (
            "chat_retention_policy_forgotten_total",
            "Deleted messages and threads the retention policies forgot.",
            |t| &t.forgotten,
        ),
    ] {
        let totals = policy_totals.clone();
        api.metrics.gauge(
            name,
            help,
            Box::new(move || pick(&totals).load(std::sync::atomic::Ordering::Relaxed) as f64),
        );
    }
    spawn_purge_job(
        api.state.auth.clone(),
        api.state.files.clone(),
        Duration::from_secs(settings.files.gc_grace_secs),
        api.state.store.clone(),
        Sweeps {
            retention,
            policies: api.state.policies.clone(),
            audit: api.state.audit.clone(),
            audit_days: settings.audit.retention_days,
            feed: api.state.feed.clone(),
            feed_days: settings.events.retention_days,
            webhooks: api.state.webhooks.clone(),
            erasures: api.state.erasures.clone(),
        },
        settings.auth.sessions.purge_interval_secs,
    );
    let server = &settings.server;
    let listen = chat_threads_api::transport::Listen {
        host: server.host.clone(),
        port: server.port,
        workers: if server.workers > 0 {
            server.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        },
        max_connections: connection_limit(server.max_connections),
        write_buffer_bytes: server.write_buffer_bytes,
        shutdown_timeout_secs: server.shutdown_timeout_secs,
        client_request_timeout: Duration::from_secs(server.head_timeout_secs),
        backlog: 1024,
        on_worker_start: {
            chat_threads_api::transport::WorkerStart(Some(std::sync::Arc::new(move || {
                let own = db.claim_thread_pool();
                tracing::debug!(own, "HTTP worker started; its own database pool");
            })))
        },
    };
    let (http, addrs) = chat_threads_api::transport::server(api, &listen)
        .with_context(|| format!("cannot listen on {}:{}", server.host, server.port))?;
    for addr in addrs {
        // Tests and scripts read this line to learn the port when port = 0. In JSON mode only
        // the log line is written, so the output is nothing but JSON.
        tracing::info!("listening on http://{addr}");
        if settings.log.format == chat_threads_infrastructure::config::LogFormat::Text {
            println!("listening on http://{addr}");
        }
    }
    let served = http.await.context("HTTP server failed");
    // The HTTP side has stopped (SIGTERM/Ctrl-C). Let running replies finish within the grace
    // period; the rest are cancelled and keep their text.
    let grace = Duration::from_secs(settings.replies.shutdown_grace_secs);
    let running = replies.hub().running().len();
    if running > 0 {
        tracing::info!(running, ?grace, "waiting for running replies");
    }
    replies_rt
        .spawn({
            let replies = replies.clone();
            async move { replies.drain(grace).await }
        })
        .await
        .ok();
    served
}

/// Descriptors kept free for everything but client connections: database connections, the
/// event bus, files being read or written, the listeners, logs.
const RESERVED_DESCRIPTORS: u64 = 512;

/// The connection limit: `configured`, or with 0 what the process's open-files limit allows
/// (raised first to its hard maximum, as the kernel lets any process do). Each connection is one
/// descriptor; a limit above the descriptors would make `accept` fail instead of refusing
/// cleanly, so a configured value over them is lowered with a warning.
fn connection_limit(configured: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut files = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (files.current, files.maximum)
        && current < maximum
    {
        let raised = rustix::process::Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            files = getrlimit(Resource::Nofile);
        }
    }
    // `None` is unlimited.
    let available = files
        .current
        .map_or(usize::MAX, |n| {
            usize::try_from(n.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
        })
        .max(64);
    match configured {
        0 => {
            tracing::info!(
                max_connections = available,
                "connection limit from the open-files limit"
            );
            available
        }
        n if n > available => {
            tracing::warn!(
                configured = n,
                max_connections = available,
                "server.max_connections is above what the open-files limit allows; lowered"
            );
            available
        }
        n => n,
    }
}
