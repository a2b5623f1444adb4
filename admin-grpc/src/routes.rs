//! The admin services mounted on their listeners, each behind the authentication layer.

use crate::Principal;
use crate::backend::AdminBackend;
use crate::connections::ConnectionApi;
use crate::portal::PortalApi;
use crate::roles::RoleApi;
use crate::service::{OrganizationApi, ScimApi};
use crate::service_credentials::ServiceCredentialApi;
use identity_proto::admin::v1::connection_service_server::ConnectionServiceServer;
use identity_proto::admin::v1::organization_service_server::OrganizationServiceServer;
use identity_proto::admin::v1::portal_service_server::PortalServiceServer;
use identity_proto::admin::v1::role_service_server::RoleServiceServer;
use identity_proto::admin::v1::scim_service_server::ScimServiceServer;
use identity_proto::admin::v1::service_credential_service_server::ServiceCredentialServiceServer;
use identity_proto::with_message_limits;
use identity_runtime::grpc_auth::{AuthLayer, Authenticator};
use std::sync::Arc;
use tower::Layer;

/// The admin services, each behind the authentication layer, ready for
/// `Server::builder().add_routes(..)` on the admin listener.
pub fn admin_routes(backend: Arc<dyn AdminBackend>) -> tonic::service::Routes {
    let auth: AuthLayer<dyn AdminBackend> = AuthLayer::new(Arc::clone(&backend));
    tonic::service::Routes::new(
        auth.layer(with_message_limits!(OrganizationServiceServer::new(
            OrganizationApi::new(Arc::clone(&backend))
        ))),
    )
    .add_service(
        auth.layer(with_message_limits!(ScimServiceServer::new(ScimApi::new(
            Arc::clone(&backend)
        )))),
    )
    .add_service(
        auth.layer(with_message_limits!(ServiceCredentialServiceServer::new(
            ServiceCredentialApi::new(Arc::clone(&backend))
        ))),
    )
    .add_service(
        auth.layer(with_message_limits!(ConnectionServiceServer::new(
            ConnectionApi::new(Arc::clone(&backend))
        ))),
    )
    .add_service(
        auth.layer(with_message_limits!(RoleServiceServer::new(RoleApi::new(
            Arc::clone(&backend)
        )))),
    )
    .add_service(auth.layer(with_message_limits!(PortalServiceServer::new(
        PortalApi::new(backend)
    ))))
}

/// `routes` with the admin services a setup-portal session may call (`ScimService`,
/// `ConnectionService`, `RoleService`) added, authenticated by `sessions` (which must only ever
/// answer [`Principal::Portal`]): for the identity listener.
pub fn with_portal_routes(
    routes: tonic::service::Routes,
    backend: Arc<dyn AdminBackend>,
    sessions: Arc<dyn Authenticator<Principal = Principal>>,
) -> tonic::service::Routes {
    let auth = AuthLayer::new(sessions);
    routes
        .add_service(
            auth.layer(with_message_limits!(ScimServiceServer::new(ScimApi::new(
                Arc::clone(&backend)
            )))),
        )
        .add_service(
            auth.layer(with_message_limits!(ConnectionServiceServer::new(
                ConnectionApi::new(Arc::clone(&backend))
            ))),
        )
        .add_service(
            auth.layer(with_message_limits!(RoleServiceServer::new(RoleApi::new(
                backend
            )))),
        )
}
