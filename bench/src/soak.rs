//! `identity-bench soak`: fault survival. Several organizations drive mixed SCIM writes the way
//! an identity provider does (retrying on 5xx, 429 and broken connections until an answer is
//! final) while the core is killed with SIGKILL and restarted, PostgreSQL is restarted, and the
//! edge is killed and restarted, in turn. Afterwards every write answered 2xx is read back
//! through `identity.v1`, every 2xx delete must be gone, and the change feed must be gap-free.
//!
//! It prints writes acknowledged, writes lost, duplicates, failures seen after the stack had
//! recovered from a fault and the time each fault took to recover from, and exits non-zero when
//! any of lost, duplicated, post-recovery failures, stale reads, feed gaps or unresolved requests
//! is not zero.

use crate::edge::{GROUP_SCHEMA, PATCH_SCHEMA, SCIM_JSON, USER_SCHEMA};
use crate::stack::{self, Process};
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use identity_proto::client::AuthenticatedChannel;
use identity_proto::identity::v1 as pb;
use pb::change_service_client::ChangeServiceClient;
use pb::role_service_client::RoleServiceClient;
use pb::user_service_client::UserServiceClient;
use rand::Rng;
use reqwest::{Client, Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An identity provider gives up on a request after this long; the stack must answer sooner.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);
/// The longest a fault may take to recover from before the run fails.
const RECOVERY_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Seconds of load under faults
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// The short mode CI runs: 60 seconds, a fault every 8 seconds
    #[arg(long)]
    short: bool,
    /// Organizations writing at once
    #[arg(long, default_value_t = 3)]
    tenants: usize,
    /// Sequential writers per organization
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Seconds between the recovery from one fault and the next fault (default 15, short 8)
    #[arg(long)]
    fault_every: Option<u64>,
    /// Shell command that restarts PostgreSQL (e.g. `pg_ctlcluster 15 main restart`); without
    /// it only the core and the edge are killed
    #[arg(long)]
    restart_postgres: Option<String>,
    /// Store of the core (default: SQLite in a temporary directory)
    #[arg(long, env = "IDENTITY_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory holding identity-core and scim-edge (default: next to this executable)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the processes' logs (their directory is printed)
    #[arg(long)]
    keep_logs: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: SoakArgs) -> Result<()> {
    ensure!(
        args.tenants > 0 && args.workers > 0,
        "--tenants and --workers must be at least 1"
    );
    let duration = Duration::from_secs(if args.short { 60 } else { args.duration });
    let fault_every =
        Duration::from_secs(args.fault_every.unwrap_or(if args.short { 8 } else { 15 }));
    let mut faults = vec![Fault::KillCore, Fault::KillEdge];
    if let Some(command) = &args.restart_postgres {
        ensure!(
            args.database_url
                .as_deref()
                .is_some_and(|url| url.starts_with("postgres")),
            "--restart-postgres needs a postgres:// --database-url"
        );
        faults.push(Fault::RestartPostgres(command.clone()));
    }

    let mut supervisor = Supervisor::start(&args).await?;
    let outcome = soak(&mut supervisor, &args, duration, fault_every, &faults).await;
    if outcome.is_err() || args.keep_logs {
        eprintln!("processes' logs: {}", supervisor.keep_logs().display());
    }
    let report = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    let problems = report.problems();
    if !problems.is_empty() {
        bail!("soak failed: {}", problems.join("; "));
    }
    Ok(())
}

