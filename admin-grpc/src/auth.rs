//! Authentication of gRPC calls, done once for every RPC, and the admin API's one authorization
//! check.
//!
//! Why a tower layer and not a tonic interceptor: checking a credential means a database
//! lookup, and tonic interceptors are synchronous. [`Authenticated`] wraps each generated
//! service: it reads `authorization: Bearer <credential>`, awaits its [`Authenticator`], and
//! either answers with the authenticator's error itself (the handler never runs) or stores the
//! principal in the request extensions, where tonic hands it to the handler. Handlers then only
//! check the organization the request names ([`Principal::authorize`] for the admin API).
//! Health and reflection on the same listener are not wrapped, so probes need no credential.
//! The identity.v1 listener uses the same layer with its own authenticator and principal.

use crate::backend::AdminBackend;
use crate::status;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use uuid::Uuid;

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap administrator: every organization.
    Admin,
    /// An owner credential: one organization.
    Owner {
        /// The organization the credential administers.
        organization_id: Uuid,
    },
}

impl Principal {
    /// Checks that the caller may act on `organization_id` (a request field, validated here so
    /// every handler reports a missing or malformed id the same way) and returns it parsed.
    pub fn authorize(&self, organization_id: &str) -> Result<Uuid, Status> {
        let requested = parse_uuid("organization_id", organization_id)?;
        self.authorize_id(requested)?;
        Ok(requested)
    }

    /// Checks that the caller may act on an already-parsed organization id.
    pub fn authorize_id(&self, organization_id: Uuid) -> Result<(), Status> {
        match self {
            Self::Admin => Ok(()),
            Self::Owner {
                organization_id: own,
            } if *own == organization_id => Ok(()),
            Self::Owner { .. } => Err(status::permission_denied(
                "the credential does not administer this organization",
            )),
        }
    }

    /// Checks that the caller is the bootstrap administrator.
    pub fn require_admin(&self) -> Result<(), Status> {
        match self {
            Self::Admin => Ok(()),
            Self::Owner { .. } => Err(status::permission_denied(
                "only the bootstrap administrator may do this",
            )),
        }
    }

    /// The principal the [`Authenticated`] layer stored in the request.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Self, Status> {
        // absent only if a service was served without the layer: refuse rather than allow
        request
            .extensions()
            .get::<Self>()
            .ok_or_else(status::unauthenticated)
    }
}

/// Parses a required UUID request field.
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Status> {
    if value.is_empty() {
        return Err(status::invalid_argument(field, "is required"));
    }
    Uuid::try_parse(value).map_err(|_| status::invalid_argument(field, "is not a valid UUID"))
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
}

/// The admin API's authenticator: the backend's credential check.
#[async_trait::async_trait]
impl Authenticator for dyn AdminBackend {
    type Principal = Principal;

    async fn authenticate(&self, secret: &str) -> Result<Principal, Status> {
        AdminBackend::authenticate(self, secret).await
    }
}

/// A `tower::Layer` that wraps a service in [`Authenticated`].
pub struct AuthLayer<A: ?Sized = dyn AdminBackend> {
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
pub struct Authenticated<S, A: ?Sized = dyn AdminBackend> {
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
            let Some(credential) = credential else {
                tracing::info!(path = %request.uri().path(), "call without bearer credential");
                return Ok(status::unauthenticated().into_http());
            };
            match authenticator.authenticate(&credential).await {
                Ok(principal) => {
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

    fn org(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn admin_may_act_on_any_organization() {
        let id = org(7);
        assert_eq!(Principal::Admin.authorize(&id.to_string()).unwrap(), id);
        Principal::Admin.require_admin().unwrap();
    }

    #[test]
    fn owner_may_act_only_on_their_organization() {
        let owner = Principal::Owner {
            organization_id: org(1),
        };
        assert_eq!(owner.authorize(&org(1).to_string()).unwrap(), org(1));
        // any spelling of the same UUID is the same organization
        assert_eq!(
            owner
                .authorize(&org(1).simple().to_string().to_uppercase())
                .unwrap(),
            org(1)
        );
        let denied = owner.authorize(&org(2).to_string()).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            status::reason_of(&denied).as_deref(),
            Some("PERMISSION_DENIED")
        );
        assert_eq!(
            owner.require_admin().unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn malformed_organization_ids_are_invalid_arguments_not_denials() {
        for principal in [
            Principal::Admin,
            Principal::Owner {
                organization_id: org(1),
            },
        ] {
            for bad in ["", "not-a-uuid"] {
                let err = principal.authorize(bad).unwrap_err();
                assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}");
            }
        }
    }

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
}
