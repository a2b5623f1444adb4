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
//!                     ..Default::default()
//!                 })
//!                 .await
//!         }
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! [`IdentityClient::follow_changes`] follows the change feed as one stream that reconnects and
//! resumes by itself.
//!
//! Only UNAVAILABLE is retried: it means the call did not reach a serving core (connection
//! refused, a replica draining, the store briefly unreachable), so repeating it is safe for
//! reads and for writes guarded by `expected_version`. Every other status is returned at once.
//! Clients are cheap to clone; clones share one HTTP/2 connection.

use crate::identity::v1::access_token_service_client::AccessTokenServiceClient;
use crate::identity::v1::change_service_client::ChangeServiceClient;
use crate::identity::v1::role_service_client::RoleServiceClient;
use crate::identity::v1::user_service_client::UserServiceClient;
use crate::identity::v1::{Change, WatchChangesRequest, WatchChangesResponse};
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub use crate::tls::{CertificateFiles, ClientTls, CoreEndpoint};

/// Adds `authorization: Bearer <credential>` to every call. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct BearerCredential {
    /// None: the caller is known by its TLS client certificate instead.
    header: Option<MetadataValue<Ascii>>,
}

impl BearerCredential {
    /// A credential for the `authorization` header; fails when it is not a valid header value.
    pub fn new(secret: &str) -> Result<Self, ClientError> {
        let mut header: MetadataValue<Ascii> = format!("Bearer {secret}")
            .parse()
            .map_err(|_| ClientError::InvalidCredential)?;
        header.set_sensitive(true);
        Ok(Self {
            header: Some(header),
        })
    }

    /// `secret` when there is one, else no header at all: for callers that authenticate with a
    /// client certificate (mutual TLS).
    pub fn optional(secret: Option<&str>) -> Result<Self, ClientError> {
        match secret {
            Some(secret) => Self::new(secret),
            None => Ok(Self { header: None }),
        }
    }
}

impl std::fmt::Debug for BearerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerCredential([redacted])")
    }
}

impl Interceptor for BearerCredential {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
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
    /// The TLS settings cannot be used.
    Tls(crate::tls::TlsSetupError),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(error) => write!(f, "identity.v1 transport: {error}"),
            Self::InvalidCredential => f.write_str("the credential is not a valid header value"),
            Self::Tls(error) => write!(f, "TLS settings: {error}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(error) => Some(error),
            Self::InvalidCredential => None,
            Self::Tls(error) => Some(error),
        }
    }
}

impl From<crate::tls::TlsSetupError> for ClientError {
    fn from(error: crate::tls::TlsSetupError) -> Self {
        Self::Tls(error)
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
        Ok(Self::settings(Endpoint::from_shared(uri.to_owned())?))
    }

    fn settings(endpoint: Endpoint) -> Endpoint {
        endpoint
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
    }

    /// A client that connects on first use (and reconnects after failures by itself).
    pub fn connect_lazy(uri: &str, credential: &str) -> Result<Self, ClientError> {
        let channel = Self::endpoint(uri)?.connect_lazy();
        Self::with_channel(channel, credential)
    }

    /// [`Self::connect_lazy`] to an `https://` core: trusting `tls.ca_file` (or the system's
    /// roots) and, with `tls.identity`, presenting a client certificate; `credential` may then
    /// be `None` (the core knows the caller by its certificate).
    pub fn connect_lazy_tls(
        uri: &str,
        credential: Option<&str>,
        tls: &ClientTls,
    ) -> Result<Self, ClientError> {
        let channel = CoreEndpoint::new(uri, tls)?
            .configure(Self::settings)
            .connect_lazy();
        Self::with_channel_as(channel, BearerCredential::optional(credential)?)
    }

    /// A client that connects now, failing when the core cannot be reached.
    pub async fn connect(uri: &str, credential: &str) -> Result<Self, ClientError> {
        let channel = Self::endpoint(uri)?.connect().await?;
        Self::with_channel(channel, credential)
    }

    /// Clients over an existing channel (custom TLS, timeouts, load balancing).
    pub fn with_channel(channel: Channel, credential: &str) -> Result<Self, ClientError> {
        Self::with_channel_as(channel, BearerCredential::new(credential)?)
    }

