//! identity-core's configuration: defaults < optional TOML file < `IDENTITY_*` environment
//! variables < command-line flags, parsed into typed values before anything starts.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use identity_runtime::Secret;

/// Everything the server needs to start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Config {
    /// `sqlite://identity.db?mode=rwc` (embedded default) or `postgres://…`.
    pub database_url: Secret,
    /// Largest connection pool (SQLite is capped lower: it has one writer).
    pub max_db_connections: u32,
    /// identity.v1 listener (internal network only).
    pub listen_addr: SocketAddr,
    /// admin.v1 listener, kept apart so it can be exposed, firewalled and scaled separately.
    pub admin_listen_addr: SocketAddr,
    /// The bootstrap admin credential; without one only owner credentials work.
    pub admin_token: Option<Secret>,
    /// A file holding the bootstrap admin credential (a mounted Kubernetes secret).
    pub admin_token_file: Option<PathBuf>,
    /// The SCIM edge's credential for identity.v1 (it alone may check SCIM tokens and write as
    /// the SCIM owner); without one no edge can connect.
    pub edge_credential: Option<Secret>,
    /// A file holding the edge's credential (a mounted Kubernetes secret).
    pub edge_credential_file: Option<PathBuf>,
    /// The edge's previous credential, still accepted while it is rotated.
    pub edge_credential_previous: Option<Secret>,
    /// A file holding the previous credential.
    pub edge_credential_previous_file: Option<PathBuf>,
    /// How long change-feed entries (and expired access tokens) are kept, in seconds.
    pub change_retention_secs: u64,
    /// How often retention runs, in seconds.
    pub retention_interval_secs: u64,
    /// Lifetime of OAuth access tokens for SCIM, in seconds.
    pub oauth_access_token_ttl_secs: u64,
    /// Lifetime of OAuth refresh tokens, in seconds (each rotation starts a new one).
    pub oauth_refresh_token_ttl_secs: u64,
    /// Lifetime of OAuth authorization codes, in seconds.
    pub oauth_code_ttl_secs: u64,
    /// How long a consent page stays answerable, in seconds.
    pub oauth_request_ttl_secs: u64,
    /// Listener for `GET /metrics` (Prometheus text); none serves no metrics endpoint.
    pub metrics_listen_addr: Option<SocketAddr>,
    /// Apply pending migrations at start (local use); production runs `migrate` as a Job.
    pub migrate_on_start: bool,
    /// How long in-flight calls may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// The most writes of one organization committed together (group commit); 1 commits each
    /// write on its own.
    pub write_batch_max: usize,
    /// Argon2id memory per password hash, in KiB.
    pub password_hash_memory_kib: u32,
    /// Argon2id iterations per password hash.
    pub password_hash_iterations: u32,
    /// Password hashes computed at once (each holds its memory); 0 means one per CPU.
    pub password_hash_concurrency: usize,
    /// PEM certificate chain of both gRPC listeners; with `tls_key_file` they serve TLS only.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates that identity.v1 verifies client certificates against (mutual TLS): a
    /// caller with a verified certificate needs no bearer credential.
    pub tls_client_ca_file: Option<PathBuf>,
    /// Refuse identity.v1 connections without a verified client certificate.
    pub tls_client_certificate_required: bool,
    /// The client certificate name (DNS name, or common name) that makes a caller the SCIM
    /// edge; any other name is matched against the names of live service credentials.
    pub tls_edge_client_name: String,
    /// How often the TLS files are checked for changes, in seconds.
    pub tls_reload_interval_secs: u64,
}

