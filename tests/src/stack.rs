//! A running stack: one `identity-core` (and optionally one `scim-edge` in front of it) over its
//! own store, plus the clients tests use to reach it.
//!
//! Start-up never sleeps for a fixed time: it reads each binary's listening line, then polls the
//! gRPC health check (core) or `/healthz` (edge) until it answers.

use crate::store::Store;
use crate::tenant::Tenant;
use identity_launcher::{CoreLaunch, EdgeLaunch, Listening, Output, Process};
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::connection_service_client::ConnectionServiceClient;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::portal_service_client::PortalServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_proto::admin::v1::service_credential_service_client::ServiceCredentialServiceClient;
use identity_proto::client::{AuthenticatedChannel, BearerCredential, IdentityClient};
use identity_proto::identity::v1 as identity;
use identity_proto::identity::v1::access_token_service_client::AccessTokenServiceClient;
use identity_proto::identity::v1::change_service_client::ChangeServiceClient;
use identity_proto::identity::v1::role_service_client::RoleServiceClient;
use identity_proto::identity::v1::token_service_client::TokenServiceClient;
use identity_proto::identity::v1::user_service_client::UserServiceClient;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;
use tonic::transport::Channel;

/// A free port on the loopback interface, chosen by the kernel.
const ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// How long a binary may take to print its listening line (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a freshly started process may take to report healthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// A channel to the admin listener that authenticates every call.
pub type AdminChannel = AuthenticatedChannel;

/// The admin.v1 clients, authenticated with one credential.
#[derive(Debug, Clone)]
pub struct AdminClients {
    pub orgs: OrganizationServiceClient<AdminChannel>,
    pub scim: ScimServiceClient<AdminChannel>,
    pub service_credentials: ServiceCredentialServiceClient<AdminChannel>,
    pub connections: ConnectionServiceClient<AdminChannel>,
    pub portal: PortalServiceClient<AdminChannel>,
}

/// Options of a stack; see [`Stack::builder`].
#[derive(Debug, Clone, Default)]
pub struct StackBuilder {
    edge: bool,
    token_cache_ttl_secs: Option<u64>,
    edge_args: Vec<String>,
    edge_env: Vec<(String, String)>,
    core_env: Vec<(String, String)>,
    otlp_endpoint: Option<String>,
}

impl StackBuilder {
    /// Also start a `scim-edge` in front of the core.
    pub fn with_edge(mut self, edge: bool) -> Self {
        self.edge = edge;
        self
    }

    /// The edge's `--token-cache-ttl-secs` (0 makes revocation visible at once).
    pub fn token_cache_ttl_secs(mut self, secs: u64) -> Self {
        self.token_cache_ttl_secs = Some(secs);
        self
    }

    /// Another command-line argument for the edge (e.g. `--max-body-bytes=1024`).
    pub fn edge_arg(mut self, arg: impl Into<String>) -> Self {
        self.edge_args.push(arg.into());
        self
    }

    /// A configuration variable for the edge (e.g. `SCIM_EDGE_ORG_BURST`).
    pub fn edge_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.edge_env.push((key.to_owned(), value.into()));
        self
    }

    /// Export both processes' spans and metrics over OTLP to `endpoint` (a test collector),
    /// with short batching delays so they arrive quickly.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// A configuration variable for the core (e.g. `IDENTITY_CHANGE_RETENTION_SECS`).
    pub fn core_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.core_env.push((key.to_owned(), value.into()));
        self
    }

    /// Starts the processes and waits until they are healthy. Panics (with the processes'
    /// output) when they do not come up.
    pub async fn start(mut self) -> Stack {
        if let Some(endpoint) = self.otlp_endpoint.clone() {
            self.core_env.extend(otlp_env(&endpoint));
        }
        let store = Store::create().await;
        let admin_token = format!("idadm_{}", uuid::Uuid::new_v4().simple());
        let edge_credential = format!("idedge_{}", uuid::Uuid::new_v4().simple());
        let (core, identity_addr, admin_addr, core_metrics_addr) = spawn_core(
            (ANY_PORT, ANY_PORT),
            store.url(),
            &admin_token,
            &edge_credential,
            &self.core_env,
            "identity-core",
        )
        .await;

        let mut stack = Stack {
            core,
            edge: None,
            extra_cores: Vec::new(),
            identity_addr,
            admin_addr,
            core_metrics_addr,
            edge_addr: None,
            admin_token,
            edge_credential,
            core_env: self.core_env.clone(),
            store,
        };
        if self.edge {
            stack.start_edge(&self).await;
        }
        stack
    }
}

