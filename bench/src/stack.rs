//! Starts the real `identity-core` (and `scim-edge`) binaries for a run, or connects to a stack
//! that is already running, and prepares one fresh organization to load.
//!
//! Processes are found next to this executable (the same target directory), log to files in a
//! temporary directory, and are killed when the [`Stack`] is dropped. Start-up waits on the
//! listening line and the health checks, never on a fixed sleep.

use anyhow::{Context, Result, anyhow, bail, ensure};
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_proto::client::{AuthenticatedChannel, BearerCredential};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Migrations on a fresh store included.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const HEALTH_POLL: Duration = Duration::from_millis(50);

/// A child process that is killed when dropped; its output goes to `log`.
#[derive(Debug)]
pub(crate) struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Spawns `command` and returns it with the JSON of its `{"event":"listening",…}` line.
    pub(crate) async fn spawn(
        name: &'static str,
        mut command: Command,
        log: PathBuf,
    ) -> Result<(Self, serde_json::Value)> {
        let stderr =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                    && value.get("event").and_then(|e| e.as_str()) == Some("listening")
                {
                    return Ok(Some(value));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let process = Self { name, child, log };
        match listening {
            Ok(Ok(Some(value))) => {
                // keep draining stdout so the child never blocks on a full pipe
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                Ok((process, value))
            }
            Ok(Ok(None)) => bail!(
                "{name} exited before printing its listening line; {}",
                process.tail()
            ),
            Ok(Err(e)) => bail!("reading {name} output: {e}; {}", process.tail()),
            Err(_) => bail!(
                "{name} printed no listening line within {START_TIMEOUT:?}; {}",
                process.tail()
            ),
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub(crate) async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    pub(crate) fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "last output of {} ({}):\n{}",
            self.name,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // kill_on_drop also does it; being explicit keeps the lifetime of the child obvious
        let _ = self.child.start_kill();
    }
}

/// Where the workspace binaries are: `--bin-dir`, else the directory of this executable.
pub(crate) fn binary(dir: Option<&Path>, name: &str) -> Result<PathBuf> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            let exe = std::env::current_exe().context("path of identity-bench")?;
            let mut dir = exe
                .parent()
                .context("identity-bench has a directory")?
                .to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    ensure!(
        path.is_file(),
        "{name} not found at {}: build it next to identity-bench (`cargo build --release -p identity-core -p scim-edge -p identity-bench`) or pass --bin-dir",
        path.display()
    );
    Ok(path)
}

/// How to reach (or start) the processes.
#[derive(Debug, Clone)]
pub(crate) struct StackOptions {
    pub(crate) bin_dir: Option<PathBuf>,
    pub(crate) database_url: Option<String>,
    pub(crate) with_edge: bool,
    pub(crate) edge_args: Vec<String>,
}

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
        let (core, line) = Process::spawn(
            "identity-core",
            command,
            dir.path().join("identity-core.log"),
        )
        .await?;
        let identity_addr = field(&line, "identity_addr")?;
        let admin_addr = field(&line, "admin_addr")?;
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
            let log = stack._dir.path().join("scim-edge.log");
            let (edge, line) = Process::spawn("scim-edge", command, log).await?;
            let addr = field(&line, "addr")?;
            wait_http_ok(&format!("http://{addr}/healthz")).await?;
            wait_http_ok(&format!("http://{addr}/readyz")).await?;
            stack.edge = Some(edge);
            stack.scim_base_url = Some(format!("http://{addr}/scim/v2"));
        }
        Ok(stack)
    }

    /// Names the log files, for a failing run.
    pub(crate) fn logs(&self) -> String {
        [&self.core, &self.edge]
            .into_iter()
            .flatten()
            .map(|p| format!("{}: {}", p.name, p.log.display()))
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

/// `identity-core serve` on `listen` = (identity.v1, admin.v1) addresses, secrets through the
/// environment so they never show in `ps`.
pub(crate) fn core_command(
    bin_dir: Option<&Path>,
    database_url: &str,
    admin_token: &str,
    edge_credential: &str,
    listen: (&str, &str),
) -> Result<Command> {
    let mut command = Command::new(binary(bin_dir, "identity-core")?);
    command
        .arg("serve")
        .arg("--listen-addr")
        .arg(listen.0)
        .arg("--admin-listen-addr")
        .arg(listen.1)
        .env("IDENTITY_DATABASE_URL", database_url)
        .env("IDENTITY_ADMIN_TOKEN", admin_token)
        .env("IDENTITY_EDGE_CREDENTIAL", edge_credential)
        .env_remove("IDENTITY_CONFIG")
        .env("RUST_LOG", log_filter());
    Ok(command)
}

/// `scim-edge` on `listen`, calling the core at `core_endpoint` with `edge_credential`.
pub(crate) fn edge_command(
    bin_dir: Option<&Path>,
    listen: &str,
    core_endpoint: &str,
    edge_credential: &str,
) -> Result<Command> {
    let mut command = Command::new(binary(bin_dir, "scim-edge")?);
    command
        .arg("--listen-addr")
        .arg(listen)
        .arg("--core-endpoint")
        .arg(core_endpoint)
        .env("SCIM_EDGE_CORE_CREDENTIAL", edge_credential)
        .env_remove("SCIM_EDGE_BASE_URL")
        .env_remove("SCIM_EDGE_CONFIG")
        .env("RUST_LOG", log_filter());
    Ok(command)
}

fn log_filter() -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())
}

pub(crate) fn scheme(url: &str) -> String {
    url.split(':').next().unwrap_or("unknown").to_owned()
}

pub(crate) fn field(line: &serde_json::Value, name: &str) -> Result<String> {
    line.get(name)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("listening line {line} has no {name}"))
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
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let outcome = async {
            let mut client = HealthClient::new(channel(endpoint).await?);
            let status = client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await?
                .into_inner()
                .status;
            Ok::<_, anyhow::Error>(status == ServingStatus::Serving as i32)
        }
        .await;
        match outcome {
            Ok(true) => return Ok(()),
            other if Instant::now() > deadline => {
                bail!("{endpoint} not healthy within {START_TIMEOUT:?}: {other:?}")
            }
            _ => tokio::time::sleep(HEALTH_POLL).await,
        }
    }
}

pub(crate) async fn wait_http_ok(url: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match http.get(url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            other if Instant::now() > deadline => {
                bail!("{url} not ready within {START_TIMEOUT:?}: {other:?}")
            }
            _ => tokio::time::sleep(HEALTH_POLL).await,
        }
    }
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
                default_role_id: String::new(),
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
