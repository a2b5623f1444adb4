//! The edge's only connection to identity-core: one lazily connected gRPC channel shared by the
//! UserService, RoleService, TokenService and health clients. Every identity.v1 call carries the
//! edge's credential (through the proto crate's client helper); the health check needs none.
//!
//! Every outgoing call is built by [`outgoing_request`] (reads, with a deadline) or
//! [`outgoing_write`] (writes, without one), the one place that writes the current trace context
//! into the call's metadata, so a request is one trace across the edge and the core. Nothing here
//! interprets results: handlers do, and errors map through `ScimError`.
//!
//! Why writes have no deadline: a write the edge stops waiting for may still commit in the core,
//! and the client, told 503, would retry into a 409 or a second change. The core bounds every
//! write itself (a write that cannot start within its queue limit, or cannot get its
//! organization's lock, is refused UNAVAILABLE with nothing changed), so the edge waits for the
//! true answer.

use std::sync::OnceLock;
use std::time::Duration;

use identity_proto::client::{AuthenticatedChannel, BearerCredential};
use identity_proto::identity::v1::portal_service_client::PortalServiceClient;
use identity_proto::identity::v1::provisioning_service_client::ProvisioningServiceClient;
use identity_proto::identity::v1::role_service_client::RoleServiceClient;
use identity_proto::identity::v1::token_service_client::TokenServiceClient;
use identity_proto::identity::v1::user_service_client::UserServiceClient;
use identity_proto::tls::{ClientTls, CoreEndpoint};
use identity_proto::with_message_limits;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

/// Clients of the core's services over one channel; cloning is cheap (the channel is shared).
#[derive(Debug, Clone)]
pub struct CoreClient {
    pub users: UserServiceClient<AuthenticatedChannel>,
    pub roles: RoleServiceClient<AuthenticatedChannel>,
    pub tokens: TokenServiceClient<AuthenticatedChannel>,
    pub provisioning: ProvisioningServiceClient<AuthenticatedChannel>,
    pub portal: PortalServiceClient<AuthenticatedChannel>,
    /// The channel without the edge's credential: the setup portal's admin calls carry their
    /// session's token instead (`crate::portal`).
    pub channel: Channel,
    health: HealthClient<Channel>,
}

impl CoreClient {
    /// A client for `endpoint` that connects on first use, so the edge starts (and answers
    /// `/healthz`) while the core is still coming up. `call_timeout` bounds each read.
    /// Over `https://`, `tls` says which CA to trust and which client certificate to present
    /// (the credential may then be `None`: the core knows the edge by its certificate).
    pub fn connect_lazy(
        endpoint: &str,
        credential: Option<&str>,
        tls: &ClientTls,
        connect_timeout: Duration,
        call_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let _ = READ_DEADLINE.set(call_timeout);
        let channel = CoreEndpoint::new(endpoint, tls)?
            .configure(|endpoint| {
                endpoint
                    .connect_timeout(connect_timeout)
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(30))
                    .keep_alive_while_idle(true)
            })
            .connect_lazy();
        Self::new(channel, credential)
    }

    /// Clients over an existing channel, authenticated with `credential` (or, without one, by
    /// the channel's client certificate).
    pub fn new(channel: Channel, credential: Option<&str>) -> anyhow::Result<Self> {
        let auth = BearerCredential::optional(credential)?;
        Ok(Self {
            users: with_message_limits!(UserServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            roles: with_message_limits!(RoleServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            tokens: with_message_limits!(TokenServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            provisioning: with_message_limits!(ProvisioningServiceClient::with_interceptor(
                channel.clone(),
                auth.clone()
            )),
            portal: PortalServiceClient::with_interceptor(channel.clone(), auth),
            health: HealthClient::new(channel.clone()),
            channel,
        })
    }

    /// Whether the core answers its gRPC health check (service `""`, the whole server) with
    /// SERVING.
    pub async fn is_ready(&self) -> bool {
        let mut health = self.health.clone();
        let request = outgoing_request(HealthCheckRequest {
            service: String::new(),
        });
        match health.check(request).await {
            Ok(response) => response.into_inner().status == ServingStatus::Serving as i32,
            Err(status) => {
                tracing::debug!(code = ?status.code(), "core health check failed");
                false
            }
        }
    }
}

/// The metadata entry naming the provisioning connection a call acts for (see
/// `AuthenticateScimTokenResponse.connection_id`).
pub const CONNECTION_METADATA: &str = "identity-connection-id";

tokio::task_local! {
    /// The provisioning connection of the SCIM request being served.
    static CONNECTION: tonic::metadata::MetadataValue<tonic::metadata::Ascii>;
}

/// Runs `future` (one SCIM request) so that every call it makes to the core names
/// `connection`, which the core records on each change and checks group names against.
pub async fn for_connection<F: Future>(connection: Option<&str>, future: F) -> F::Output {
    match connection.and_then(|id| id.parse().ok()) {
        Some(value) => CONNECTION.scope(value, future).await,
        None => future.await,
    }
}

/// The deadline of every read call (the configured request timeout; set once at start).
static READ_DEADLINE: OnceLock<Duration> = OnceLock::new();
const DEFAULT_READ_DEADLINE: Duration = Duration::from_secs(30);

/// Wraps a message for a read call to the core (or a write that is safe to give up on), with a
/// deadline the core also sees (`grpc-timeout`).
pub fn outgoing_request<T>(message: T) -> tonic::Request<T> {
    let mut request = outgoing_write(message);
    request.set_timeout(*READ_DEADLINE.get().unwrap_or(&DEFAULT_READ_DEADLINE));
    request
}

/// Wraps a message for a write call to the core: no deadline, the core bounds the write and
/// answers (see the module's comment). Carries the current trace context (`traceparent`) and
/// the request's provisioning connection in the metadata.
pub fn outgoing_write<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    identity_runtime::telemetry::inject_current_context(request.metadata_mut());
    if let Ok(connection) = CONNECTION.try_with(Clone::clone) {
        request
            .metadata_mut()
            .insert(CONNECTION_METADATA, connection);
    }
    request
}
