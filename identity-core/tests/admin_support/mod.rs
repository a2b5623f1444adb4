//! Shared by the admin and token tests: the real admin.v1 services and identity.v1
//! TokenService served on 127.0.0.1:0 over a fresh store, and clients that authenticate.

#![allow(dead_code, unreachable_pub)]

use admin_grpc::admin_routes;
use identity_core::admin_backend::CoreAdminBackend;
use identity_core::service::token_service::TokenServiceImpl;
use identity_core::testing::TestDb;
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::connection_service_client::ConnectionServiceClient;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::role_service_client::RoleServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_proto::identity::v1::token_service_client::TokenServiceClient;
use identity_proto::identity::v1::{AuthenticateScimTokenRequest, AuthenticateScimTokenResponse};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The bootstrap admin secret the test server is configured with.
pub const ADMIN_SECRET: &str = "bootstrap-admin-secret-for-tests";
/// The SCIM edge's identity.v1 credential the test server accepts.
pub const EDGE_CREDENTIAL: &str = "edge-credential-for-admin-tests";

/// A running server and its store; the server stops when this is dropped.
pub struct Harness {
    pub store: TestDb,
    pub addr: SocketAddr,
    channel: Channel,
    _stop: oneshot::Sender<()>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(Some(ADMIN_SECRET.to_owned())).await
    }

    pub async fn start_with(bootstrap: Option<String>) -> Self {
        let store = TestDb::new().await;
        let backend = Arc::new(CoreAdminBackend::new(store.db.clone(), bootstrap));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let caller_auth = identity_runtime::grpc_auth::AuthLayer::new(Arc::new(
            identity_core::service::caller::CallerAuthenticator::new(
                store.db.clone(),
                Some(EDGE_CREDENTIAL),
            ),
        ));
        let server = Server::builder()
            .add_routes(admin_routes(backend))
            .add_service(tower::Layer::layer(
                &caller_auth,
                identity_proto::identity::v1::token_service_server::TokenServiceServer::new(
                    TokenServiceImpl::new(store.db.clone()),
                ),
            ))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            );
        tokio::spawn(server);
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            store,
            addr,
            channel,
            _stop: stop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// admin.v1 clients presenting `credential` (none when `None`).
    pub fn admin(&self, credential: Option<&str>) -> Admin {
        let auth = Bearer(credential.map(|c| format!("Bearer {c}").parse().unwrap()));
        Admin {
            orgs: OrganizationServiceClient::with_interceptor(self.channel.clone(), auth.clone()),
            scim: ScimServiceClient::with_interceptor(self.channel.clone(), auth.clone()),
            roles: RoleServiceClient::with_interceptor(self.channel.clone(), auth.clone()),
            connections: ConnectionServiceClient::with_interceptor(self.channel.clone(), auth),
        }
    }

    /// admin.v1 clients presenting the bootstrap admin secret.
    pub fn root(&self) -> Admin {
        self.admin(Some(ADMIN_SECRET))
    }

    /// AuthenticateScimToken, as the SCIM edge calls it.
    pub async fn authenticate(&self, token: &str) -> Result<AuthenticateScimTokenResponse, Status> {
        let auth = Bearer(Some(
            format!("Bearer {EDGE_CREDENTIAL}")
                .parse()
                .expect("header value"),
        ));
        TokenServiceClient::with_interceptor(self.channel.clone(), auth)
            .authenticate_scim_token(AuthenticateScimTokenRequest {
                token: token.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Creates an organization as the bootstrap admin; returns it and its owner's clients.
    pub async fn org(&self, slug: &str) -> (admin::Organization, String) {
        let created = self
            .root()
            .orgs
            .create_organization(admin::CreateOrganizationRequest {
                slug: slug.to_owned(),
                display_name: format!("Org {slug}"),
            })
            .await
            .unwrap()
            .into_inner();
        (created.organization.unwrap(), created.owner_secret)
    }

    /// Runs a raw statement on the store (test set-up of tables other modules own).
    pub async fn exec(&self, statement: &sea_orm::sea_query::InsertStatement) {
        use sea_orm::ConnectionTrait;
        self.store.db.execute(statement).await.unwrap();
    }
}

#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

pub struct Admin {
    pub orgs: OrganizationServiceClient<Authed>,
    pub scim: ScimServiceClient<Authed>,
    pub roles: RoleServiceClient<Authed>,
    pub connections: ConnectionServiceClient<Authed>,
}

/// Asserts the status code and `ErrorInfo.reason` of a failed call.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) {
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "identity.v1");
}

/// A slug no other test uses (tests may share a PostgreSQL server).
pub fn unique_slug(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn days(n: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: n * 86_400,
        nanos: 0,
    }
}

pub fn hours(n: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: n * 3_600,
        nanos: 0,
    }
}
