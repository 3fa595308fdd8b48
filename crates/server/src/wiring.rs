//! Builds the API's dependencies from settings: the store, the signing secret, the services.

use std::sync::Arc;

use anyhow::Context;
use chat_threads_api::cors::OriginPolicy;
use chat_threads_api::observe::Metrics;
use chat_threads_api::rate_limit::{Limiter, RateLimits};
use chat_threads_api::{ApiConfig, AppSettings, AppState, Deps, Parts, Verifier};
use chat_threads_application::accounts::{AuthPolicy, AuthStore, random_token};
use chat_threads_application::{Clock, SystemClock};
use chat_threads_infrastructure::auth::{Argon2Hasher, JwtAuthority};
use chat_threads_infrastructure::bus::PgBridge;
use chat_threads_infrastructure::{Settings, SqlStore};

/// The production adapters.
#[derive(Debug)]
pub struct Prod;

impl Deps for Prod {
    type Store = SqlStore;
    type Hasher = Argon2Hasher;
    type Issuer = JwtAuthority;
    type Webhooks = chat_threads_infrastructure::webhooks::HttpWebhookSender;
}

/// Name of the generated secret in the database.
const SECRET_NAME: &str = "jwt_hs256_secret";

/// The configured HS256 secret, or the one stored in the database (generated on first use, so
/// every instance and the `token` command agree).
pub async fn signing_secret(settings: &Settings, store: &SqlStore) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.auth.hs256_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let generated = random_token()?;
    let stored = store
        .secret_or_insert(SECRET_NAME, generated, SystemClock.now())
        .await
        .context("cannot read or store the generated signing secret")?;
    Ok(stored.into_bytes())
}

/// The token authority.
pub async fn authority(settings: &Settings, store: &SqlStore) -> anyhow::Result<JwtAuthority> {
    authority_with(settings, signing_secret(settings, store).await?)
}

/// The token authority over `secret` (the service's signing secret, already read).
fn authority_with(settings: &Settings, secret: Vec<u8>) -> anyhow::Result<JwtAuthority> {
    Ok(JwtAuthority::new(settings.auth.jwt_config(secret)?)?)
}

/// Everything the API needs.
pub async fn api_config(
    settings: &Settings,
    store: SqlStore,
    reply_runtime: tokio::runtime::Handle,
    instance: &str,
) -> anyhow::Result<ApiConfig<Prod>> {
    let secret = signing_secret(settings, &store).await?;
    let page_tags = chat_threads_application::messages::PageTags::new(&secret);
    let authority = authority_with(settings, secret)?;
    let limits = settings.limits;
    let a = &settings.auth;
    let session_org = match a.sessions.org.trim() {
        "" => None,
        org => Some(
            chat_threads_domain::OrgId::parse(org)
                .map_err(|e| anyhow::anyhow!("auth.sessions.org: {e}"))?,
        ),
    };
    // On PostgreSQL, instances share their events through LISTEN/NOTIFY; SQLite is one instance.
    let url = settings
        .database
        .url()?
        .with_application_name(&format!("ct:{instance}"));
    let bridge = (url.backend() == chat_threads_infrastructure::db::Backend::Postgres)
        .then(|| PgBridge::start(url.expose().to_owned(), &reply_runtime));
    let events = match &bridge {
        Some(b) => chat_threads_application::events::ThreadEvents::with_bridge(Arc::new(b.clone())),
        None => chat_threads_application::events::ThreadEvents::default(),
    };
    let state = AppState::<Prod>::compose(Parts {
        store: store.clone(),
        hasher: Argon2Hasher::new(a.accounts.hash_concurrency, a.accounts.hash_queue),
        issuer: authority.clone(),
        webhook_sender: chat_threads_infrastructure::webhooks::HttpWebhookSender::new(
            std::time::Duration::from_secs(settings.webhooks.timeout_secs),
            settings.webhooks.allow_private,
        )?,
        catalog: with_mcp(
            chat_threads_infrastructure::llm::build_catalog(&settings.models)?,
            &settings.mcp,
        )?,
        counter: Arc::new(chat_threads_infrastructure::llm::TiktokenCounter),
        events: events.clone(),
        runtime: reply_runtime.clone(),
        instance: instance.to_owned(),
        settings: AppSettings {
            limits,
            replies: reply_settings(settings),
            auth: AuthPolicy {
                accounts: a.accounts,
                sessions: a.sessions.clone(),
            },
            session_org,
            temporary_ttl: std::time::Duration::from_secs(settings.threads.temporary_ttl_secs),
            sweep_batch: settings.retention.sweep_batch,
            self_erasure: settings.auth.self_erasure,
            erasure_stall: std::time::Duration::from_secs(
                settings.auth.sessions.purge_interval_secs.saturating_mul(3),
            ),
            files: settings.files.uploads.clone(),
            openai: settings.openai,
            page_cache_bytes: settings.threads.page_cache_bytes,
            page_tags,
        },
    });
    let r = &settings.rate_limit;
    let rate_limits = if r.enabled {
        RateLimits {
            principal: Some(Arc::new(Limiter::new(
                r.per_principal_per_minute,
                r.per_principal_burst,
            ))),
            ip: Some(Arc::new(Limiter::new(r.per_ip_per_minute, r.per_ip_burst))),
            login: Some(Arc::new(Limiter::new(
                r.login_per_account_per_minute,
                r.login_per_account_burst,
            ))),
            trust_forwarded_for: r.trust_forwarded_for,
        }
    } else {
        RateLimits::off()
    };
    if let Some(bridge) = &bridge {
        // Replies written on other instances are mirrored here, so followers can resume them.
        let mirror = state.replies.clone();
        bridge
            .listen(
                url.expose().to_owned(),
                events,
                Arc::new(move |e| mirror.mirror(e)),
                &reply_runtime,
            )
            .await;
        // Rate limits and presence for the whole cluster.
        crate::cluster::share(
            bridge,
            &rate_limits,
            state.replies.events(),
            std::time::Duration::from_millis(settings.rate_limit.cluster_sync_ms),
            &reply_runtime,
        );
    }
    let metrics = Arc::new(Metrics::default());
    chat_threads_api::register_gauges(&metrics, &state);
    register_store_gauges(&metrics, &state.store, bridge);
    let json_limit = limits.body_bytes;
    Ok(ApiConfig {
        state,
        verifier: Verifier(Arc::new(authority)),
        rate_limits,
        json_limit,
        idempotency_ttl_secs: settings.server.idempotency_ttl_secs,
        idempotency_lease_secs: settings.server.idempotency_lease_secs,
        ws: settings.websocket,
        origins: OriginPolicy::new(
            &settings.server.cors.allowed_origins,
            settings.server.cors.max_age_secs,
        ),
        metrics,
    })
}

