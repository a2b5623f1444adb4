//! Tracing for every binary of the workspace: structured logs on stderr, OpenTelemetry spans, and
//! W3C trace-context propagation across the gRPC hop from the SCIM edge into the core.
//!
//! Spans always get OpenTelemetry ids (so a trace id links the edge's and the core's logs even
//! without a collector); they are exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set. Metrics recorded through the OpenTelemetry API are exported over OTLP under the same
//! condition and are always readable in the Prometheus text format ([`prometheus_text`]), which
//! the binaries serve on `/metrics`. This crate owns no business logic and must stay cheap on
//! the request path.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Flushes and shuts the exporters down when dropped: keep it alive for the life of `main`.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // a collector that is gone at shutdown must not hang or fail the process
        let _ = self.provider.shutdown();
        let _ = self.meters.shutdown();
    }
}

/// The registry the Prometheus exporter writes into; set once by [`init`].
static PROMETHEUS: OnceLock<prometheus::Registry> = OnceLock::new();

/// Every metric of this process in the Prometheus text exposition format (empty before
/// [`init`]).
pub fn prometheus_text() -> String {
    use prometheus::Encoder;
    let Some(registry) = PROMETHEUS.get() else {
        return String::new();
    };
    let mut buffer = Vec::new();
    match prometheus::TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        Ok(()) => String::from_utf8(buffer).unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "encoding metrics failed");
            String::new()
        }
    }
}

/// The meter provider: a Prometheus reader always, an OTLP exporter when configured. The
/// reader is `opentelemetry-prometheus`, which the OpenTelemetry Rust maintainers took back
/// into maintenance in 0.32 (it had been marked discontinued in 0.29) and which no longer pulls
/// the unmaintained `protobuf` crate: the text format stays scrapeable without a collector.
/// Scope labels stay off, so series are named and labelled as before.
fn meter_provider(resource: opentelemetry_sdk::Resource) -> anyhow::Result<SdkMeterProvider> {
    let registry = PROMETHEUS.get_or_init(prometheus::Registry::new).clone();
    let prometheus_reader = opentelemetry_prometheus::exporter()
        .with_registry(registry)
        .scope_info_enabled(false)
        .build()?;
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(prometheus_reader);
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()?;
        builder = builder.with_periodic_exporter(exporter);
    }
    Ok(builder.build())
}

/// Installs the global subscriber for `service_name`.
///
/// `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` switches logs to JSON lines;
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other standard `OTEL_*` variables) enables export.
pub fn init(service_name: &'static str) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name)
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let meters = meter_provider(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name)
            .build(),
    )?;
    opentelemetry::global::set_meter_provider(meters.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name));

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let fmt_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()?;
    Ok(TelemetryGuard { provider, meters })
}

/// The W3C trace id of the current span, if any (for logs and test assertions).
pub fn current_trace_id() -> Option<String> {
    trace_id_of(&tracing::Span::current())
}

/// The W3C trace id of `span`, if it has a valid OpenTelemetry context.
fn trace_id_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The OpenTelemetry context of the current tracing span (to parent spans made with the
/// OpenTelemetry API directly, such as database statements).
pub fn current_context() -> opentelemetry::Context {
    tracing::Span::current().context()
}

/// Whether `context` holds a valid span to be a parent.
pub fn has_valid_span(context: &opentelemetry::Context) -> bool {
    use opentelemetry::trace::TraceContextExt;
    context.span().span_context().is_valid()
}

/// Writes the current span's trace context into outgoing gRPC metadata (`traceparent`).
pub fn inject_current_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
}

/// Makes `span` a child of the trace context carried by incoming HTTP/2 headers, if any.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // an invalid or absent parent only means the span starts a new trace
    let _ = span.set_parent(parent);
}

/// A span for one incoming gRPC call, child of the caller's trace; for `tonic`'s `trace_fn`.
pub fn grpc_server_span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc",
        otel.kind = "server",
        rpc.method = %request.uri().path(),
        trace_id = tracing::field::Empty,
    );
    set_parent_from_headers(&span, request.headers());
    record_trace_id(&span);
    span
}

/// Records the span's W3C trace id in its `trace_id` field (declared empty by the caller), so
/// every log line inside the span (text or JSON) names the trace a collector shows.
pub fn record_trace_id(span: &tracing::Span) {
    if let Some(trace_id) = trace_id_of(span) {
        span.record("trace_id", trace_id);
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_survives_the_metadata_round_trip() {
        let _guard = init("telemetry-test").expect("init");
        let span = tracing::info_span!("edge request");
        let _entered = span.enter();
        let sent = current_trace_id().expect("a valid trace id");

        let mut metadata = tonic::metadata::MetadataMap::new();
        inject_current_context(&mut metadata);
        let headers = metadata.into_headers();
        assert!(headers.contains_key("traceparent"));

        let request = http::Request::builder()
            .uri("/identity.v1.UserService/GetUser")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        parts.headers = headers;
        let server_span = grpc_server_span(&http::Request::from_parts(parts, ()));
        let _server = server_span.enter();
        assert_eq!(current_trace_id().as_deref(), Some(sent.as_str()));
    }
}