impl Config {
    /// The password hashing settings (0 concurrency: one per CPU).
    pub fn password_hashing(&self) -> crate::store::users::PasswordHashing {
        let defaults = crate::store::users::PasswordHashing::default();
        crate::store::users::PasswordHashing {
            memory_kib: self.password_hash_memory_kib,
            iterations: self.password_hash_iterations,
            concurrency: if self.password_hash_concurrency == 0 {
                defaults.concurrency
            } else {
                self.password_hash_concurrency
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: Secret::new("sqlite://identity.db?mode=rwc"),
            max_db_connections: 16,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            admin_listen_addr: SocketAddr::from(([127, 0, 0, 1], 50052)),
            admin_token: None,
            admin_token_file: None,
            edge_credential: None,
            edge_credential_file: None,
            edge_credential_previous: None,
            edge_credential_previous_file: None,
            change_retention_secs: 7 * 24 * 3600,
            retention_interval_secs: 300,
            oauth_access_token_ttl_secs: 3600,
            oauth_refresh_token_ttl_secs: 90 * 24 * 3600,
            oauth_code_ttl_secs: 60,
            oauth_request_ttl_secs: 600,
            metrics_listen_addr: None,
            migrate_on_start: true,
            shutdown_grace_secs: 20,
            write_batch_max: crate::store::org_writes::DEFAULT_MAX_BATCH,
            password_hash_memory_kib: crate::store::users::PasswordHashing::default().memory_kib,
            password_hash_iterations: crate::store::users::PasswordHashing::default().iterations,
            password_hash_concurrency: 0,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_client_certificate_required: false,
            tls_edge_client_name: "scim-edge".to_owned(),
            tls_reload_interval_secs: identity_runtime::tls::DEFAULT_RELOAD_INTERVAL.as_secs(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone, Serialize, clap::Args)]
pub struct ConfigOverrides {
    /// Store URL [env: IDENTITY_DATABASE_URL]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// identity.v1 listen address [env: IDENTITY_LISTEN_ADDR]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<SocketAddr>,
    /// admin.v1 listen address [env: IDENTITY_ADMIN_LISTEN_ADDR]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen_addr: Option<SocketAddr>,
    /// File holding the bootstrap admin credential [env: IDENTITY_ADMIN_TOKEN_FILE]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the SCIM edge's identity.v1 credential [env: IDENTITY_EDGE_CREDENTIAL_FILE]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_credential_file: Option<PathBuf>,
    /// Prometheus `/metrics` listen address [env: IDENTITY_METRICS_LISTEN_ADDR]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen_addr: Option<SocketAddr>,
    /// Seconds the change feed is retained [env: IDENTITY_CHANGE_RETENTION_SECS]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_retention_secs: Option<u64>,
    /// Do not apply migrations at start
    #[arg(long, global = true)]
    #[serde(skip)]
    pub no_migrate: bool,
}

impl Config {
    /// The TLS settings of the identity.v1 listener (with client certificates when a client
    /// CA is set) or, with `for_admin`, of the admin.v1 listener; `None` serves plaintext.
    pub fn listener_tls(&self, for_admin: bool) -> Option<identity_runtime::tls::ServerTlsFiles> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return None;
        };
        Some(identity_runtime::tls::ServerTlsFiles {
            identity: identity_proto::tls::CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            },
            client_ca: if for_admin {
                None
            } else {
                self.tls_client_ca_file.clone()
            },
            client_certificate_required: !for_admin && self.tls_client_certificate_required,
            reload_interval: std::time::Duration::from_secs(self.tls_reload_interval_secs.max(1)),
        })
    }