/// Gauges of the adapters: the database pool and, on PostgreSQL, the event bus's queue.
fn register_store_gauges(metrics: &Metrics, store: &SqlStore, bridge: Option<PgBridge>) {
    let pool = store.clone();
    metrics.gauge(
        "chat_db_pool_in_use",
        "Database connections checked out.",
        Box::new(move || pool.pool_usage().in_use as f64),
    );
    let pool = store.clone();
    metrics.gauge(
        "chat_db_pool_idle",
        "Database connections open and idle in the pool.",
        Box::new(move || pool.pool_usage().idle as f64),
    );
    // SQLite is one instance: nothing is forwarded, the queue is always empty.
    metrics.gauge(
        "chat_event_bus_queue",
        "Events waiting to be published to other instances.",
        Box::new(move || bridge.as_ref().map_or(0, PgBridge::queue_len) as f64),
    );
}

/// The store with file bytes where `files.storage` says.
pub fn with_file_storage(store: SqlStore, settings: &Settings) -> anyhow::Result<SqlStore> {
    use chat_threads_infrastructure::config::FileBackend;
    let storage = &settings.files.storage;
    Ok(match storage.backend {
        FileBackend::Database => store,
        FileBackend::S3 => {
            let s3 = storage.s3.resolve()?;
            let objects = chat_threads_infrastructure::objects::ObjectBlobs::s3(&s3)
                .map_err(|e| anyhow::anyhow!("files.storage.s3: {e}"))?;
            tracing::info!(bucket = %s3.bucket, "file bytes go to the object store");
            store.with_objects(objects)
        }
    })
}

/// What replies need: `[replies]` whole, and what they take from `[limits]`, `[billing]`, `[files]`,
/// `[mcp]` and `[titles]`.
fn reply_settings(settings: &Settings) -> chat_threads_application::replies::ReplySettings {
    chat_threads_application::replies::ReplySettings {
        replies: settings.replies.clone(),
        max_reply_bytes: settings.limits.content_bytes,
        billing: settings.billing.clone(),
        inline_tokens: settings.files.inline_tokens,
        max_tool_rounds: settings.mcp.max_tool_rounds,
        tool_call_timeout: std::time::Duration::from_secs(settings.mcp.call_timeout_secs),
        titles: settings.titles.clone(),
    }
}

/// The catalog with the MCP servers of `[mcp]`, when any are configured.
fn with_mcp(
    catalog: chat_threads_application::replies::models::Catalog,
    mcp: &chat_threads_infrastructure::config::McpSettings,
) -> anyhow::Result<chat_threads_application::replies::models::Catalog> {
    if mcp.servers.is_empty() {
        return Ok(catalog);
    }
    let servers = chat_threads_infrastructure::mcp::McpServers::new(&mcp.servers)
        .map_err(|e| anyhow::anyhow!(e))?;
    let names = servers.names();
    tracing::info!(servers = ?names, "MCP servers configured");
    let allow = chat_threads_application::replies::models::Allowlists {
        default: mcp.allow.default.clone(),
        orgs: mcp.allow.orgs.clone(),
        scopes: mcp.allow.scopes.clone(),
    };
    Ok(catalog.with_tool_servers(Arc::new(servers), names, allow))
}