/// A running core (and edge). Dropping it kills the processes and removes the store.
#[derive(Debug)]
pub struct Stack {
    // processes are declared (so dropped) before the store they use
    core: Process,
    edge: Option<Process>,
    extra_cores: Vec<Process>,
    identity_addr: SocketAddr,
    admin_addr: SocketAddr,
    core_metrics_addr: SocketAddr,
    edge_addr: Option<SocketAddr>,
    admin_token: String,
    edge_credential: String,
    core_env: Vec<(String, String)>,
    store: Store,
}

/// The standard OpenTelemetry variables that point a process at `endpoint`, with batching short
/// enough for a test to see its spans within a second.
fn otlp_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

/// Starts one identity-core over `database_url` and waits until both listeners are healthy.
async fn spawn_core(
    listen: (SocketAddr, SocketAddr),
    database_url: &str,
    admin_token: &str,
    edge_credential: &str,
    extra_env: &[(String, String)],
    name: &'static str,
) -> (Process, SocketAddr, SocketAddr, SocketAddr) {
    let (identity_listen, admin_listen) = (listen.0.to_string(), listen.1.to_string());
    let mut command = CoreLaunch {
        bin_dir: None,
        database_url,
        identity_listen: &identity_listen,
        admin_listen: &admin_listen,
        metrics_listen: Some("127.0.0.1:0"),
        admin_token,
        edge_credential,
        hermetic: true,
    }
    .command()
    .unwrap_or_else(|error| panic!("{error:#}"));
    command
        // no exporter: a test stack must not depend on (or wait for) a collector
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        // plain text: the output is shown to people when a test fails
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let (core, line) = spawn(name, command).await;
    let identity_addr = addr_field(&line, "identity_addr", &core);
    let admin_addr = addr_field(&line, "admin_addr", &core);
    let metrics_addr = addr_field(&line, "metrics_addr", &core);
    wait_grpc_healthy(identity_addr, &core).await;
    wait_grpc_healthy(admin_addr, &core).await;
    (core, identity_addr, admin_addr, metrics_addr)
}

impl Stack {
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// A core and an edge with default settings.
    pub async fn start() -> Self {
        Self::builder().with_edge(true).start().await
    }

    async fn start_edge(&mut self, options: &StackBuilder) {
        let core_endpoint = format!("http://{}", self.identity_addr);
        let mut command = EdgeLaunch {
            bin_dir: None,
            listen: "127.0.0.1:0",
            core_endpoint: &core_endpoint,
            core_credential: &self.edge_credential,
            base_url: None,
            hermetic: true,
        }
        .command()
        .unwrap_or_else(|error| panic!("{error:#}"));
        command
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            // plain text: the output is shown to people when a test fails
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info");
        if let Some(endpoint) = &options.otlp_endpoint {
            command.envs(otlp_env(endpoint));
        }
        if let Some(ttl) = options.token_cache_ttl_secs {
            command.arg("--token-cache-ttl-secs").arg(ttl.to_string());
        }
        command.args(&options.edge_args);
        command.envs(options.edge_env.iter().map(|(k, v)| (k, v)));
        let (edge, line) = spawn("scim-edge", command).await;
        let addr = addr_field(&line, "addr", &edge);
        if let Err(error) =
            identity_launcher::wait_http_ok(&format!("http://{addr}/healthz"), HEALTH_TIMEOUT).await
        {
            panic!("{error:#}; output:\n{}", edge.log_tail(200));
        }
        self.edge = Some(edge);
        self.edge_addr = Some(addr);
    }

    /// The identity.v1 listener.
    pub fn identity_addr(&self) -> SocketAddr {
        self.identity_addr
    }

    /// The core's Prometheus `/metrics` listener.
    pub fn core_metrics_addr(&self) -> SocketAddr {
        self.core_metrics_addr
    }