    /// What is wrong with the TLS settings: half a pair, client settings without a
    /// certificate, files that do not load.
    fn tls_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            problems.push("tls_cert_file and tls_key_file must be set together".to_owned());
        }
        let serving_tls = self.tls_cert_file.is_some() && self.tls_key_file.is_some();
        if !serving_tls && self.tls_client_ca_file.is_some() {
            problems.push(
                "tls_client_ca_file needs tls_cert_file and tls_key_file (client certificates \
                 are only asked for over TLS)"
                    .to_owned(),
            );
        }
        if self.tls_client_certificate_required && self.tls_client_ca_file.is_none() {
            problems.push("tls_client_certificate_required needs tls_client_ca_file".to_owned());
        }
        if let Some(files) = self.listener_tls(false)
            && let Err(error) =
                identity_runtime::tls::ServerTls::load(&files, identity_runtime::tls::ALPN_GRPC)
        {
            problems.push(format!("TLS: {error}"));
        }
        problems
    }

    /// The OAuth lifetimes in the store's units.
    pub fn oauth_settings(&self) -> crate::store::oauth::OAuthSettings {
        let micros = |secs: u64| i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        crate::store::oauth::OAuthSettings {
            access_token_ttl: micros(self.oauth_access_token_ttl_secs),
            refresh_token_ttl: micros(self.oauth_refresh_token_ttl_secs),
            code_ttl: micros(self.oauth_code_ttl_secs),
            request_ttl: micros(self.oauth_request_ttl_secs),
        }
    }

    /// Merges the layers; `env` is passed in (not read here) so tests need not touch the process
    /// environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &ConfigOverrides,
    ) -> anyhow::Result<Self> {
        use figment::Figment;
        use figment::providers::{Format, Serialized, Toml};

        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        let env: figment::value::Dict = env
            .into_iter()
            .filter_map(|(key, value)| {
                let key = key.strip_prefix("IDENTITY_")?.to_ascii_lowercase();
                // test-only variables share the prefix but are not configuration
                (!key.starts_with("test_")).then(|| (key, parse_env_value(&value)))
            })
            .collect();
        figment = figment
            .merge(Serialized::defaults(env))
            .merge(Serialized::defaults(overrides));
        let mut config: Config = figment.extract().map_err(|errors| {
            let all: Vec<String> = errors.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("invalid configuration: {}", all.join("; "))
        })?;
        if overrides.no_migrate {
            config.migrate_on_start = false;
        }
        // every remaining problem is collected, so one failed start lists them all
        let mut problems = Vec::new();
        match read_secret(
            "admin",
            config.admin_token.take(),
            config.admin_token_file.as_deref(),
        ) {
            Ok(secret) => config.admin_token = secret,
            Err(problem) => problems.push(problem.to_string()),
        }
        match read_secret(
            "edge",
            config.edge_credential.take(),
            config.edge_credential_file.as_deref(),
        ) {
            Ok(secret) => config.edge_credential = secret,
            Err(problem) => problems.push(problem.to_string()),
        }
        match read_secret(
            "previous edge",
            config.edge_credential_previous.take(),
            config.edge_credential_previous_file.as_deref(),
        ) {
            Ok(secret) => config.edge_credential_previous = secret,
            Err(problem) => problems.push(problem.to_string()),
        }
        if let Some(problem) = unsupported_store(config.database_url.expose()) {
            problems.push(problem);
        }
        if config.change_retention_secs < 1 {
            problems.push("change_retention_secs must be at least 1".to_owned());
        }
        if let Err(problem) = argon2::Params::new(
            config.password_hash_memory_kib,
            config.password_hash_iterations,
            argon2::Params::DEFAULT_P_COST,
            None,
        ) {
            problems.push(format!(
                "password_hash_memory_kib / password_hash_iterations: {problem}"
            ));
        }
        if config.write_batch_max < 1 {
            problems.push("write_batch_max must be at least 1".to_owned());
        }
        if config.retention_interval_secs < 1 {
            problems.push("retention_interval_secs must be at least 1".to_owned());
        }
        problems.extend(config.tls_problems());
        for (name, value) in [
            (
                "oauth_access_token_ttl_secs",
                config.oauth_access_token_ttl_secs,
            ),
            (
                "oauth_refresh_token_ttl_secs",
                config.oauth_refresh_token_ttl_secs,
            ),
            ("oauth_code_ttl_secs", config.oauth_code_ttl_secs),
            ("oauth_request_ttl_secs", config.oauth_request_ttl_secs),
        ] {
            if value < 1 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        anyhow::ensure!(
            problems.is_empty(),
            "invalid configuration: {}",
            problems.join("; ")
        );
        Ok(config)
    }
}

/// A secret given inline or in a file (inline wins), trimmed and at least 16 characters.
fn read_secret(
    what: &str,
    inline: Option<Secret>,
    file: Option<&Path>,
) -> anyhow::Result<Option<Secret>> {
    let secret = match (inline, file) {
        (Some(secret), _) => secret,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            Secret::new(text.trim())
        }
        (None, None) => return Ok(None),
    };
    anyhow::ensure!(
        secret.expose().len() >= 16,
        "the {what} credential must be at least 16 characters"
    );
    Ok(Some(secret))
}

/// Environment values are strings; numbers and booleans are recognised so typed fields parse.
fn parse_env_value(value: &str) -> figment::value::Value {
    value
        .parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(value.to_owned()))
}