async fn soak(
    supervisor: &mut Supervisor,
    args: &SoakArgs,
    duration: Duration,
    fault_every: Duration,
    faults: &[Fault],
) -> Result<Report> {
    let run_id = crate::run_id();
    let mut tenants = Vec::new();
    for index in 0..args.tenants {
        tenants.push(Arc::new(
            Tenant::create(supervisor, index, args.workers, &run_id).await?,
        ));
    }
    eprintln!(
        "soak: {} organizations × {} writers for {duration:?}, a fault every {fault_every:?} ({})",
        args.tenants,
        args.workers,
        faults
            .iter()
            .map(Fault::name)
            .collect::<Vec<_>>()
            .join(", ")
    );

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut writers = Vec::new();
    for tenant in &tenants {
        for worker in 0..args.workers {
            let writer = Writer::new(tenant.clone(), worker, &run_id);
            writers.push(tokio::spawn(writer.run(stop.clone())));
        }
    }

    let mut recoveries = Vec::new();
    let mut next = 0;
    while started.elapsed() + fault_every < duration {
        tokio::time::sleep(fault_every).await;
        let fault = &faults[next % faults.len()];
        next += 1;
        eprintln!("soak: {} at {:?}", fault.name(), started.elapsed());
        let at = Instant::now();
        supervisor.inject(fault).await?;
        let recovered = wait_recovered(&tenants, supervisor).await?;
        eprintln!("soak: recovered in {:?}", recovered - at);
        recoveries.push(Recovery {
            fault: fault.name(),
            at,
            recovered,
        });
    }
    // the rest of the time, and at least a calm tail, without faults
    let calm = duration
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(5));
    tokio::time::sleep(calm).await;
    stop.store(true, Ordering::Relaxed);
    let mut ledgers = Vec::new();
    for writer in writers {
        ledgers.push(writer.await.context("a writer panicked")?);
    }
    let elapsed = started.elapsed();
    eprintln!("soak: verifying through identity.v1");
    let channel =
        stack::connect(&supervisor.identity_endpoint(), &supervisor.edge_credential).await?;
    let mut report = Report::new(args, elapsed, &recoveries);
    for tenant in &tenants {
        let mine: Vec<&Ledger> = ledgers
            .iter()
            .filter(|ledger| ledger.tenant == tenant.index)
            .collect();
        verify(&channel, tenant, &mine, &mut report).await?;
    }
    for ledger in &ledgers {
        report.count(ledger, &recoveries);
    }
    Ok(report)
}

// --- the processes -----------------------------------------------------------------------------

#[derive(Debug)]
enum Fault {
    KillCore,
    KillEdge,
    RestartPostgres(String),
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Self::KillCore => "core SIGKILL + restart",
            Self::KillEdge => "edge SIGKILL + restart",
            Self::RestartPostgres(_) => "PostgreSQL restart",
        }
    }
}

/// The core and the edge on fixed addresses, so a restarted process is found where the old one
/// was (as behind a Kubernetes Service).
struct Supervisor {
    bin_dir: Option<PathBuf>,
    database_url: String,
    admin_token: String,
    edge_credential: String,
    identity_addr: String,
    admin_addr: String,
    edge_addr: String,
    core: Option<Process>,
    edge: Option<Process>,
    starts: usize,
    dir: Option<tempfile::TempDir>,
}

impl Supervisor {
    async fn start(args: &SoakArgs) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("identity-soak-")
            .tempdir()?;
        let database_url = args.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("identity.db").display()
            )
        });
        let [identity_addr, admin_addr, edge_addr] = free_addresses()?;
        let mut supervisor = Self {
            bin_dir: args.bin_dir.clone(),
            database_url,
            admin_token: format!("idadm_soak_{}", uuid::Uuid::new_v4().simple()),
            edge_credential: format!("idedge_soak_{}", uuid::Uuid::new_v4().simple()),
            identity_addr,
            admin_addr,
            edge_addr,
            core: None,
            edge: None,
            starts: 0,
            dir: Some(dir),
        };
        supervisor.start_core().await?;
        supervisor.start_edge().await?;
        Ok(supervisor)
    }

    fn identity_endpoint(&self) -> String {
        format!("http://{}", self.identity_addr)
    }

    fn admin_endpoint(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    fn scim_url(&self) -> String {
        format!("http://{}/scim/v2", self.edge_addr)
    }

    fn log(&mut self, name: &str) -> PathBuf {
        self.starts += 1;
        let dir = self
            .dir
            .as_ref()
            .expect("the directory lives as long as the run");
        dir.path().join(format!("{:02}-{name}.log", self.starts))
    }

    async fn start_core(&mut self) -> Result<()> {
        let command = stack::core_command(
            self.bin_dir.as_deref(),
            &self.database_url,
            &self.admin_token,
            &self.edge_credential,
            (&self.identity_addr, &self.admin_addr),
        )?;
        let log = self.log("identity-core");
        let (core, _) = stack::spawn("identity-core", command, log).await?;
        self.core = Some(core);
        stack::wait_grpc_healthy(&self.identity_endpoint()).await
    }

    async fn start_edge(&mut self) -> Result<()> {
        let mut command = stack::edge_command(
            self.bin_dir.as_deref(),
            &self.edge_addr,
            &self.identity_endpoint(),
            &self.edge_credential,
        )?;
        // the soak measures survival, not the per-organization limits
        command.envs(stack::NO_ORGANIZATION_LIMITS);
        let log = self.log("scim-edge");
        let (edge, _) = stack::spawn("scim-edge", command, log).await?;
        self.edge = Some(edge);
        stack::wait_http_ok(&format!("http://{}/healthz", self.edge_addr)).await
    }

    async fn inject(&mut self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::KillCore => {
                if let Some(mut core) = self.core.take() {
                    core.kill().await;
                }
                self.start_core().await
            }
            Fault::KillEdge => {
                if let Some(mut edge) = self.edge.take() {
                    edge.kill().await;
                }
                self.start_edge().await
            }
            Fault::RestartPostgres(command) => {
                let status = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .status()
                    .await
                    .with_context(|| format!("running {command}"))?;
                ensure!(status.success(), "{command} failed: {status}");
                Ok(())
            }
        }
    }

    fn keep_logs(&mut self) -> PathBuf {
        self.core.take();
        self.edge.take();
        self.dir
            .take()
            .map(tempfile::TempDir::keep)
            .unwrap_or_default()
    }
}

