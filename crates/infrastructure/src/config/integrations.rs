//! Settings of what the service keeps for and sends to the systems around it: the audit log,
//! the change feed and webhooks.

use serde::Deserialize;

/// The audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// How long entries are kept, days.
    pub retention_days: u32,
}

/// The change feed (`GET /v1/events`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// How long entries are kept, days.
    pub retention_days: u32,
}

/// Webhooks: the change feed pushed to URLs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether this instance sends deliveries (the others still do).
    pub dispatch: bool,
    /// Let webhooks reach loopback, private and link-local addresses.
    pub allow_private: bool,
    /// Time a receiver has to answer, s.
    pub timeout_secs: u64,
    /// The first retry's delay, ms (doubling each time, at most an hour).
    pub backoff_ms: u64,
    /// How long a delivery is retried, s.
    pub retry_window_secs: u64,
    /// Failed attempts in a row that disable a webhook.
    pub disable_after: u32,
    /// How often each instance looks for deliveries to make when not woken by the feed, ms.
    pub interval_ms: u64,
    /// How long an instance holds a webhook before another may take it over, s.
    pub lease_secs: u64,
}

/// OpenTelemetry traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP traces URL; empty: off unless `OTEL_EXPORTER_OTLP_*ENDPOINT`
    /// is set.
    pub otlp_endpoint: String,
    /// `http/protobuf` or `http/json`; empty: `OTEL_EXPORTER_OTLP_*PROTOCOL`, else protobuf.
    pub otlp_protocol: String,
    /// The spans' `service.name`, unless `OTEL_SERVICE_NAME` is set.
    pub service_name: String,
}