/// Why the store `url` names cannot be used, if it cannot. Only SQLite and PostgreSQL are
/// built and tested: MySQL and MariaDB were once accepted, but the schema does not fit their row
/// size limit and the write path needs `UPDATE … RETURNING`, which neither has, so such a URL
/// is refused at start instead of failing at the first migration or write.
fn unsupported_store(url: &str) -> Option<String> {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" | "postgres" | "postgresql" => None,
        "mysql" | "mariadb" => Some(
            "database_url: MySQL and MariaDB are not supported (the store needs UPDATE … \
             RETURNING and row sizes they refuse); use postgres://… in production or \
             sqlite://… for one node"
                .to_owned(),
        ),
        _ => Some(format!(
            "database_url: unknown store {scheme:?}; use postgres://… or sqlite://…"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("core.toml");
        std::fs::write(
            &file,
            "listen_addr = \"0.0.0.0:1000\"\nmax_db_connections = 3\n",
        )
        .unwrap();
        let overrides = ConfigOverrides {
            listen_addr: Some("127.0.0.1:3000".parse().unwrap()),
            no_migrate: true,
            ..Default::default()
        };
        let config = Config::load(
            Some(&file),
            env(&[
                ("IDENTITY_LISTEN_ADDR", "0.0.0.0:2000"),
                ("IDENTITY_MAX_DB_CONNECTIONS", "5"),
                ("IDENTITY_TEST_DATABASE_URL", "postgres://ignored"),
                ("OTHER", "x"),
            ]),
            &overrides,
        )
        .unwrap();
        assert_eq!(config.listen_addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.max_db_connections, 5);
        assert!(!config.migrate_on_start);
        assert_eq!(
            config.database_url.expose(),
            "sqlite://identity.db?mode=rwc"
        );
    }

    #[test]
    fn bad_values_are_reported_and_secrets_redacted() {
        let err = Config::load(
            None,
            env(&[("IDENTITY_LISTEN_ADDR", "not an address")]),
            &ConfigOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");

        let config = Config::load(
            None,
            env(&[("IDENTITY_ADMIN_TOKEN", "a-very-long-bootstrap-secret")]),
            &ConfigOverrides::default(),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("bootstrap-secret"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(
            None,
            env(&[
                ("IDENTITY_ADMIN_TOKEN", "short"),
                (
                    "IDENTITY_EDGE_CREDENTIAL_FILE",
                    dir.path().join("absent").to_str().unwrap(),
                ),
                ("IDENTITY_RETENTION_INTERVAL_SECS", "0"),
            ]),
            &ConfigOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        for expected in ["admin credential", "absent", "retention_interval_secs"] {
            assert!(err.contains(expected), "{expected} missing from: {err}");
        }
    }

    #[test]
    fn tls_settings_are_checked_before_start() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent.pem");
        let absent = absent.to_str().unwrap();
        let err = Config::load(
            None,
            env(&[
                ("IDENTITY_TLS_CERT_FILE", absent),
                ("IDENTITY_TLS_CLIENT_CERTIFICATE_REQUIRED", "true"),
            ]),
            &ConfigOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "tls_cert_file and tls_key_file must be set together",
            "tls_client_certificate_required needs tls_client_ca_file",
        ] {
            assert!(err.contains(expected), "{expected} missing from: {err}");
        }
        let err = Config::load(
            None,
            env(&[
                ("IDENTITY_TLS_CERT_FILE", absent),
                ("IDENTITY_TLS_KEY_FILE", absent),
            ]),
            &ConfigOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("TLS: ") && err.contains("absent.pem"), "{err}");
    }

    #[test]
    fn only_sqlite_and_postgres_stores_are_accepted() {
        for url in [
            "sqlite://identity.db?mode=rwc",
            "postgres://u@h/db",
            "postgresql://u@h/db",
        ] {
            assert_eq!(unsupported_store(url), None, "{url}");
        }
        for (url, says) in [
            (
                "mysql://root@127.0.0.1/test",
                "MySQL and MariaDB are not supported",
            ),
            ("mariadb://root@h/db", "MySQL and MariaDB are not supported"),
            ("oracle://h/db", "unknown store"),
        ] {
            let err = Config::load(
                None,
                env(&[("IDENTITY_DATABASE_URL", url)]),
                &ConfigOverrides::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn admin_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "file-held-admin-secret-123\n").unwrap();
        let config = Config::load(
            None,
            env(&[("IDENTITY_ADMIN_TOKEN_FILE", file.to_str().unwrap())]),
            &ConfigOverrides::default(),
        )
        .unwrap();
        assert_eq!(
            config.admin_token.unwrap().expose(),
            "file-held-admin-secret-123"
        );
    }

    /// The operations guide's reference table cannot drift from the code: every key and flag
    /// here must have its row there.
    #[test]
    fn every_setting_is_documented() {
        let guide = include_str!("../../docs/operations.md");
        let settings = serde_json::to_value(Config::default()).unwrap();
        for key in settings.as_object().unwrap().keys() {
            let variable = format!("`IDENTITY_{}`", key.to_uppercase());
            assert!(
                guide.contains(&variable),
                "{variable} is not in docs/operations.md"
            );
        }
        let command = <ConfigOverrides as clap::Args>::augment_args(clap::Command::new("core"));
        for long in command.get_arguments().filter_map(|arg| arg.get_long()) {
            let flag = format!("`--{long}`");
            assert!(guide.contains(&flag), "{flag} is not in docs/operations.md");
        }
    }
}