    fn with_channel_as(channel: Channel, auth: BearerCredential) -> Result<Self, ClientError> {
        Ok(Self {
            users: crate::with_message_limits!(UserServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            roles: crate::with_message_limits!(RoleServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            changes: crate::with_message_limits!(ChangeServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            access_tokens: crate::with_message_limits!(AccessTokenServiceClient::with_interceptor(
                channel, auth
            )),
        })
    }
}

impl IdentityClient {
    /// Follows an organization's change feed after `after_sequence`, as one stream of changes
    /// that survives the core going away: on UNAVAILABLE, or when a core replica ends the
    /// stream (shutdown, rollout), or the connection breaks, it reconnects with `retry`'s backoff
    /// and resumes after the last change it yielded, so nothing is lost or repeated across
    /// reconnects.
    ///
    /// It ends with an error for anything else, in particular FAILED_PRECONDITION
    /// `CURSOR_EXPIRED` (the cursor fell behind retention: resynchronise, then follow from the
    /// `latest_sequence` in the error's `ErrorInfo`), or after `retry.max_retries` failed
    /// reconnects in a row.
    pub fn follow_changes(
        &self,
        organization_id: impl Into<String>,
        after_sequence: i64,
        retry: RetryPolicy,
    ) -> impl futures_util::Stream<Item = Result<Change, Status>> + Send + 'static {
        let state = Follow {
            client: self.changes.clone(),
            organization_id: organization_id.into(),
            cursor: after_sequence,
            stream: None,
            pending: std::collections::VecDeque::new(),
            backoff: None,
            retry,
            done: false,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
    }
}

/// The state of [`IdentityClient::follow_changes`].
struct Follow {
    client: ChangeServiceClient<AuthenticatedChannel>,
    organization_id: String,
    /// The last sequence yielded.
    cursor: i64,
    stream: Option<tonic::Streaming<WatchChangesResponse>>,
    pending: std::collections::VecDeque<Change>,
    /// The delays left before giving up; reset by every successful connect.
    backoff: Option<backon::ExponentialBackoff>,
    retry: RetryPolicy,
    done: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<Result<Change, Status>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(change) = self.pending.pop_front() {
                self.cursor = change.sequence;
                return Some(Ok(change));
            }
            let Some(stream) = self.stream.as_mut() else {
                let request = WatchChangesRequest {
                    organization_id: self.organization_id.clone(),
                    after_sequence: self.cursor,
                };
                match self.client.watch_changes(request).await {
                    Ok(response) => {
                        self.stream = Some(response.into_inner());
                        self.backoff = None;
                    }
                    Err(status) => {
                        if let Some(error) = self.give_up(status).await {
                            return Some(Err(error));
                        }
                    }
                }
                continue;
            };
            match stream.message().await {
                Ok(Some(message)) => self.pending.extend(message.changes),
                // the replica ended the stream (shutdown): resume elsewhere
                Ok(None) => self.stream = None,
                Err(status) => {
                    self.stream = None;
                    if let Some(error) = self.give_up(status).await {
                        return Some(Err(error));
                    }
                }
            }
        }
    }

    /// Waits before the next reconnect, or returns the error that ends the stream.
    async fn give_up(&mut self, status: Status) -> Option<Status> {
        use backon::BackoffBuilder;
        let retry = self.retry;
        let delay = is_transient(&status)
            .then(|| {
                self.backoff
                    .get_or_insert_with(|| retry.builder().build())
                    .next()
            })
            .flatten();
        match delay {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
            None => {
                self.done = true;
                Some(status)
            }
        }
    }
}

/// Whether a failed watch is worth reconnecting: the core said UNAVAILABLE, or the connection
/// itself broke (a status made locally from a transport error, which carries its source; one
/// the server sent never does).
fn is_transient(status: &Status) -> bool {
    status.code() == Code::Unavailable || std::error::Error::source(status).is_some()
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
    /// The backoff schedule: exponential from `initial_backoff`, capped at `max_backoff`, with
    /// jitter, `max_retries` delays long.
    fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_retries)
            .with_jitter()
    }

    /// Runs `call` (which builds a fresh request each time) until it succeeds, fails with
    /// something other than UNAVAILABLE, or the retries are used up.
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        call.retry(self.builder())
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
    fn only_unavailable_and_broken_connections_are_transient() {
        assert!(is_transient(&Status::unavailable("draining")));
        // what the server sends has no source: not retried
        assert!(!is_transient(&Status::unknown("server said so")));
        assert!(!is_transient(&Status::failed_precondition(
            "CURSOR_EXPIRED"
        )));
        let broken = Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "stream closed",
        )));
        assert!(is_transient(&broken));
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let credential = BearerCredential::new("idsvc_secret").unwrap();
        assert!(!format!("{credential:?}").contains("secret"));
        assert!(BearerCredential::new("bad\nvalue").is_err());
    }
}