/// Three loopback addresses free right now (the kernel's choice, released before use).
fn free_addresses() -> Result<[String; 3]> {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut addresses = Vec::new();
    for listener in &listeners {
        addresses.push(listener.local_addr()?.to_string());
    }
    Ok(addresses.try_into().expect("three addresses"))
}

/// The stack has recovered when every organization's SCIM endpoint answers a read with 200.
async fn wait_recovered(tenants: &[Arc<Tenant>], supervisor: &Supervisor) -> Result<Instant> {
    let deadline = Instant::now() + RECOVERY_LIMIT;
    for tenant in tenants {
        loop {
            let answered = tenant
                .http
                .get(format!("{}/Users?count=1", tenant.base_url))
                .send()
                .await;
            if answered.is_ok_and(|response| response.status() == StatusCode::OK) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "organization {} not served within {RECOVERY_LIMIT:?} of the fault (scim {})",
                    tenant.index,
                    supervisor.scim_url()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(Instant::now())
}

struct Recovery {
    fault: &'static str,
    at: Instant,
    recovered: Instant,
}

// --- the load ------------------------------------------------------------------------------------

/// One organization: its SCIM token, and one group per writer.
struct Tenant {
    index: usize,
    org_id: String,
    base_url: String,
    http: Client,
    groups: Vec<String>,
}

impl Tenant {
    async fn create(
        supervisor: &Supervisor,
        index: usize,
        writers: usize,
        run_id: &str,
    ) -> Result<Self> {
        let org =
            stack::create_organization(&supervisor.admin_endpoint(), &supervisor.admin_token, true)
                .await?;
        let token = org.scim_token.context("SCIM token issued")?;
        let http = crate::edge::client(&token, writers + 1)?;
        let base_url = supervisor.scim_url();
        let mut groups = Vec::new();
        for writer in 0..writers {
            let body = json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": format!("soak-{run_id}-t{index}-w{writer}"),
            });
            let created = crate::edge::send(
                http.post(format!("{base_url}/Groups"))
                    .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                    .json(&body),
                &[StatusCode::CREATED],
            )
            .await
            .context("POST /Groups")?;
            groups.push(created["id"].as_str().context("group id")?.to_owned());
        }
        Ok(Self {
            index,
            org_id: org.id,
            base_url,
            http,
            groups,
        })
    }
}

/// A user one writer created, and what the writer was told about it.
#[derive(Debug)]
struct Tracked {
    user_name: String,
    /// Set once a create was acknowledged.
    id: Option<String>,
    /// The display name of the last acknowledged write.
    display_name: String,
    /// A later write whose answer never came (the run ended while it was retried): either value
    /// may be stored.
    pending_display_name: Option<String>,
    deleted: bool,
    /// A delete whose answer never came.
    delete_pending: bool,
    member: bool,
}

