//! Authentication of gRPC calls, done once for every RPC of a listener.
//!
//! A call is authenticated by its `authorization: Bearer` credential or, without one, by the
//! client certificate its TLS connection presented (verified against the listener's client CA
//! during the handshake; see `crate::tls`), whose names the authenticator maps to a principal.
//!
//! Why a tower layer and not a tonic interceptor: checking a credential means a database
//! lookup, and tonic interceptors are synchronous. [`Authenticated`] wraps each generated
//! service: it reads `authorization: Bearer <credential>`, awaits its [`Authenticator`], and
//! either answers with the authenticator's error itself (the handler never runs) or stores the
//! principal in the request extensions, where tonic hands it to the handler. Health and
//! reflection on the same listener are not wrapped, so probes need no credential. The admin API
//! and identity.v1 each bring their own authenticator and principal.

use identity_proto::identity::v1::ErrorReason;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;

/// UNAUTHENTICATED with a generic message and its `ErrorInfo` reason: why a credential failed
/// is nobody's business but the server's log.
pub fn unauthenticated() -> Status {
    ErrorReason::Unauthenticated.status(tonic::Code::Unauthenticated, "unauthenticated")
}

/// The credential of an `authorization` header value: `Bearer <credential>` (scheme
/// case-insensitive, RFC 7235 §2.1), or `None`.
pub fn bearer_credential(header: &http::HeaderValue) -> Option<&str> {
    let value = header.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// Resolves a presented bearer credential to the principal handlers see.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// What a credential stands for; stored in the request extensions.
    type Principal: Clone + Send + Sync + 'static;

    /// The principal of `secret`, or the status to answer (UNAUTHENTICATED for anything not
    /// recognised).
    async fn authenticate(&self, secret: &str) -> Result<Self::Principal, Status>;

    /// The principal of a verified client certificate issued to `names` (its DNS names, or
    /// its common name); by default certificates stand for nobody.
    async fn authenticate_certificate(&self, names: &[String]) -> Result<Self::Principal, Status> {
        let _ = names;
        Err(unauthenticated())
    }

    /// Called once the call to `method` (its gRPC path) is authenticated, before it runs: where
    /// an authenticator whose principals must be audited call by call says so. Nothing by
    /// default.
    fn authenticated(&self, principal: &Self::Principal, method: &str) {
        let _ = (principal, method);
    }
}

/// The names of the verified client certificate the call's connection presented, if any (read
/// once per connection, at the handshake: `crate::tls::TlsConnection`).
fn client_certificate_names<B>(request: &http::Request<B>) -> Option<Arc<[String]>> {
    request
        .extensions()
        .get::<crate::tls::ClientCertificate>()?
        .0
        .clone()
}

/// A `tower::Layer` that wraps a service in [`Authenticated`].
pub struct AuthLayer<A: ?Sized> {
    authenticator: Arc<A>,
}

impl<A: ?Sized> Clone for AuthLayer<A> {
    fn clone(&self) -> Self {
        Self {
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

impl<A: ?Sized> std::fmt::Debug for AuthLayer<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer").finish_non_exhaustive()
    }
}

impl<A: ?Sized> AuthLayer<A> {
    /// Authenticates through `authenticator`.
    pub fn new(authenticator: Arc<A>) -> Self {
        Self { authenticator }
    }
}

impl<S, A: ?Sized> tower::Layer<S> for AuthLayer<A> {
    type Service = Authenticated<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

/// A gRPC service whose every call is authenticated first (see the module documentation).
pub struct Authenticated<S, A: ?Sized> {
    inner: S,
    authenticator: Arc<A>,
}

impl<S: Clone, A: ?Sized> Clone for Authenticated<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

impl<S, A: ?Sized> std::fmt::Debug for Authenticated<S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated").finish_non_exhaustive()
    }
}

impl<S: NamedService, A: ?Sized> NamedService for Authenticated<S, A> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, A> tower::Service<http::Request<Body>> for Authenticated<S, A>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    A: Authenticator + ?Sized,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // the clone that was not polled ready stays here; the ready one serves this call
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = Arc::clone(&self.authenticator);
        Box::pin(async move {
            let credential = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(bearer_credential)
                .map(str::to_owned);
            // the certificate is consulted only without a credential: an explicit bearer wins
            let outcome = match credential {
                Some(credential) => authenticator.authenticate(&credential).await,
                None => match client_certificate_names(&request) {
                    Some(names) => authenticator.authenticate_certificate(&names).await,
                    None => {
                        tracing::info!(path = %request.uri().path(), "call without bearer credential");
                        return Ok(unauthenticated().into_http());
                    }
                },
            };
            match outcome {
                Ok(principal) => {
                    authenticator.authenticated(&principal, request.uri().path());
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(status) => {
                    tracing::info!(path = %request.uri().path(), code = ?status.code(), "credential rejected");
                    Ok(status.into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_credentials_are_extracted() {
        let parse =
            |v: &'static str| bearer_credential(&HeaderValue::from_static(v)).map(str::to_owned);
        assert_eq!(parse("Bearer idown_abc").as_deref(), Some("idown_abc"));
        assert_eq!(parse("bearer   idown_abc ").as_deref(), Some("idown_abc"));
        assert_eq!(parse("Basic dXNlcjpwYXNz"), None);
        assert_eq!(parse("Bearer "), None);
        assert_eq!(parse("Bearer"), None);
        assert_eq!(parse("idown_abc"), None);
    }

    #[test]
    fn a_refusal_says_unauthenticated_and_nothing_more() {
        let status = unauthenticated();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(ErrorReason::of(&status), Some(ErrorReason::Unauthenticated));
    }
}