    /// The admin.v1 listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `http://` URL of the admin listener, as `identity-admin --endpoint` takes it.
    pub fn admin_endpoint(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// The bootstrap admin credential the core was started with.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The edge's listener; panics when the stack has no edge.
    pub fn edge_addr(&self) -> SocketAddr {
        self.edge_addr
            .expect("the stack was started without an edge")
    }

    /// The SCIM base URL (`http://<edge>/scim/v2`).
    pub fn scim_base_url(&self) -> String {
        format!("http://{}/scim/v2", self.edge_addr())
    }

    /// The URL the core was started with (never printed: it may hold a password).
    /// Blocks every write of the store for `hold` from outside (see `Store::hold_write_lock`);
    /// returns once the lock is held.
    pub async fn hold_write_lock(&self, hold: Duration) -> tokio::task::JoinHandle<()> {
        self.store.hold_write_lock(hold).await
    }

    pub fn database_url(&self) -> &str {
        self.store.url()
    }

    /// The SCIM edge's identity.v1 credential (full access, SCIM-owned writes allowed).
    pub fn edge_credential(&self) -> &str {
        &self.edge_credential
    }

    /// A lazily connected channel to identity.v1 carrying the edge's credential.
    pub fn identity_channel(&self) -> AuthenticatedChannel {
        self.identity_channel_with(&self.edge_credential)
    }

    /// A lazily connected channel to identity.v1 carrying `credential`.
    pub fn identity_channel_with(&self, credential: &str) -> AuthenticatedChannel {
        let channel = Channel::from_shared(format!("http://{}", self.identity_addr))
            .expect("valid endpoint")
            .connect_lazy();
        tonic::service::interceptor::InterceptedService::new(
            channel,
            BearerCredential::new(credential).expect("credential is a header value"),
        )
    }

    /// The platform-service client helper, authenticated with `credential`.
    pub fn identity_client_with(&self, credential: &str) -> IdentityClient {
        IdentityClient::connect_lazy(&format!("http://{}", self.identity_addr), credential)
            .expect("valid endpoint and credential")
    }

    pub fn users(&self) -> UserServiceClient<AuthenticatedChannel> {
        UserServiceClient::new(self.identity_channel())
    }

    pub fn roles(&self) -> RoleServiceClient<AuthenticatedChannel> {
        RoleServiceClient::new(self.identity_channel())
    }

    pub fn changes(&self) -> ChangeServiceClient<AuthenticatedChannel> {
        ChangeServiceClient::new(self.identity_channel())
    }

    pub fn tokens(&self) -> TokenServiceClient<AuthenticatedChannel> {
        TokenServiceClient::new(self.identity_channel())
    }

    pub fn access_tokens(&self) -> AccessTokenServiceClient<AuthenticatedChannel> {
        AccessTokenServiceClient::new(self.identity_channel())
    }

    /// A new service credential for identity.v1, scoped to `tenant`'s organization and issued
    /// through the admin API by its owner; read-only unless `read_write`.
    pub async fn service_credential(&self, tenant: &Tenant, read_write: bool) -> String {
        let access = if read_write {
            admin::ServiceAccess::ReadWrite
        } else {
            admin::ServiceAccess::Read
        };
        self.admin_client_with(&tenant.owner_secret)
            .service_credentials
            .create_service_credential(admin::CreateServiceCredentialRequest {
                name: crate::unique("svc"),
                organization_ids: vec![tenant.org_id.clone()],
                all_organizations: false,
                access: access as i32,
            })
            .await
            .expect("CreateServiceCredential")
            .into_inner()
            .secret
    }

    /// Starts another identity-core over the same store (several replicas on one PostgreSQL)
    /// and returns its identity.v1 address; it stops with the stack.
    pub async fn start_replica(&mut self) -> SocketAddr {
        let (core, identity_addr, _, _) = spawn_core(
            (ANY_PORT, ANY_PORT),
            self.store.url(),
            &self.admin_token,
            &self.edge_credential,
            &self.core_env,
            "identity-core-replica",
        )
        .await;
        self.extra_cores.push(core);
        identity_addr
    }

    /// admin.v1 clients authenticated as the bootstrap admin.
    pub fn admin_client(&self) -> AdminClients {
        self.admin_client_with(&self.admin_token)
    }

    /// admin.v1 clients authenticated with `credential` (e.g. an owner credential).
    pub fn admin_client_with(&self, credential: &str) -> AdminClients {
        let channel = Channel::from_shared(self.admin_endpoint())
            .expect("valid endpoint")
            .connect_lazy();
        let auth = BearerCredential::new(credential).expect("credential is a header value");
        AdminClients {
            orgs: OrganizationServiceClient::with_interceptor(channel.clone(), auth.clone()),
            scim: ScimServiceClient::with_interceptor(channel.clone(), auth.clone()),
            service_credentials: ServiceCredentialServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            connections: ConnectionServiceClient::with_interceptor(channel.clone(), auth.clone()),
            portal: PortalServiceClient::with_interceptor(channel, auth),
        }
    }

    /// A new, uniquely named organization with a default role, SCIM enabled and one SCIM token,
    /// all set up through the admin API.
    pub async fn new_tenant(&self) -> Tenant {
        let mut admin = self.admin_client();
        let slug = crate::unique("org");
        let created = admin
            .orgs
            .create_organization(admin::CreateOrganizationRequest {
                slug: slug.clone(),
                display_name: format!("Organization {slug}"),
            })
            .await
            .expect("CreateOrganization")
            .into_inner();
        let org_id = created.organization.expect("organization in response").id;
        let role = self
            .roles()
            .create_role(identity::CreateRoleRequest {
                organization_id: org_id.clone(),
                role: Some(identity::Role {
                    display_name: crate::unique("default-role"),
                    description: "every SCIM user joins it".into(),
                    ..Default::default()
                }),
                member_user_ids: vec![],
            })
            .await
            .expect("CreateRole for the default role")
            .into_inner()
            .role
            .expect("role in response");
        admin
            .scim
            .enable_scim(admin::EnableScimRequest {
                organization_id: org_id.clone(),
                default_role: role.id.clone(),
                ..Default::default()
            })
            .await
            .expect("EnableScim");
        let issued = admin
            .scim
            .issue_scim_token(admin::IssueScimTokenRequest {
                organization_id: org_id.clone(),
                description: "e2e".into(),
                validity: None,
                connection_id: String::new(),
            })
            .await
            .expect("IssueScimToken")
            .into_inner();
        Tenant {
            org_id,
            slug,
            default_role_id: role.id,
            default_role_name: role.display_name,
            scim_token: issued.secret,
            token_id: issued.token.map(|t| t.id).unwrap_or_default(),
            owner_secret: created.owner_secret,
            base_url: self
                .edge_addr
                .map(|_| self.scim_base_url())
                .unwrap_or_default(),
            http: reqwest::Client::new(),
        }
    }

    /// The edge's Prometheus `/metrics` text, as an operator's scraper reads it.
    pub async fn edge_metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.edge_addr()))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// How often the edge relied on the named identity-provider normalisation, read from its
    /// Prometheus `/metrics` as an operator's scraper would.
    pub async fn normalization_count(&self, name: &str) -> u64 {
        let text = self.edge_metrics().await;
        let label = format!("normalization=\"{name}\"");
        text.lines()
            .filter(|line| line.starts_with("scim_normalizations_total") && line.contains(&label))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Sends SIGTERM to the core and returns its exit status.
    pub async fn terminate_core(&mut self) -> ExitStatus {
        terminate(&mut self.core).await
    }

    /// Sends SIGTERM to the edge and returns its exit status.
    pub async fn terminate_edge(&mut self) -> ExitStatus {
        terminate(
            self.edge
                .as_mut()
                .expect("the stack was started without an edge"),
        )
        .await
    }

    /// Stops the core (SIGTERM, drained) and starts a new one on the same addresses and store,
    /// as a rollout does; clients and the edge reconnect by themselves.
    pub async fn restart_core(&mut self) {
        terminate(&mut self.core).await;
        let (core, _, _, metrics) = spawn_core(
            (self.identity_addr, self.admin_addr),
            self.store.url(),
            &self.admin_token,
            &self.edge_credential,
            &self.core_env,
            "identity-core",
        )
        .await;
        self.core = core;
        self.core_metrics_addr = metrics;
    }

    /// Kills the core at once (to test how the edge behaves when the core is gone).
    pub async fn kill_core(&mut self) {
        self.core.kill().await;
    }

    pub fn core_pid(&self) -> Option<u32> {
        self.core.id()
    }

    /// Everything the core has written so far.
    pub fn core_output(&self) -> Vec<String> {
        self.core.log_lines()
    }

    /// Everything the edge has written so far.
    pub fn edge_output(&self) -> Vec<String> {
        self.edge
            .as_ref()
            .map(|e| e.log_lines())
            .unwrap_or_default()
    }
}

/// Starts `command`; panics with its output when it does not come up.
async fn spawn(name: &'static str, command: tokio::process::Command) -> (Process, Listening) {
    Process::spawn(name, command, Output::Memory, START_TIMEOUT)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// SIGTERM, then the exit status; panics when the process does not stop in time.
async fn terminate(process: &mut Process) -> ExitStatus {
    process
        .terminate(Duration::from_secs(30))
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

fn addr_field(line: &Listening, field: &str, process: &Process) -> SocketAddr {
    line.field(field)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "listening line has no socket address in {field:?}; output:\n{}",
                process.log_tail(200)
            )
        })
}

async fn wait_grpc_healthy(addr: SocketAddr, process: &Process) {
    if let Err(error) =
        identity_launcher::wait_grpc_serving(&format!("http://{addr}"), HEALTH_TIMEOUT).await
    {
        panic!("{error:#}; output:\n{}", process.log_tail(200));
    }
}