/// What one writer did and saw.
#[derive(Debug, Default)]
struct Ledger {
    tenant: usize,
    users: Vec<Tracked>,
    acknowledged: u64,
    requests: u64,
    retries: u64,
    /// A retried create answered 409: an earlier attempt had committed (found by filter).
    resolved_conflicts: u64,
    /// A read after an acknowledged write that did not show it.
    stale_reads: u64,
    /// Answers no retry explains (e.g. 404 for a user that exists, 400 for a valid request).
    unexpected: Vec<String>,
    /// Failed attempts (5xx, 429, broken connection): when sent, when seen, what.
    failures: Vec<(Instant, Instant, String)>,
    unresolved: u64,
}

struct Writer {
    tenant: Arc<Tenant>,
    worker: usize,
    run_id: String,
    ledger: Ledger,
    live: Vec<usize>,
    next_name: usize,
}

enum Answer {
    Final {
        status: StatusCode,
        body: Value,
        attempts: u32,
    },
    GaveUp,
}

impl Writer {
    fn new(tenant: Arc<Tenant>, worker: usize, run_id: &str) -> Self {
        let ledger = Ledger {
            tenant: tenant.index,
            ..Ledger::default()
        };
        Self {
            tenant,
            worker,
            run_id: run_id.to_owned(),
            ledger,
            live: Vec::new(),
            next_name: 0,
        }
    }

    async fn run(mut self, stop: Arc<AtomicBool>) -> Ledger {
        while !stop.load(Ordering::Relaxed) {
            let roll = rand::rng().random_range(0..100);
            if self.live.len() < 3 || roll < 35 {
                self.create().await;
            } else if roll < 60 {
                self.rename().await;
            } else if roll < 75 {
                self.add_member().await;
            } else if roll < 85 {
                self.delete().await;
            } else {
                self.read().await;
            }
        }
        self.ledger
    }

    fn pick(&self) -> usize {
        self.live[rand::rng().random_range(0..self.live.len())]
    }

