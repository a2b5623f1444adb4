//! A small client for platform services: connect to identity.v1, authenticate every call with a
//! service credential, and retry calls that failed because the core was unavailable.
//!
//! ```no_run
//! use identity_proto::client::{IdentityClient, RetryPolicy};
//! use identity_proto::identity::v1::{LookupUserRequest, lookup_user_request::Key};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = IdentityClient::connect_lazy("http://identity-core:50051", "idsvc_…")?;
//! let retry = RetryPolicy::default();
//! let user = retry
//!     .run(|| {
//!         let mut users = client.users.clone();
//!         async move {
//!             users
//!                 .lookup_user(LookupUserRequest {
//!                     organization_id: "…".into(),
//!                     key: Some(Key::UserName("ada@example.com".into())),
//!                 })
//!                 .await
//!         }
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Only UNAVAILABLE is retried: it means the call did not reach a serving core (connection
//! refused, a replica draining, the store briefly unreachable), so repeating it is safe for
//! reads and for writes guarded by `expected_version`. Every other status is returned at once.
//! Clients are cheap to clone; clones share one HTTP/2 connection.

use crate::identity::v1::access_token_service_client::AccessTokenServiceClient;
use crate::identity::v1::change_service_client::ChangeServiceClient;
use crate::identity::v1::role_service_client::RoleServiceClient;
use crate::identity::v1::user_service_client::UserServiceClient;
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Adds `authorization: Bearer <credential>` to every call. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct BearerCredential {
    header: MetadataValue<Ascii>,
}

impl BearerCredential {
    /// A credential for the `authorization` header; fails when it is not a valid header value.
    pub fn new(secret: &str) -> Result<Self, ClientError> {
        let mut header: MetadataValue<Ascii> = format!("Bearer {secret}")
            .parse()
            .map_err(|_| ClientError::InvalidCredential)?;
        header.set_sensitive(true);
        Ok(Self { header })
    }
}

impl std::fmt::Debug for BearerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerCredential([redacted])")
    }
}

impl Interceptor for BearerCredential {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(request)
    }
}

/// A channel whose every call carries the credential.
pub type AuthenticatedChannel = InterceptedService<Channel, BearerCredential>;

/// Why a client could not be built.
#[derive(Debug)]
pub enum ClientError {
    /// The endpoint is not a valid URI, or connecting failed.
    Transport(tonic::transport::Error),
    /// The credential contains characters a header cannot carry.
    InvalidCredential,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(error) => write!(f, "identity.v1 transport: {error}"),
            Self::InvalidCredential => f.write_str("the credential is not a valid header value"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(error) => Some(error),
            Self::InvalidCredential => None,
        }
    }
}

impl From<tonic::transport::Error> for ClientError {
    fn from(error: tonic::transport::Error) -> Self {
        Self::Transport(error)
    }
}

/// The identity.v1 clients a platform service uses, over one authenticated channel.
#[derive(Debug, Clone)]
pub struct IdentityClient {
    pub users: UserServiceClient<AuthenticatedChannel>,
    pub roles: RoleServiceClient<AuthenticatedChannel>,
    pub changes: ChangeServiceClient<AuthenticatedChannel>,
    pub access_tokens: AccessTokenServiceClient<AuthenticatedChannel>,
}

impl IdentityClient {
    /// The endpoint settings every client of this crate uses: no Nagle delay, HTTP/2 keepalive
    /// so a dead connection is noticed, and bounded connect time.
    pub fn endpoint(uri: &str) -> Result<Endpoint, ClientError> {
        Ok(Endpoint::from_shared(uri.to_owned())?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true))
    }

    /// A client that connects on first use (and reconnects after failures by itself).
    pub fn connect_lazy(uri: &str, credential: &str) -> Result<Self, ClientError> {
        let channel = Self::endpoint(uri)?.connect_lazy();
        Self::with_channel(channel, credential)
    }

    /// A client that connects now, failing when the core cannot be reached.
    pub async fn connect(uri: &str, credential: &str) -> Result<Self, ClientError> {
        let channel = Self::endpoint(uri)?.connect().await?;
        Self::with_channel(channel, credential)
    }

    /// Clients over an existing channel (custom TLS, timeouts, load balancing).
    pub fn with_channel(channel: Channel, credential: &str) -> Result<Self, ClientError> {
        let auth = BearerCredential::new(credential)?;
        Ok(Self {
            users: UserServiceClient::with_interceptor(channel.clone(), auth.clone()),
            roles: RoleServiceClient::with_interceptor(channel.clone(), auth.clone()),
            changes: ChangeServiceClient::with_interceptor(channel.clone(), auth.clone()),
            access_tokens: AccessTokenServiceClient::with_interceptor(channel, auth),
        })
    }
}

/// Retry with exponential backoff and full jitter, on UNAVAILABLE only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 retries from 50 ms up to 2 s: about 3.5 s in the worst case, enough to ride out a
    /// replica restart behind a Service.
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Runs `call` (which builds a fresh request each time) until it succeeds, fails with
    /// something other than UNAVAILABLE, or the retries are used up.
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_retries)
            .with_jitter();
        call.retry(backoff)
            .when(|status: &Status| status.code() == Code::Unavailable)
            .await
            .map(tonic::Response::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn unavailable_is_retried_until_success() {
        let attempts = AtomicUsize::new(0);
        let result = fast()
            .run(|| {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(Status::unavailable("core restarting"))
                    } else {
                        Ok(tonic::Response::new(n))
                    }
                }
            })
            .await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn other_errors_and_exhausted_retries_are_returned() {
        let attempts = AtomicUsize::new(0);
        let denied = fast()
            .run(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<tonic::Response<()>, _>(Status::permission_denied("no")) }
            })
            .await;
        assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);

        let attempts = AtomicUsize::new(0);
        let down = fast()
            .run(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<tonic::Response<()>, _>(Status::unavailable("down")) }
            })
            .await;
        assert_eq!(down.unwrap_err().code(), Code::Unavailable);
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let credential = BearerCredential::new("idsvc_secret").unwrap();
        assert!(!format!("{credential:?}").contains("secret"));
        assert!(BearerCredential::new("bad\nvalue").is_err());
    }
}
