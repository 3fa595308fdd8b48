//! OpenTelemetry traces: the OTLP/HTTP exporter (`[telemetry]` and the standard `OTEL_*`
//! variables), the `tracing` layer that turns spans into OpenTelemetry spans, W3C trace context
//! passed on to servers this process calls, and the trace id in JSON log lines.
//!
//! The exporter runs on the SDK's own batch thread with a blocking HTTP client, so no request
//! waits for the collector; a collector that is down costs dropped spans and a warning, nothing
//! else.

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::TelemetryConfig;

/// The running exporter; [`Telemetry::shutdown`] sends what is still queued.
#[derive(Debug, Clone)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether traces are exported: an endpoint in the settings or in `OTEL_EXPORTER_OTLP_*`, and
/// not turned off by `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
fn wanted(config: &TelemetryConfig) -> bool {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return false;
    }
    !config.otlp_endpoint.trim().is_empty()
        || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
}

fn protocol(config: &TelemetryConfig) -> Result<Protocol, String> {
    let named = Some(config.otlp_protocol.trim().to_owned())
        .filter(|p| !p.is_empty())
        .or_else(|| env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match named.as_deref().map(str::trim) {
        None | Some("http/protobuf") => Ok(Protocol::HttpBinary),
        Some("http/json") => Ok(Protocol::HttpJson),
        Some(other) => Err(format!(
            "telemetry.otlp_protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) is {other:?}: use \
             \"http/protobuf\" or \"http/json\" (gRPC is not built in)"
        )),
    }
}

impl Telemetry {
    /// Builds the exporter when traces are wanted; `Ok(None)` when they are not.
    pub fn start(config: &TelemetryConfig) -> Result<Option<Self>, String> {
        if !wanted(config) {
            return Ok(None);
        }
        // The exporter's HTTP client is reqwest over rustls: the provider must be in place.
        crate::tls::install();
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol(config)?);
        if !config.otlp_endpoint.trim().is_empty() {
            builder = builder.with_endpoint(config.otlp_endpoint.trim());
        }
        let exporter = builder
            .build()
            .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
        // Reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the setting names the service
        // only when the variable does not.
        let mut resource = Resource::builder();
        if env("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(config.service_name.clone());
        }
        let resource = resource
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        // The sampler is the SDK's default, which reads OTEL_TRACES_SAMPLER(_ARG).
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        global::set_text_map_propagator(TraceContextPropagator::new());
        global::set_tracer_provider(provider.clone());
        crate::spans::exporting();
        Ok(Some(Self { provider }))
    }

    /// The `tracing` layer that makes OpenTelemetry spans of this process's spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("chat-threads"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
    }

    /// Sends the spans still queued (waits up to 5 s) and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: the last spans were not sent: {e}");
        }
    }
}

/// Adds the current span's trace context (`traceparent`, `tracestate`) to the headers of an
/// outgoing request, so the server called continues the trace. Nothing when traces are off.
pub fn inject(headers: &mut reqwest::header::HeaderMap) {
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers));
    });
}

/// A JSON log formatter that puts the trace id of the span being logged in, first, as
/// `"trace_id"` (lines outside any traced span are left as they are).
#[derive(Debug)]
pub struct WithTraceId<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        match line.strip_prefix('{') {
            Some(rest) if sc.is_valid() => {
                write!(w, "{{\"trace_id\":\"{}\",{rest}", sc.trace_id())
            }
            _ => w.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str, protocol: &str) -> TelemetryConfig {
        TelemetryConfig {
            otlp_endpoint: endpoint.into(),
            otlp_protocol: protocol.into(),
            service_name: "chat-threads".into(),
        }
    }

    #[test]
    fn protocols_are_named_as_the_spec_names_them() {
        assert!(matches!(
            protocol(&config("", "http/json")),
            Ok(Protocol::HttpJson)
        ));
        assert!(matches!(
            protocol(&config("", "http/protobuf")),
            Ok(Protocol::HttpBinary)
        ));
        let refused = protocol(&config("", "grpc")).err().unwrap_or_default();
        assert!(refused.contains("grpc"), "{refused}");
    }
}