    /// Sends until the answer is final, as an identity provider retries: 5xx, 429 and broken
    /// connections are retried with backoff (at most a second, or the server's Retry-After).
    async fn call(&mut self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let url = format!("{}{path}", self.tenant.base_url);
        let first = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.ledger.requests += 1;
            let mut request = self.tenant.http.request(method.clone(), &url);
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                    .json(body);
            }
            let sent = Instant::now();
            let (failure, wait) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response.text().await.unwrap_or_default();
                    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        let shown: String = text.chars().take(200).collect();
                        (format!("{method} {path}: {status} {shown}"), retry_after)
                    } else {
                        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                        return Answer::Final {
                            status,
                            body,
                            attempts,
                        };
                    }
                }
                Err(e) => (format!("{method} {path}: {e}"), None),
            };
            self.ledger.failures.push((sent, Instant::now(), failure));
            if first.elapsed() > GIVE_UP_AFTER {
                self.ledger.unresolved += 1;
                return Answer::GaveUp;
            }
            self.ledger.retries += 1;
            tokio::time::sleep(wait.unwrap_or(backoff).min(Duration::from_secs(1))).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    fn unexpected(&mut self, what: &str, status: StatusCode, body: &Value) {
        let detail = body["detail"].as_str().unwrap_or_default().to_owned();
        self.ledger
            .unexpected
            .push(format!("{what}: {status} {detail}"));
    }

    async fn create(&mut self) {
        let user_name = format!(
            "soak-{}-t{}-w{}-{}@soak.example.com",
            self.run_id, self.tenant.index, self.worker, self.next_name
        );
        self.next_name += 1;
        let body = json!({
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "externalId": format!("x-{user_name}"),
            "displayName": "v0",
            "name": {"givenName": "Soak", "familyName": "User"},
            "emails": [{"value": user_name, "type": "work", "primary": true}],
            "active": true
        });
        let index = self.ledger.users.len();
        self.ledger.users.push(Tracked {
            user_name: user_name.clone(),
            id: None,
            display_name: "v0".into(),
            pending_display_name: None,
            deleted: false,
            delete_pending: false,
            member: false,
        });
        let id = match self.call(Method::POST, "/Users", Some(&body)).await {
            Answer::Final {
                status: StatusCode::CREATED,
                body,
                ..
            } => body["id"].as_str().map(str::to_owned),
            // an earlier attempt committed but its answer was lost: find it, as Okta does
            Answer::Final {
                status: StatusCode::CONFLICT,
                attempts,
                ..
            } if attempts > 1 => {
                self.ledger.resolved_conflicts += 1;
                let filter = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
                match self.call(Method::GET, &filter, None).await {
                    Answer::Final { status, body, .. } if status == StatusCode::OK => {
                        body["Resources"][0]["id"].as_str().map(str::to_owned)
                    }
                    _ => None,
                }
            }
            Answer::Final { status, body, .. } => {
                self.unexpected("POST /Users", status, &body);
                None
            }
            Answer::GaveUp => None,
        };
        if let Some(id) = id {
            self.ledger.acknowledged += 1;
            self.ledger.users[index].id = Some(id);
            self.live.push(index);
        }
    }

    async fn rename(&mut self) {
        let index = self.pick();
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        let value = format!("v{}", rand::rng().random_range(1..1_000_000));
        let body = json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "displayName", "value": value}],
        });
        match self
            .call(Method::PATCH, &format!("/Users/{id}"), Some(&body))
            .await
        {
            Answer::Final { status, .. } if status.is_success() => {
                self.ledger.acknowledged += 1;
                self.ledger.users[index].display_name = value;
            }
            Answer::Final { status, body, .. } => self.unexpected("PATCH /Users", status, &body),
            Answer::GaveUp => self.ledger.users[index].pending_display_name = Some(value),
        }
    }

    async fn add_member(&mut self) {
        let index = self.pick();
        if self.ledger.users[index].member {
            return self.read().await;
        }
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        let group = self.tenant.groups[self.worker].clone();
        let body = json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}],
        });
        match self
            .call(Method::PATCH, &format!("/Groups/{group}"), Some(&body))
            .await
        {
            Answer::Final { status, .. } if status.is_success() => {
                self.ledger.acknowledged += 1;
                self.ledger.users[index].member = true;
            }
            Answer::Final { status, body, .. } => self.unexpected("PATCH /Groups", status, &body),
            Answer::GaveUp => {}
        }
    }

    async fn delete(&mut self) {
        let position = rand::rng().random_range(0..self.live.len());
        let index = self.live[position];
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        match self
            .call(Method::DELETE, &format!("/Users/{id}"), None)
            .await
        {
            // 404 on a retry: an earlier attempt deleted it
            Answer::Final {
                status: StatusCode::NO_CONTENT,
                ..
            }
            | Answer::Final {
                status: StatusCode::NOT_FOUND,
                attempts: 2..,
                ..
            } => {
                self.ledger.acknowledged += 1;
                self.ledger.users[index].deleted = true;
                self.live.swap_remove(position);
            }
            Answer::Final { status, body, .. } => self.unexpected("DELETE /Users", status, &body),
            Answer::GaveUp => {
                self.ledger.users[index].delete_pending = true;
                self.live.swap_remove(position);
            }
        }
    }

    /// Reads one of this writer's users: it must show the last acknowledged write.
    async fn read(&mut self) {
        let index = self.pick();
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        if let Answer::Final { status, body, .. } =
            self.call(Method::GET, &format!("/Users/{id}"), None).await
        {
            let tracked = &self.ledger.users[index];
            if status != StatusCode::OK {
                self.unexpected("GET /Users/{id}", status, &body);
            } else if tracked.pending_display_name.is_none()
                && body["displayName"].as_str() != Some(tracked.display_name.as_str())
            {
                self.ledger.stale_reads += 1;
            }
        }
    }
}

// --- verification --------------------------------------------------------------------------------

