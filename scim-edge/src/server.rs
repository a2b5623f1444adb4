//! The HTTP service: SCIM routes under the base URL's path, `/healthz`, `/readyz` and
//! `/metrics` (Prometheus text) outside it, and the tower stack every request goes through.
//!
//! The stack is listed once, in [`router`], outermost first. Whatever fails where, the client
//! gets a SCIM error body with `application/scim+json`: the layers that answer by themselves
//! (body limit, method and route mismatches, panics, timeouts) are made to, and a last
//! normalizing layer rewrites any other error response that is not SCIM JSON.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::authenticate;
use crate::error::{RETRY_AFTER_SECS, ScimError};
use crate::handlers::groups::Groups;
use crate::handlers::resource::{self, ById, OwnUser};
use crate::handlers::users::Users;
use crate::handlers::{SCIM_JSON, bulk, discovery, me, search};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole service, ready to be served or driven with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let base_path = settings.base_path();
    let scim = scim_routes()
        .fallback(unknown_route)
        // auth: every SCIM route, discovery included, needs a valid bearer token
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // concurrency limit: at most this many SCIM requests in the handlers, others wait
        // (health probes are not limited, so a busy edge is not restarted); global because
        // axum applies a layer to each route separately
        .layer(GlobalConcurrencyLimitLayer::new(
            settings.max_concurrent_requests,
        ));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // OAuth 2.0 for identity providers: outside the base path and SCIM bearer auth, inside
        // the budget of unauthenticated work per source address
        .merge(
            crate::oauth::routes().route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::auth::budget_unauthenticated,
            )),
        )
        // the setup portal: its own session cookie, the same budget per source address
        .merge(
            crate::portal::routes().route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::auth::budget_unauthenticated,
            )),
        );
    let app = if base_path.is_empty() {
        app.merge(scim)
    } else {
        app.nest(&base_path, scim)
    };
    app.fallback(unknown_route)
        .with_state(state)
        // a 429 for a client that ignored its Retry-After waits here, holding no slot
        .layer(middleware::from_fn(crate::throttle::hold_refusals))
        // metrics: duration by matched route, method and status (inside the trace span)
        .layer(middleware::from_fn(crate::metrics::record_request))
        // the body limit below is the only one: axum's default 2 MiB must not apply as well
        .layer(DefaultBodyLimit::disable())
        .layer(
            ServiceBuilder::new()
                // request id: reuse the caller's x-request-id or make one, before the trace
                // span is opened so the span can carry it
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                // trace: one span per request (child of an incoming traceparent), with method,
                // path, status and latency
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(make_span)
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                        )
                        // a 503 while the core is down is expected, not an edge failure
                        .on_failure(
                            tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN),
                        ),
                )
                // request id: echoed on the response
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // SCIM errors everywhere: any error response that is not SCIM JSON (405, 404,
                // 413 of the layers below) is rewritten into one
                .layer(middleware::map_response(scim_error_bodies))
                // catch-panic: a bug answers 500 with a SCIM error instead of dropping the
                // connection
                .layer(CatchPanicLayer::custom(panic_response))
                // timeout: a request that takes too long is answered 503 with Retry-After
                .layer(middleware::from_fn_with_state(
                    settings.request_timeout,
                    timeout,
                ))
                // body limit: larger bodies are refused with 413 (by Content-Length at once,
                // else while reading)
                .layer(RequestBodyLimitLayer::new(settings.limits.max_payload_size)),
        )
    // then, on the SCIM routes only (layered on `scim` above): concurrency limit, auth, router
}

/// The SCIM endpoints, relative to the base path.
fn scim_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/Users",
            get(resource::list::<Users>).post(resource::post::<Users>),
        )
        .route(
            "/Users/{id}",
            get(resource::get_one::<Users, ById>)
                .put(resource::put::<Users, ById>)
                .patch(resource::patch::<Users, ById>)
                .delete(resource::delete::<Users, ById>),
        )
        .route("/Users/.search", post(search::collection::<Users>))
        .route(
            "/Groups",
            get(resource::list::<Groups>).post(resource::post::<Groups>),
        )
        .route(
            "/Groups/{id}",
            get(resource::get_one::<Groups, ById>)
                .put(resource::put::<Groups, ById>)
                .patch(resource::patch::<Groups, ById>)
                .delete(resource::delete::<Groups, ById>),
        )
        .route("/Groups/.search", post(search::collection::<Groups>))
        .route("/.search", post(search::root))
        .route("/Bulk", post(bulk::bulk))
        .route(
            "/Me",
            get(resource::get_one::<Users, OwnUser>)
                .put(resource::put::<Users, OwnUser>)
                .patch(resource::patch::<Users, OwnUser>)
                .delete(resource::delete::<Users, OwnUser>)
                .post(me::post),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{urn}", get(discovery::schema))
}

