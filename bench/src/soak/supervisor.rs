//! The processes under test and the faults done to them: the core and the edge on fixed
//! addresses, so a restarted process is found where the old one was (as behind a Kubernetes
//! Service).

use crate::stack::{self, Process};
use anyhow::{Context, Result, ensure};
use std::path::PathBuf;

#[derive(Debug)]
pub(super) enum Fault {
    KillCore,
    KillEdge,
    RestartPostgres(String),
}

impl Fault {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::KillCore => "core SIGKILL + restart",
            Self::KillEdge => "edge SIGKILL + restart",
            Self::RestartPostgres(_) => "PostgreSQL restart",
        }
    }
}

/// The core and the edge on fixed addresses, so a restarted process is found where the old one
/// was (as behind a Kubernetes Service).
pub(super) struct Supervisor {
    pub(super) bin_dir: Option<PathBuf>,
    pub(super) database_url: String,
    pub(super) admin_token: String,
    pub(super) edge_credential: String,
    pub(super) identity_addr: String,
    pub(super) admin_addr: String,
    pub(super) edge_addr: String,
    pub(super) core: Option<Process>,
    pub(super) edge: Option<Process>,
    pub(super) starts: usize,
    pub(super) dir: Option<tempfile::TempDir>,
}

impl Supervisor {
    /// Starts the core (on `database_url`, else SQLite in a temporary directory) and the edge,
    /// from `bin_dir`.
    pub(super) async fn start(
        database_url: Option<String>,
        bin_dir: Option<PathBuf>,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("identity-soak-")
            .tempdir()?;
        let database_url = database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("identity.db").display()
            )
        });
        let [identity_addr, admin_addr, edge_addr] = free_addresses()?;
        let mut supervisor = Self {
            bin_dir,
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

    pub(super) fn identity_endpoint(&self) -> String {
        format!("http://{}", self.identity_addr)
    }

    pub(super) fn admin_endpoint(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    pub(super) fn scim_url(&self) -> String {
        format!("http://{}/scim/v2", self.edge_addr)
    }

    pub(super) fn log(&mut self, name: &str) -> PathBuf {
        self.starts += 1;
        let dir = self
            .dir
            .as_ref()
            .expect("the directory lives as long as the run");
        dir.path().join(format!("{:02}-{name}.log", self.starts))
    }

    pub(super) async fn start_core(&mut self) -> Result<()> {
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

    pub(super) async fn start_edge(&mut self) -> Result<()> {
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

    pub(super) async fn inject(&mut self, fault: &Fault) -> Result<()> {
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

    pub(super) fn keep_logs(&mut self) -> PathBuf {
        self.core.take();
        self.edge.take();
        self.dir
            .take()
            .map(tempfile::TempDir::keep)
            .unwrap_or_default()
    }
}

/// Three loopback addresses free right now (the kernel's choice, released before use).
pub(super) fn free_addresses() -> Result<[String; 3]> {
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