async fn verify(
    channel: &AuthenticatedChannel,
    tenant: &Tenant,
    ledgers: &[&Ledger],
    report: &mut Report,
) -> Result<()> {
    let org = tenant.org_id.clone();
    // every user of the organization, by id
    let mut users = UserServiceClient::new(channel.clone());
    let mut stored: HashMap<String, pb::User> = HashMap::new();
    let mut page_token = String::new();
    loop {
        let page = users
            .list_users(pb::ListUsersRequest {
                organization_id: org.clone(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .context("ListUsers")?
            .into_inner();
        for user in page.users {
            stored.insert(user.id.clone(), user);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut names = HashSet::new();
    let mut external_ids = HashSet::new();
    for user in stored.values() {
        if !names.insert(user.user_name.to_lowercase()) {
            report.duplicates += 1;
        }
        if !user.external_id.is_empty() && !external_ids.insert(user.external_id.clone()) {
            report.duplicates += 1;
        }
    }

    // every group's members
    let mut roles = RoleServiceClient::new(channel.clone());
    let mut members: HashSet<String> = HashSet::new();
    for group in &tenant.groups {
        let mut page_token = String::new();
        loop {
            let page = roles
                .list_role_members(pb::ListRoleMembersRequest {
                    organization_id: org.clone(),
                    role_id: group.clone(),
                    page_size: 10_000,
                    page_token: page_token.clone(),
                })
                .await
                .context("ListRoleMembers")?
                .into_inner();
            members.extend(page.members.into_iter().map(|m| m.user_id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }

    for tracked in ledgers.iter().flat_map(|ledger| &ledger.users) {
        let Some(id) = &tracked.id else {
            if stored
                .values()
                .any(|u| u.user_name.eq_ignore_ascii_case(&tracked.user_name))
            {
                report.committed_unacknowledged += 1;
            }
            continue;
        };
        match stored.get(id) {
            _ if tracked.delete_pending => {}
            Some(_) if tracked.deleted => report.lost(format!("deleted user {id} is back")),
            None if tracked.deleted => {}
            None => report.lost(format!("created user {id} is missing")),
            Some(user) => {
                let allowed = [
                    Some(&tracked.display_name),
                    tracked.pending_display_name.as_ref(),
                ];
                if !allowed.contains(&Some(&user.display_name)) {
                    report.lost(format!(
                        "user {id}: displayName {:?}, acknowledged {:?}",
                        user.display_name, tracked.display_name
                    ));
                }
                if tracked.member && !members.contains(id) {
                    report.lost(format!("user {id}: acknowledged group membership missing"));
                }
            }
        }
    }

    // the feed: 1..=latest without gaps
    let mut changes = ChangeServiceClient::new(channel.clone());
    let mut after = 0;
    loop {
        let page = changes
            .list_changes(pb::ListChangesRequest {
                organization_id: org.clone(),
                after_sequence: after,
                page_size: 1000,
            })
            .await
            .context("ListChanges")?
            .into_inner();
        if page.changes.is_empty() {
            if after != page.latest_sequence {
                report.feed_gaps += 1;
            }
            break;
        }
        for change in page.changes {
            if change.sequence != after + 1 {
                report.feed_gaps += 1;
            }
            after = change.sequence;
        }
    }
    report.feed_changes += u64::try_from(after).unwrap_or_default();
    Ok(())
}

// --- the report ----------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct FaultReport {
    fault: &'static str,
    recovered_ms: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    seconds: f64,
    tenants: usize,
    writers: usize,
    faults: Vec<FaultReport>,
    requests: u64,
    retries: u64,
    writes_acknowledged: u64,
    writes_lost: u64,
    lost_examples: Vec<String>,
    duplicates: u64,
    /// Creates that committed though the writer never got their answer (allowed).
    committed_unacknowledged: u64,
    resolved_conflicts: u64,
    stale_reads: u64,
    unexpected: Vec<String>,
    failures_during_faults: u64,
    failures_after_recovery: u64,
    failure_examples_after_recovery: Vec<String>,
    unresolved: u64,
    feed_changes: u64,
    feed_gaps: u64,
    max_recovery_ms: u64,
}

impl Report {
    fn new(args: &SoakArgs, elapsed: Duration, recoveries: &[Recovery]) -> Self {
        let faults: Vec<FaultReport> = recoveries
            .iter()
            .map(|r| FaultReport {
                fault: r.fault,
                recovered_ms: (r.recovered - r.at).as_millis() as u64,
            })
            .collect();
        Self {
            seconds: elapsed.as_secs_f64(),
            tenants: args.tenants,
            writers: args.tenants * args.workers,
            max_recovery_ms: faults.iter().map(|f| f.recovered_ms).max().unwrap_or(0),
            faults,
            requests: 0,
            retries: 0,
            writes_acknowledged: 0,
            writes_lost: 0,
            lost_examples: Vec::new(),
            duplicates: 0,
            committed_unacknowledged: 0,
            resolved_conflicts: 0,
            stale_reads: 0,
            unexpected: Vec::new(),
            failures_during_faults: 0,
            failures_after_recovery: 0,
            failure_examples_after_recovery: Vec::new(),
            unresolved: 0,
            feed_changes: 0,
            feed_gaps: 0,
        }
    }

    fn lost(&mut self, what: String) {
        self.writes_lost += 1;
        if self.lost_examples.len() < 10 {
            self.lost_examples.push(what);
        }
    }

    /// Adds one writer's counts. A failed attempt is explained by a fault when it was in flight
    /// at some moment between the fault and the recovery; any other is a failure after recovery.
    fn count(&mut self, ledger: &Ledger, recoveries: &[Recovery]) {
        self.requests += ledger.requests;
        self.retries += ledger.retries;
        self.writes_acknowledged += ledger.acknowledged;
        self.resolved_conflicts += ledger.resolved_conflicts;
        self.stale_reads += ledger.stale_reads;
        self.unresolved += ledger.unresolved;
        self.unexpected.extend(ledger.unexpected.iter().cloned());
        for (sent, seen, what) in &ledger.failures {
            let explained = recoveries
                .iter()
                .any(|r| *sent <= r.recovered && *seen >= r.at);
            if explained {
                self.failures_during_faults += 1;
            } else {
                self.failures_after_recovery += 1;
                if self.failure_examples_after_recovery.len() < 10 {
                    self.failure_examples_after_recovery.push(what.clone());
                }
            }
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |count: u64, what: &str| {
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        };
        check(self.writes_lost, "writes lost");
        check(self.duplicates, "duplicates");
        check(self.failures_after_recovery, "failures after recovery");
        check(self.stale_reads, "stale reads");
        check(self.feed_gaps, "feed gaps");
        check(self.unresolved, "requests never answered");
        check(self.unexpected.len() as u64, "unexpected answers");
        if self.faults.is_empty() {
            problems.push("no fault was injected (the run is too short)".into());
        }
        problems
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "soak: {:.0} s, {} organizations, {} writers, {} faults",
            self.seconds,
            self.tenants,
            self.writers,
            self.faults.len()
        ));
        for fault in &self.faults {
            line(format!(
                "  {:<24} recovered in {:>6} ms",
                fault.fault, fault.recovered_ms
            ));
        }
        line(format!(
            "requests sent               {:>8} ({} retries)",
            self.requests, self.retries
        ));
        line(format!(
            "writes acknowledged         {:>8}",
            self.writes_acknowledged
        ));
        line(format!(
            "writes lost                 {:>8}",
            self.writes_lost
        ));
        line(format!(
            "duplicates                  {:>8}",
            self.duplicates
        ));
        line(format!(
            "failures during faults      {:>8}",
            self.failures_during_faults
        ));
        line(format!(
            "failures after recovery     {:>8}",
            self.failures_after_recovery
        ));
        line(format!(
            "time to recover (max)       {:>8} ms",
            self.max_recovery_ms
        ));
        line(format!(
            "retried creates found by filter after 409 {}",
            self.resolved_conflicts
        ));
        line(format!(
            "committed, answer lost      {:>8}",
            self.committed_unacknowledged
        ));
        line(format!(
            "stale reads                 {:>8}",
            self.stale_reads
        ));
        line(format!(
            "feed changes {} , gaps {}",
            self.feed_changes, self.feed_gaps
        ));
        line(format!(
            "never answered              {:>8}",
            self.unresolved
        ));
        for example in self
            .lost_examples
            .iter()
            .chain(&self.failure_examples_after_recovery)
            .chain(self.unexpected.iter().take(10))
        {
            line(format!("  ! {example}"));
        }
        out
    }
}
