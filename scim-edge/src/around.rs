//! A tower service written as one async function around the next service: the edge's own
//! layers (`envelope`, `auth`, `metrics`) are each a [`Wrap`].
//!
//! Why not axum's `middleware::from_fn`: it boxes the next service into a `Next` and boxes the
//! future on every request, and `Router::layer` clones the layered service per request as well.
//! Here the function is handed the next service itself; the one allocation is the future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::Service;

/// What a layer does around the next service `S`.
pub(crate) trait Wrap<S>: Clone {
    /// Answers `request`, calling `next` (already ready) at most once.
    fn wrap(&self, next: S, request: Request) -> impl Future<Output = Response> + Send + 'static;
}

/// The service of a [`Wrap`] around `S`.
#[derive(Debug, Clone)]
pub struct Around<S, W> {
    next: S,
    wrap: W,
}

impl<S, W> Around<S, W> {
    pub(crate) fn new(next: S, wrap: W) -> Self {
        Self { next, wrap }
    }
}

impl<S, W> Service<Request> for Around<S, W>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
    W: Wrap<S>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.next.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // the service polled ready is the one called; a fresh clone waits for the next call
        let clone = self.next.clone();
        let next = std::mem::replace(&mut self.next, clone);
        let response = self.wrap.wrap(next, request);
        Box::pin(async move { Ok(response.await) })
    }
}

/// Calls `next` with `request`.
pub(crate) async fn call<S>(mut next: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let Ok(response) = next.call(request).await;
    response
}
