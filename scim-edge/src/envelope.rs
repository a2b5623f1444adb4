//! What happens to every request outside the routes, written as one service.
//!
//! In order, outermost first: a request id (the caller's `x-request-id`, else a new UUID), one
//! trace span (child of an incoming `traceparent`), the body limit (413 by `Content-Length` at
//! once, else while reading), the request timeout, catching a handler's panic, rewriting any
//! error response that is not SCIM JSON into one, holding a 429 whose client ignored its last
//! `Retry-After` (`throttle::hold_refusal`: outside every limit, so a held answer holds no
//! slot), and echoing the request id.
//!
//! Why one service (a `crate::around::Wrap`) rather than tower-http's layers and axum's
//! `from_fn`: each layer is another future around the handler's, moved and polled through on
//! every request, and `Router::layer` boxes and clones its service per route and per request.
//! Seven layers cost about a tenth of a `GET /Users/{id}`'s instructions in the edge; this costs
//! one boxed future.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::around::{Around, Wrap};
use crate::error::{RETRY_AFTER_SECS, ScimError};
use crate::handlers::SCIM_JSON;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The service every request enters first (see the module's comment), with its settings.
///
/// The timeout: a read cut short changes nothing, so it is answered 503 (with Retry-After) at
/// the limit, and so is a write whose body has not fully arrived by then. A write whose request
/// has arrived is finished and answered however long the core takes: a 503 must never hide a
/// write that then commits, which the client would retry into a 409 or a second change. The core
/// bounds every write itself (one it cannot start in time is refused UNAVAILABLE, unchanged), so
/// the wait is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    /// How long a read (or a write whose body has not arrived) may take.
    pub request_timeout: Duration,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
}

impl<S> Layer<S> for Envelope {
    type Service = Around<S, Envelope>;

    fn layer(&self, next: S) -> Around<S, Envelope> {
        Around::new(next, *self)
    }
}

impl<S> Wrap<S> for Envelope
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    fn wrap(
        &self,
        next: S,
        mut request: Request,
    ) -> impl Future<Output = Response> + Send + 'static {
        let request_id = request_id(&mut request);
        let span = make_span(&request);
        let started = Instant::now();
        let content_length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        let limit = self.max_body_bytes;
        let timeout = self.request_timeout;
        let handled = async move {
            if content_length.is_some_and(|length| length > limit) {
                let response = scim_error_body(StatusCode::PAYLOAD_TOO_LARGE.into_response());
                return finish(response, request_id, &tracing::Span::current(), started);
            }
            // a write is finished once its body has arrived (see above); a read never is
            let arrived = (!request.method().is_safe()).then(|| Arc::new(AtomicBool::new(false)));
            let request = request.map(|body| {
                let limited = http_body_util::Limited::new(body, content_length.unwrap_or(limit));
                match &arrived {
                    Some(arrived) => Body::new(ArrivalWatch::new(limited, arrived.clone())),
                    None => Body::new(limited),
                }
            });
            let mut response = scim_error_body(served(next, request, timeout, arrived).await);
            crate::throttle::hold_refusal(&mut response).await;
            finish(response, request_id, &tracing::Span::current(), started)
        };
        handled.instrument(span)
    }
}

/// The next service's answer within the timeout, or the 500 of a panic.
async fn served<S>(
    next: S,
    request: Request,
    limit: Duration,
    arrived: Option<Arc<AtomicBool>>,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let response = AssertUnwindSafe(crate::around::call(next, request)).catch_unwind();
    let mut response = std::pin::pin!(response);
    let outcome = match tokio::time::timeout(limit, &mut response).await {
        Ok(outcome) => outcome,
        Err(_) if arrived.is_some_and(|arrived| arrived.load(Ordering::Acquire)) => {
            tracing::info!(
                timeout_ms = limit.as_millis() as u64,
                "a write outlasted the request timeout; finishing it"
            );
            response.await
        }
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            return ScimError::unavailable("the request timed out", RETRY_AFTER_SECS)
                .into_response();
        }
    };
    match outcome {
        Ok(response) => response,
        Err(panic) => panic_response(panic),
    }
}

/// The caller's request id, or a new one put on the request.
fn request_id(request: &mut Request) -> HeaderValue {
    if let Some(id) = request.headers().get(&REQUEST_ID) {
        return id.clone();
    }
    let id = HeaderValue::try_from(uuid::Uuid::new_v4().to_string())
        .expect("a UUID is a valid header value");
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// Echoes the request id and logs the answer.
fn finish(
    mut response: Response,
    request_id: HeaderValue,
    span: &tracing::Span,
    started: Instant,
) -> Response {
    response.headers_mut().insert(REQUEST_ID, request_id);
    let status = response.status();
    let latency = started.elapsed();
    span.in_scope(|| {
        if status.is_server_error() {
            // a 503 while the core is down is expected, not an edge failure
            tracing::warn!(latency = ?latency, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(latency = ?latency, status = status.as_u16(), "finished processing request");
        }
    });
    response
}

fn make_span(request: &Request) -> tracing::Span {
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

/// A request body that records when it has been read to its end.
struct ArrivalWatch<B> {
    inner: B,
    arrived: Arc<AtomicBool>,
}

impl<B: HttpBody> ArrivalWatch<B> {
    fn new(inner: B, arrived: Arc<AtomicBool>) -> Self {
        // an empty body (a DELETE) has arrived already
        if inner.is_end_stream() {
            arrived.store(true, Ordering::Release);
        }
        Self { inner, arrived }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for ArrivalWatch<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
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

/// Rewrites an error response that is not SCIM JSON or OAuth's own (axum's 404/405, the body
/// limit's 413, …) into a SCIM error.
fn scim_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
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
        return response;
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
    // keep headers such as Allow (405)
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
