//! The edge's only connection to identity-core: one lazily connected gRPC channel shared by the
//! UserService, RoleService, TokenService and health clients. Every identity.v1 call carries the
//! edge's credential (through the proto crate's client helper); the health check needs none.
//!
//! Every outgoing call is built by [`outgoing_request`], the one place that writes the current
//! trace context into the call's metadata, so a request is one trace across the edge and the
//! core. Nothing here interprets results: handlers do, and errors map through `ScimError`.

use std::time::Duration;

use identity_proto::client::{AuthenticatedChannel, BearerCredential};
use identity_proto::identity::v1::provisioning_service_client::ProvisioningServiceClient;
use identity_proto::identity::v1::role_service_client::RoleServiceClient;
use identity_proto::identity::v1::token_service_client::TokenServiceClient;
use identity_proto::identity::v1::user_service_client::UserServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

/// Clients of the core's services over one channel; cloning is cheap (the channel is shared).
#[derive(Debug, Clone)]
pub struct CoreClient {
    pub users: UserServiceClient<AuthenticatedChannel>,
    pub roles: RoleServiceClient<AuthenticatedChannel>,
    pub tokens: TokenServiceClient<AuthenticatedChannel>,
    pub provisioning: ProvisioningServiceClient<AuthenticatedChannel>,
    health: HealthClient<Channel>,
}

impl CoreClient {
    /// A client for `endpoint` that connects on first use, so the edge starts (and answers
    /// `/healthz`) while the core is still coming up. `call_timeout` bounds each call.
    pub fn connect_lazy(
        endpoint: &str,
        credential: &str,
        connect_timeout: Duration,
        call_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(endpoint.to_owned())?
            .connect_timeout(connect_timeout)
            .timeout(call_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        Self::new(channel, credential)
    }

    /// Clients over an existing channel, authenticated with `credential`.
    pub fn new(channel: Channel, credential: &str) -> anyhow::Result<Self> {
        let auth = BearerCredential::new(credential)?;
        Ok(Self {
            users: UserServiceClient::with_interceptor(channel.clone(), auth.clone()),
            roles: RoleServiceClient::with_interceptor(channel.clone(), auth.clone()),
            tokens: TokenServiceClient::with_interceptor(channel.clone(), auth.clone()),
            provisioning: ProvisioningServiceClient::with_interceptor(channel.clone(), auth),
            health: HealthClient::new(channel),
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

/// Wraps a message for a call to the core, carrying the current trace context (`traceparent`)
/// and the request's provisioning connection in the metadata. Every call of the edge goes
/// through here.
pub fn outgoing_request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    identity_telemetry::inject_current_context(request.metadata_mut());
    if let Ok(connection) = CONNECTION.try_with(Clone::clone) {
        request
            .metadata_mut()
            .insert(CONNECTION_METADATA, connection);
    }
    request
}
