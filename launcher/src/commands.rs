//! The command lines of `identity-core serve` and `scim-edge`.

use anyhow::Result;
use std::path::Path;
use tokio::process::Command;

/// How to start one `identity-core serve`.
#[derive(Debug, Clone, Copy)]
pub struct CoreLaunch<'a> {
    /// `None`: next to the running executable (see [`crate::binary`]).
    pub bin_dir: Option<&'a Path>,
    pub database_url: &'a str,
    /// identity.v1 listener (`127.0.0.1:0` picks a free port, reported on the listening line).
    pub identity_listen: &'a str,
    /// admin.v1 listener.
    pub admin_listen: &'a str,
    /// Prometheus `/metrics` listener; `None` keeps the core's default.
    pub metrics_listen: Option<&'a str>,
    /// The bootstrap admin credential.
    pub admin_token: &'a str,
    /// The credential the SCIM edge presents to identity.v1.
    pub edge_credential: &'a str,
    /// Clear inherited `IDENTITY_*` variables (tests: what starts never depends on the
    /// caller's environment) or pass them through (the bench lets its caller tune the core).
    pub hermetic: bool,
}

impl CoreLaunch<'_> {
    /// The command, configured through the environment: the database URL (which may hold a
    /// password) and the credentials stay out of `ps`. A configuration file named by the
    /// caller's environment is never read.
    pub fn command(&self) -> Result<Command> {
        let mut command = Command::new(crate::binary(self.bin_dir, "identity-core")?);
        if self.hermetic {
            clear_configuration_env(&mut command);
        }
        command.env_remove("IDENTITY_CONFIG");
        command
            .arg("serve")
            .env("IDENTITY_DATABASE_URL", self.database_url)
            .env("IDENTITY_LISTEN_ADDR", self.identity_listen)
            .env("IDENTITY_ADMIN_LISTEN_ADDR", self.admin_listen)
            .env("IDENTITY_ADMIN_TOKEN", self.admin_token)
            .env("IDENTITY_EDGE_CREDENTIAL", self.edge_credential);
        if let Some(metrics) = self.metrics_listen {
            command.env("IDENTITY_METRICS_LISTEN_ADDR", metrics);
        }
        Ok(command)
    }
}

/// How to start one `scim-edge`.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLaunch<'a> {
    /// `None`: next to the running executable (see [`crate::binary`]).
    pub bin_dir: Option<&'a Path>,
    pub listen: &'a str,
    /// `http://host:port` of the core's identity.v1 listener.
    pub core_endpoint: &'a str,
    pub core_credential: &'a str,
    /// `None`: derived from the listening address (`http://<addr>/scim/v2`).
    pub base_url: Option<&'a str>,
    /// Clear inherited `SCIM_EDGE_*` variables, or pass them through (see [`CoreLaunch`]).
    pub hermetic: bool,
}

impl EdgeLaunch<'_> {
    /// The command, configured through the environment only (see [`CoreLaunch::command`]).
    pub fn command(&self) -> Result<Command> {
        let mut command = Command::new(crate::binary(self.bin_dir, "scim-edge")?);
        if self.hermetic {
            clear_configuration_env(&mut command);
        }
        command
            .env_remove("SCIM_EDGE_CONFIG")
            .env_remove("SCIM_EDGE_BASE_URL");
        command
            .env("SCIM_EDGE_LISTEN_ADDR", self.listen)
            .env("SCIM_EDGE_CORE_ENDPOINT", self.core_endpoint)
            .env("SCIM_EDGE_CORE_CREDENTIAL", self.core_credential);
        if let Some(base_url) = self.base_url {
            command.env("SCIM_EDGE_BASE_URL", base_url);
        }
        Ok(command)
    }
}

fn clear_configuration_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("IDENTITY_") || key.starts_with("SCIM_EDGE_") {
            command.env_remove(key);
        }
    }
}
