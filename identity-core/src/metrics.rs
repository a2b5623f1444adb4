//! The core's metrics, through the OpenTelemetry API (OTLP when configured, Prometheus text on
//! the optional metrics listener): every gRPC call by method and status with its latency, every
//! database statement by operation with its latency (and as a span under the call's span), and
//! the database pool's connections in use and idle.
//!
//! Labels are bounded: the method is the gRPC path (a fixed set), the status a gRPC code.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Instant;

static CALL_DURATION: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    opentelemetry::global::meter("identity-core")
        .f64_histogram("rpc.server.call.duration")
        .with_unit("s")
        .with_description("gRPC calls by method and status code, with their latency")
        .with_boundaries(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .build()
});

static STATEMENT_DURATION: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    opentelemetry::global::meter("identity-core")
        .f64_histogram("db.client.operation.duration")
        .with_unit("s")
        .with_description("Database statements by operation, with their latency")
        .with_boundaries(vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
        ])
        .build()
});

/// sea-orm's per-statement callback: a histogram sample, and a client span (child of the
/// current gRPC call's span) covering the statement. Only the operation keyword is recorded:
/// statements are parameterised, but even their text stays out of telemetry.
pub fn statement_executed(info: &sea_orm::metric::Info<'_>, system: &'static str) {
    use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
    let operation = info
        .statement
        .sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let operation = match operation.as_str() {
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "BEGIN" | "COMMIT" | "ROLLBACK" | "PRAGMA"
        | "WITH" => operation,
        _ => "OTHER".to_owned(),
    };
    STATEMENT_DURATION.record(
        info.elapsed.as_secs_f64(),
        &[
            KeyValue::new("db.system", system),
            KeyValue::new("db.operation.name", operation.clone()),
            KeyValue::new("error", info.failed),
        ],
    );
    let parent = identity_runtime::telemetry::current_context();
    if !identity_runtime::telemetry::has_valid_span(&parent) {
        return; // not inside a traced call (start-up, retention): no orphan spans
    }
    let tracer = opentelemetry::global::tracer("identity-core");
    let end = std::time::SystemTime::now();
    let mut span = tracer
        .span_builder(operation.clone())
        .with_kind(SpanKind::Client)
        .with_start_time(end - info.elapsed)
        .with_attributes([
            KeyValue::new("db.system", system),
            KeyValue::new("db.operation.name", operation),
        ])
        .start_with_context(&tracer, &parent);
    if info.failed {
        span.set_status(Status::error("statement failed"));
    }
    span.end_with_timestamp(end);
}

/// A `tower::Layer` recording [`CALL_DURATION`] for every call of a tonic server.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

/// See [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            // errors are trailers-only responses, so their status is in the headers; a
            // response without one carries its status in the trailers, which is OK for every
            // unary success (streams report OK when they open)
            let status = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            CALL_DURATION.record(
                started.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("rpc.method", method),
                    KeyValue::new("rpc.grpc.status_code", status),
                ],
            );
            Ok(response)
        })
    }
}

/// Registers gauges of the store's connection pool (`db.client.connections.usage`, by
/// `state` = used | idle). Keep the returned handle alive as long as the pool.
pub fn observe_pool(
    db: &DatabaseConnection,
) -> Option<opentelemetry::metrics::ObservableGauge<i64>> {
    let db = db.clone();
    let sizes = move || -> Option<(u32, usize)> {
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                Some((pool.size(), pool.num_idle()))
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                Some((pool.size(), pool.num_idle()))
            }
            _ => None,
        }
    };
    sizes()?;
    Some(
        opentelemetry::global::meter("identity-core")
            .i64_observable_gauge("db.client.connections.usage")
            .with_description("Connections of the store's pool, by state")
            .with_callback(move |observer| {
                if let Some((size, idle)) = sizes() {
                    let idle = idle as i64;
                    observer.observe(idle, &[KeyValue::new("state", "idle")]);
                    observer.observe(i64::from(size) - idle, &[KeyValue::new("state", "used")]);
                }
            })
            .build(),
    )
}

/// `GET /metrics` (Prometheus text) and the `/healthz` and `/readyz` probes on their own
/// listener, until `shutdown` resolves.
pub async fn serve_prometheus(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    identity_runtime::telemetry::prometheus_text(),
                )
            }),
        )
        // plain HTTP probes for when the gRPC listeners serve TLS, which Kubernetes' gRPC
        // probes cannot speak; this listener stops with the gRPC ones when draining starts,
        // so a probe sees the same as the gRPC health check
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

static WRITE_BATCH_SIZE: LazyLock<Histogram<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("identity-core")
        .u64_histogram("identity.write.batch.size")
        .with_description(
            "Mutations of one organization committed together in one transaction (group commit)",
        )
        .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
        .build()
});

/// Records one group-commit batch of `mutations` mutations.
pub fn write_batch(mutations: usize) {
    WRITE_BATCH_SIZE.record(mutations as u64, &[]);
}

static WRITES_ABANDONED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("identity-core")
        .u64_counter("identity.write.abandoned")
        .with_description(
            "Queued mutations dropped unrun because their caller stopped waiting before their batch started",
        )
        .build()
});

/// Counts one queued mutation dropped because its caller had gone.
pub fn write_abandoned() {
    WRITES_ABANDONED.add(1, &[]);
}

/// Per organization, when its soonest active SCIM token expires (µs since the epoch), as the
/// token-expiry watch last read it.
static SOONEST_TOKEN_EXPIRY: LazyLock<std::sync::Mutex<Vec<(uuid::Uuid, i64)>>> =
    LazyLock::new(Default::default);

/// Replaces what the soonest-expiry gauge reports.
pub fn soonest_token_expiries(expiries: Vec<(uuid::Uuid, i64)>) {
    *SOONEST_TOKEN_EXPIRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = expiries;
}

/// Registers `identity.scim_token.soonest_expiry`: seconds until each organization's soonest
/// active SCIM token expires (one series per organization with a token, so an alert can name
/// the tenant before its provisioning stops). Keep the returned handle alive.
pub fn observe_token_expiry() -> opentelemetry::metrics::ObservableGauge<i64> {
    opentelemetry::global::meter("identity-core")
        .i64_observable_gauge("identity.scim_token.soonest_expiry")
        .with_unit("s")
        .with_description("Seconds until the organization's soonest active SCIM token expires")
        .with_callback(|observer| {
            let now = crate::time::now_micros();
            let expiries = SOONEST_TOKEN_EXPIRY
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (org, expires_at) in expiries.iter() {
                observer.observe(
                    (expires_at - now) / 1_000_000,
                    &[KeyValue::new("organization_id", org.to_string())],
                );
            }
        })
        .build()
}
