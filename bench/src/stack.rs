//! Starts the real `identity-core` (and `scim-edge`) binaries for a run, or connects to a stack
//! that is already running, and prepares one fresh organization to load.
//!
//! Processes are found next to this executable (the same target directory), log to files in a
//! temporary directory, and are killed when the [`Stack`] is dropped. Start-up waits on the
//! listening line and the health checks, never on a fixed sleep.

use anyhow::{Context, Result};
use identity_launcher::{CoreLaunch, EdgeLaunch, Output};
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_proto::client::{AuthenticatedChannel, BearerCredential};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

/// Migrations on a fresh store included.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A started binary, its stderr in a log file of the run (see `identity_launcher`).
pub(crate) use identity_launcher::Process;

/// Starts `command` with its stderr in `log` and waits for its listening line.
pub(crate) async fn spawn(
    name: &'static str,
    command: Command,
    log: PathBuf,
) -> Result<(Process, identity_launcher::Listening)> {
    Process::spawn(name, command, Output::File(log), START_TIMEOUT).await
}

/// How to reach (or start) the processes.
#[derive(Debug, Clone)]
pub(crate) struct StackOptions {
    pub(crate) bin_dir: Option<PathBuf>,
    pub(crate) database_url: Option<String>,
    pub(crate) with_edge: bool,
    pub(crate) edge_args: Vec<String>,
    /// Turn the edge's per-organization limits off ([`NO_ORGANIZATION_LIMITS`]).
    pub(crate) unlimited: bool,
}

/// The edge's per-organization limits turned off: a capacity run measures the service, not its
/// fairness (`neighbours` keeps them on, the soak turns them off too).
pub(crate) const NO_ORGANIZATION_LIMITS: [(&str, &str); 3] = [
    ("SCIM_EDGE_ORG_REQUESTS_PER_SECOND", "0"),
    ("SCIM_EDGE_TOKEN_REQUESTS_PER_SECOND", "0"),
    ("SCIM_EDGE_ORG_MAX_CONCURRENT_REQUESTS", "0"),
];

/// The processes of a run (empty when the bench targets a running stack).
#[derive(Debug)]
pub(crate) struct Stack {
    // processes are dropped (killed) before the directory holding their store
    edge: Option<Process>,
    core: Option<Process>,
    pub(crate) identity_endpoint: String,
    pub(crate) admin_endpoint: String,
    pub(crate) admin_token: String,
    /// The edge's identity.v1 credential, which the core bench also uses.
    pub(crate) edge_credential: String,
    pub(crate) scim_base_url: Option<String>,
    pub(crate) store: String,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Starts identity-core (and scim-edge) on 127.0.0.1:0 over SQLite in a temporary directory,
    /// or over `database_url`.
    pub(crate) async fn start(options: &StackOptions) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("identity-bench-")
            .tempdir()?;
        let (database_url, store) = match &options.database_url {
            Some(url) => (url.clone(), scheme(url)),
            None => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("identity.db").display()
                ),
                "sqlite (temporary file)".to_owned(),
            ),
        };
        let admin_token = format!("idadm_bench_{}", uuid::Uuid::new_v4().simple());
        let edge_credential = format!("idedge_bench_{}", uuid::Uuid::new_v4().simple());
        let command = core_command(
            options.bin_dir.as_deref(),
            &database_url,
            &admin_token,
            &edge_credential,
            ("127.0.0.1:0", "127.0.0.1:0"),
        )?;
        let (core, line) = spawn(
            "identity-core",
            command,
            dir.path().join("identity-core.log"),
        )
        .await?;
        let identity_addr = line.field("identity_addr")?;
        let admin_addr = line.field("admin_addr")?;
        let identity_endpoint = format!("http://{identity_addr}");
        let admin_endpoint = format!("http://{admin_addr}");
        wait_grpc_healthy(&identity_endpoint).await?;
        wait_grpc_healthy(&admin_endpoint).await?;

        let mut stack = Self {
            edge: None,
            core: Some(core),
            identity_endpoint,
            admin_endpoint,
            admin_token,
            edge_credential,
            scim_base_url: None,
            store,
            _dir: dir,
        };
        if options.with_edge {
            let mut command = edge_command(
                options.bin_dir.as_deref(),
                "127.0.0.1:0",
                &stack.identity_endpoint,
                &stack.edge_credential,
            )?;
            command.args(&options.edge_args);
            if options.unlimited {
                command.envs(NO_ORGANIZATION_LIMITS);
            }
            let log = stack._dir.path().join("scim-edge.log");
            let (edge, line) = spawn("scim-edge", command, log).await?;
            let addr = line.field("addr")?;
            wait_http_ok(&format!("http://{addr}/healthz")).await?;
            wait_http_ok(&format!("http://{addr}/readyz")).await?;
            stack.edge = Some(edge);
            stack.scim_base_url = Some(format!("http://{addr}/scim/v2"));
        }
        Ok(stack)
    }

    /// Names the log files, for a failing run.
    pub(crate) fn logs(&self) -> String {
        let dir = self._dir.path();
        [&self.core, &self.edge]
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}: {}",
                    p.name(),
                    dir.join(format!("{}.log", p.name())).display()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Keeps the processes' logs after the run (the temporary directory is not removed).
    pub(crate) fn keep_logs(self) -> PathBuf {
        let Self {
            edge, core, _dir, ..
        } = self;
        drop(edge);
        drop(core);
        _dir.keep()
    }
}

