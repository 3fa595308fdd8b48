//! Spans of the adapters that cost something to make: made only while traces are exported
//! ([`crate::telemetry`] turns them on), so the log and the hot path pay nothing otherwise.

/// Whether spans are exported (set once, at start-up).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A span around one database transaction group (a store call: its reads, or its write
/// transaction), named after the store module (`db.write messages`), inside the request or
/// reply being traced; none when traces are not exported, so the log and the hot path pay
/// nothing for it, and none for background work (sweeps, leases, the feed's writer), which
/// would otherwise start a trace of its own every few seconds.
pub(crate) fn db_span(
    operation: &'static str,
    system: &'static str,
    module: &'static str,
) -> tracing::Span {
    if !EXPORTING.load(std::sync::atomic::Ordering::Relaxed) || tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let store = module.rsplit("::").next().unwrap_or(module);
    tracing::info_span!(
        "db",
        otel.name = format!("db.{operation} {store}"),
        otel.kind = "client",
        db.system.name = system,
        db.operation.name = operation,
        code.namespace = module,
    )
}

/// Traces are exported from now on.
pub(crate) fn exporting() {
    EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
}