fn make_span(request: &Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    // the organization is recorded once the token is resolved (auth middleware); neither the
    // token nor the query string (filters hold user names) nor a portal link's secret is ever
    // put on the span
    let span = tracing::info_span!(
        "http",
        otel.kind = "server",
        http.method = %request.method(),
        http.path = %crate::portal::loggable_path(request.uri().path()),
        scim.resource_type = crate::metrics::resource_type(request.uri().path()),
        organization.id = tracing::field::Empty,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    identity_runtime::telemetry::set_parent_from_headers(&span, request.headers());
    identity_runtime::telemetry::record_trace_id(&span);
    span
}

/// `/metrics`: the process's OpenTelemetry metrics in the Prometheus text format. Counts only,
/// by route, status and normalisation: nothing a tenant could not see anyway, no tokens, no
/// personal data; expose it to the scraper, not through the SCIM ingress.
async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        identity_runtime::telemetry::prometheus_text(),
    )
        .into_response()
}

/// `/healthz`: the process runs.
async fn healthz() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// `/readyz`: the core answers its gRPC health check.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.core.is_ready().await {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ready"}"#,
        )
            .into_response()
    } else {
        ScimError::unavailable("the identity service is not ready", RETRY_AFTER_SECS)
            .into_response()
    }
}

async fn unknown_route(request: Request) -> ScimError {
    ScimError::not_found(format!("no resource at {}", request.uri().path()))
}

/// The request timeout. A read cut short changes nothing, so it is answered 503 (with
/// Retry-After) at the limit, and so is a write whose body has not fully arrived by then. A write
/// whose request has arrived is finished and answered however long the core takes: a 503 must
/// never hide a write that then commits, which the client would retry into a 409 or a second
/// change. The core bounds every write itself (one it cannot start in time is refused
/// UNAVAILABLE, unchanged), so the wait is bounded.
async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let (request, arrived) = if request.method().is_safe() {
        (request, None)
    } else {
        let arrived = Arc::new(AtomicBool::new(false));
        let (parts, body) = request.into_parts();
        let watched = Body::new(ArrivalWatch::new(body, arrived.clone()));
        (Request::from_parts(parts, watched), Some(arrived))
    };
    let mut response = std::pin::pin!(next.run(request));
    match tokio::time::timeout(limit, &mut response).await {
        Ok(response) => response,
        Err(_) if arrived.is_some_and(|arrived| arrived.load(Ordering::Acquire)) => {
            tracing::info!(
                timeout_ms = limit.as_millis() as u64,
                "a write outlasted the request timeout; finishing it"
            );
            response.await
        }
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ScimError::unavailable("the request timed out", RETRY_AFTER_SECS).into_response()
        }
    }
}

/// A request body that records when it has been read to its end.
struct ArrivalWatch {
    inner: Body,
    arrived: Arc<AtomicBool>,
}

impl ArrivalWatch {
    fn new(inner: Body, arrived: Arc<AtomicBool>) -> Self {
        // an empty body (a DELETE) has arrived already
        if inner.is_end_stream() {
            arrived.store(true, Ordering::Release);
        }
        Self { inner, arrived }
    }
}

impl HttpBody for ArrivalWatch {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.arrived.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "request handler panicked");
    ScimError::internal().into_response()
}

/// Rewrites error responses that are not SCIM JSON or OAuth's own (axum's 404/405,
/// tower-http's 413, …).
async fn scim_error_bodies<B>(response: http::Response<B>) -> Response
where
    http::Response<B>: IntoResponse,
{
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response.into_response();
    }
    // SCIM errors, and the OAuth endpoints' own errors (RFC 6749 JSON, HTML pages), are meant
    let is_deliberate = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(SCIM_JSON.as_bytes())
                || value.starts_with(b"application/json")
                || value.starts_with(b"text/html")
        });
    if is_deliberate {
        return response.into_response();
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "resource not found",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this endpoint",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported media type",
        StatusCode::REQUEST_TIMEOUT => "the request timed out",
        _ => status.canonical_reason().unwrap_or("request failed"),
    };
    let mut rewritten = ScimError::new(status, None, detail.to_lowercase()).into_response();
    // keep headers such as Allow (405) and the request id
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE
        && !rewritten.headers().contains_key(header::RETRY_AFTER)
    {
        rewritten
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    rewritten
}