/// `identity-core serve` on `listen` = (identity.v1, admin.v1) addresses. The caller's
/// `IDENTITY_*` variables pass through, so a run can tune the core.
pub(crate) fn core_command(
    bin_dir: Option<&Path>,
    database_url: &str,
    admin_token: &str,
    edge_credential: &str,
    listen: (&str, &str),
) -> Result<Command> {
    let mut command = CoreLaunch {
        bin_dir,
        database_url,
        identity_listen: listen.0,
        admin_listen: listen.1,
        metrics_listen: None,
        admin_token,
        edge_credential,
        hermetic: false,
    }
    .command()?;
    command.env("RUST_LOG", log_filter());
    Ok(command)
}

/// `scim-edge` on `listen`, calling the core at `core_endpoint` with `edge_credential`. The
/// caller's `SCIM_EDGE_*` variables pass through (a neighbours run turns the gate off so).
pub(crate) fn edge_command(
    bin_dir: Option<&Path>,
    listen: &str,
    core_endpoint: &str,
    edge_credential: &str,
) -> Result<Command> {
    let mut command = EdgeLaunch {
        bin_dir,
        listen,
        core_endpoint,
        core_credential: edge_credential,
        base_url: None,
        hermetic: false,
    }
    .command()?;
    command.env("RUST_LOG", log_filter());
    Ok(command)
}

fn log_filter() -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())
}

pub(crate) fn scheme(url: &str) -> String {
    url.split(':').next().unwrap_or("unknown").to_owned()
}

/// A plain channel (health checks, or clients that add their own credential).
pub(crate) async fn channel(endpoint: &str) -> Result<Channel> {
    Endpoint::from_shared(endpoint.to_owned())
        .with_context(|| format!("invalid endpoint {endpoint}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {endpoint}"))
}

/// A channel carrying `credential` on every call.
pub(crate) async fn connect(endpoint: &str, credential: &str) -> Result<AuthenticatedChannel> {
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel(endpoint).await?,
        BearerCredential::new(credential)?,
    ))
}

pub(crate) async fn wait_grpc_healthy(endpoint: &str) -> Result<()> {
    identity_launcher::wait_grpc_serving(endpoint, START_TIMEOUT).await
}

pub(crate) async fn wait_http_ok(url: &str) -> Result<()> {
    identity_launcher::wait_http_ok(url, START_TIMEOUT).await
}

/// An organization created for one run, so runs never see each other's data.
#[derive(Clone)]
pub(crate) struct Organization {
    pub(crate) id: String,
    pub(crate) slug: String,
    /// A SCIM token of the organization, when SCIM was enabled.
    pub(crate) scim_token: Option<String>,
    /// The organization's first owner credential (approves OAuth consent).
    pub(crate) owner_secret: String,
}

impl std::fmt::Debug for Organization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Organization")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// Creates a fresh organization through the admin API with the bootstrap credential, and
/// optionally enables SCIM and issues a token for it.
pub(crate) async fn create_organization(
    admin_endpoint: &str,
    admin_token: &str,
    scim: bool,
) -> Result<Organization> {
    let channel = self::channel(admin_endpoint).await?;
    let header: MetadataValue<_> = format!("Bearer {admin_token}")
        .parse()
        .context("admin token is not a valid header")?;
    let auth = move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", header.clone());
        Ok(request)
    };
    let mut orgs = OrganizationServiceClient::with_interceptor(channel.clone(), auth.clone());
    let slug = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let created = orgs
        .create_organization(admin::CreateOrganizationRequest {
            slug: slug.clone(),
            display_name: format!("Benchmark {slug}"),
        })
        .await
        .context("CreateOrganization")?
        .into_inner();
    let id = created
        .organization
        .context("CreateOrganization returned no organization")?
        .id;
    let mut scim_token = None;
    if scim {
        let mut scim_client = ScimServiceClient::with_interceptor(channel, auth);
        scim_client
            .enable_scim(admin::EnableScimRequest {
                organization_id: id.clone(),
                default_role: String::new(),
                ..Default::default()
            })
            .await
            .context("EnableScim")?;
        let issued = scim_client
            .issue_scim_token(admin::IssueScimTokenRequest {
                organization_id: id.clone(),
                description: "identity-bench".into(),
                validity: None,
                connection_id: String::new(),
            })
            .await
            .context("IssueScimToken")?
            .into_inner();
        scim_token = Some(issued.secret);
    }
    Ok(Organization {
        id,
        slug,
        scim_token,
        owner_secret: created.owner_secret,
    })
}
