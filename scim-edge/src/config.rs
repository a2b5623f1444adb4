//! The edge's configuration: command-line flags over `SCIM_EDGE_*` environment variables over an
//! optional TOML file over defaults, parsed into typed values up front.
//!
//! Every problem (a malformed value, an unusable URL) is collected and reported in one run, so
//! an operator fixes a broken deployment in one go. The environment is passed in as a list of
//! pairs rather than read here, which keeps loading testable. Nothing here opens sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::schema::Limits;

/// Command-line flags; each one, when given, overrides the same key from the environment and
/// the file.
#[derive(Debug, Clone, Default, Parser, Serialize)]
#[command(
    name = "scim-edge",
    about = "SCIM 2.0 service provider in front of identity-core"
)]
pub struct Flags {
    /// Address to listen on (port 0 picks a free port) [env: SCIM_EDGE_LISTEN_ADDR]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<String>,
    /// identity-core's identity.v1 endpoint [env: SCIM_EDGE_CORE_ENDPOINT]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_endpoint: Option<String>,
    /// File holding the edge's identity.v1 credential (the core's edge_credential)
    /// [env: SCIM_EDGE_CORE_CREDENTIAL_FILE, or the value itself in SCIM_EDGE_CORE_CREDENTIAL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_credential_file: Option<PathBuf>,
    /// Externally visible SCIM base URL, default http://<listen-addr>/scim/v2
    /// [env: SCIM_EDGE_BASE_URL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Seconds a validated token is cached: the bound on how late a revocation takes effect
    /// [env: SCIM_EDGE_TOKEN_CACHE_TTL_SECS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_cache_ttl_secs: Option<u64>,
    /// Largest accepted request body, Bulk included [env: SCIM_EDGE_MAX_BODY_BYTES]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Seconds one request may take before it is answered 503 [env: SCIM_EDGE_REQUEST_TIMEOUT_SECS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// Requests served at once; more wait [env: SCIM_EDGE_MAX_CONCURRENT_REQUESTS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<usize>,
    /// Seconds to wait for in-flight requests on shutdown [env: SCIM_EDGE_SHUTDOWN_GRACE_SECS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<u64>,
    /// Optional TOML file with the same keys (snake_case) [env: SCIM_EDGE_CONFIG]
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

/// The raw, untyped layer figment merges into.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawConfig {
    listen_addr: String,
    core_endpoint: String,
    core_credential: Option<String>,
    core_credential_file: Option<PathBuf>,
    base_url: Option<String>,
    token_cache_ttl_secs: u64,
    max_body_bytes: usize,
    request_timeout_secs: u64,
    connect_timeout_secs: u64,
    max_concurrent_requests: usize,
    shutdown_grace_secs: u64,
    token_cache_capacity: u64,
    org_requests_per_second: u32,
    org_burst: u32,
    org_max_concurrent_requests: u32,
    token_requests_per_second: u32,
    token_burst: u32,
    unauthenticated_requests_per_second: u32,
    unauthenticated_burst: u32,
    refused_token_cache_secs: u64,
    client_address_header: Option<String>,
    heavy_request_slots: usize,
    heavy_request_cost: u32,
    hold_ignored_retry_after_secs: u64,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    core_ca_file: Option<PathBuf>,
    core_client_cert_file: Option<PathBuf>,
    core_client_key_file: Option<PathBuf>,
    tls_reload_interval_secs: u64,
}

impl Default for RawConfig {
    fn default() -> Self {
        let limits = crate::throttle::Limits::default();
        Self {
            listen_addr: "127.0.0.1:8080".to_owned(),
            core_endpoint: "http://127.0.0.1:50051".to_owned(),
            core_credential: None,
            core_credential_file: None,
            base_url: None,
            token_cache_ttl_secs: 30,
            max_body_bytes: 4_194_304,
            request_timeout_secs: 30,
            connect_timeout_secs: 5,
            max_concurrent_requests: 512,
            shutdown_grace_secs: 25,
            token_cache_capacity: 10_000,
            org_requests_per_second: limits.organization.per_second,
            org_burst: limits.organization.burst,
            org_max_concurrent_requests: limits.organization_concurrency,
            token_requests_per_second: limits.token.per_second,
            token_burst: limits.token.burst,
            unauthenticated_requests_per_second: limits.address.per_second,
            unauthenticated_burst: limits.address.burst,
            refused_token_cache_secs: limits.refused_token_ttl.as_secs(),
            client_address_header: None,
            heavy_request_slots: limits.heavy_slots,
            heavy_request_cost: limits.heavy_cost,
            hold_ignored_retry_after_secs: limits.hold_ignored_retry_after.as_secs(),
            tls_cert_file: None,
            tls_key_file: None,
            core_ca_file: None,
            core_client_cert_file: None,
            core_client_key_file: None,
            tls_reload_interval_secs: identity_runtime::tls::DEFAULT_RELOAD_INTERVAL.as_secs(),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: SocketAddr,
    /// `http://host:port` or `https://host:port` of identity-core.
    pub core_endpoint: String,
    /// The credential the edge presents to identity.v1 (never logged); `None` when it presents
    /// a client certificate instead.
    pub core_credential: Option<CoreCredential>,
    /// The CA to trust and the client certificate to present on an `https://` core endpoint.
    pub core_tls: identity_proto::tls::ClientTls,
    /// HTTPS on the listener (certificate files reloaded when they change); `None` is HTTP.
    pub listener_tls: Option<identity_runtime::tls::ServerTlsFiles>,
    /// The base URL as configured; `None` derives it from the bound address.
    pub base_url: Option<String>,
    pub token_cache_ttl: Duration,
    pub token_cache_capacity: u64,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub shutdown_grace: Duration,
    /// Rate and concurrency limits (0 in a rate: unlimited).
    pub throttle: crate::throttle::Limits,
    /// The header naming the client's address when a proxy in front of the edge sets it (its
    /// right-most entry is used); `None` uses the connection's peer address.
    pub client_address_header: Option<http::HeaderName>,
}

/// The edge's identity.v1 credential; `Debug` never shows it.
pub type CoreCredential = identity_runtime::Secret;

/// The credential given inline or in a file (inline wins); every problem goes to `problems`.
fn core_credential(
    raw: &RawConfig,
    has_client_certificate: bool,
    problems: &mut Vec<String>,
) -> Option<CoreCredential> {
    let inline = raw
        .core_credential
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let value = match (inline, &raw.core_credential_file) {
        (Some(value), _) => value.to_owned(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => text.trim().to_owned(),
            Err(error) => {
                problems.push(format!("core_credential_file {}: {error}", path.display()));
                return None;
            }
        },
        (None, None) if has_client_certificate => return None,
        (None, None) => {
            problems.push(
                "core_credential (or core_credential_file) is required: the identity.v1 \
                 credential identity-core was given as its edge_credential (or, over mutual \
                 TLS, core_client_cert_file and core_client_key_file)"
                    .to_owned(),
            );
            return None;
        }
    };
    if value.len() < 16 {
        problems.push("core_credential must be at least 16 characters".to_owned());
        return None;
    }
    Some(CoreCredential::new(value))
}

/// A certificate and its key, both given or neither.
fn pair(
    cert_key: &str,
    cert: &Option<PathBuf>,
    key_key: &str,
    key: &Option<PathBuf>,
    problems: &mut Vec<String>,
) -> Option<identity_proto::tls::CertificateFiles> {
    match (cert, key) {
        (Some(cert), Some(key)) => Some(identity_proto::tls::CertificateFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => {
            problems.push(format!("{cert_key} and {key_key} must be set together"));
            None
        }
    }
}

/// Every problem found while loading, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Loads flags > environment (`env`, e.g. `std::env::vars()`) > file > defaults.
    pub fn load(
        flags: &Flags,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let file = flags.config.clone().or_else(|| {
            env.iter()
                .find(|(key, _)| key == "SCIM_EDGE_CONFIG")
                .map(|(_, value)| PathBuf::from(value))
        });
        let mut problems = Vec::new();
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(file) = &file {
            if !file.is_file() {
                problems.push(format!("config file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        // figment's Env reads the process environment; the pairs are handed over as a
        // serialized map instead so that tests control them
        let env_map: std::collections::BTreeMap<String, String> = env
            .iter()
            .filter_map(|(key, value)| {
                let key = key.strip_prefix("SCIM_EDGE_")?.to_ascii_lowercase();
                (key != "config").then(|| (key, value.clone()))
            })
            .collect();
        figment = figment
            .merge(env_provider(env_map))
            .merge(Serialized::defaults(flags));
        // field by field, so that every malformed value is reported, not only the first
        let raw = extract_all(&figment, &mut problems);
        match Self::from_raw(raw) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError(problems)),
            Err(ConfigError(more)) => {
                problems.extend(more);
                Err(ConfigError(problems))
            }
        }
    }

    fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let listen_addr = raw
            .listen_addr
            .parse::<SocketAddr>()
            .map_err(|error| {
                problems.push(format!(
                    "listen_addr {:?} is not host:port: {error}",
                    raw.listen_addr
                ))
            })
            .ok();
        let reload_interval = Duration::from_secs(raw.tls_reload_interval_secs.max(1));
        let core_tls = identity_proto::tls::ClientTls {
            ca_file: raw.core_ca_file.clone(),
            identity: pair(
                "core_client_cert_file",
                &raw.core_client_cert_file,
                "core_client_key_file",
                &raw.core_client_key_file,
                &mut problems,
            ),
            reload_interval: Some(reload_interval),
            server_name: None,
        };
        let core_credential = core_credential(&raw, core_tls.identity.is_some(), &mut problems);
        let core_endpoint = raw.core_endpoint.trim_end_matches('/').to_owned();
        if tonic::transport::Endpoint::from_shared(core_endpoint.clone()).is_err()
            || !(core_endpoint.starts_with("http://") || core_endpoint.starts_with("https://"))
        {
            problems.push(format!(
                "core_endpoint {:?} is not an http(s) url",
                raw.core_endpoint
            ));
        } else if let Err(error) = identity_proto::tls::CoreEndpoint::new(&core_endpoint, &core_tls)
        {
            problems.push(format!("core_endpoint: {error}"));
        }
        let listener_tls = pair(
            "tls_cert_file",
            &raw.tls_cert_file,
            "tls_key_file",
            &raw.tls_key_file,
            &mut problems,
        )
        .map(|identity| identity_runtime::tls::ServerTlsFiles {
            identity,
            client_ca: None,
            client_certificate_required: false,
            reload_interval,
        });
        if let Some(files) = &listener_tls
            && let Err(error) =
                identity_runtime::tls::ServerTls::load(files, identity_runtime::tls::ALPN_HTTP)
        {
            problems.push(format!("listener TLS: {error}"));
        }
        let base_url = raw
            .base_url
            .filter(|url| !url.trim().is_empty())
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_owned();
                match url.parse::<http::Uri>() {
                    Ok(uri) if uri.scheme().is_some() && uri.authority().is_some() => {}
                    _ => problems.push(format!("base_url {url:?} is not an absolute url")),
                }
                url
            });
        if raw.max_body_bytes < 1024 {
            problems.push(format!(
                "max_body_bytes {} is below the minimum of 1024",
                raw.max_body_bytes
            ));
        }
        // every body becomes one gRPC message to the core (with some overhead)
        if raw.max_body_bytes > identity_proto::LIST_RESPONSE_BUDGET {
            problems.push(format!(
                "max_body_bytes {} is above the maximum of {} (half the largest gRPC message)",
                raw.max_body_bytes,
                identity_proto::LIST_RESPONSE_BUDGET
            ));
        }
        if raw.request_timeout_secs == 0 {
            problems.push("request_timeout_secs must be at least 1".to_owned());
        }
        if raw.max_concurrent_requests == 0 {
            problems.push("max_concurrent_requests must be at least 1".to_owned());
        }
        let client_address_header = raw
            .client_address_header
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .and_then(|name| match http::HeaderName::try_from(name) {
                Ok(name) => Some(name),
                Err(_) => {
                    problems.push(format!(
                        "client_address_header {name:?} is not a header name"
                    ));
                    None
                }
            });
        let throttle = crate::throttle::Limits {
            organization: crate::throttle::Rate {
                per_second: raw.org_requests_per_second,
                burst: raw.org_burst,
            },
            token: crate::throttle::Rate {
                per_second: raw.token_requests_per_second,
                burst: raw.token_burst,
            },
            organization_concurrency: raw.org_max_concurrent_requests,
            address: crate::throttle::Rate {
                per_second: raw.unauthenticated_requests_per_second,
                burst: raw.unauthenticated_burst,
            },
            refused_token_ttl: Duration::from_secs(raw.refused_token_cache_secs),
            heavy_slots: raw.heavy_request_slots,
            heavy_cost: raw.heavy_request_cost,
            hold_ignored_retry_after: Duration::from_secs(raw.hold_ignored_retry_after_secs),
        };
        match listen_addr {
            Some(listen_addr) if problems.is_empty() => Ok(Self {
                listen_addr,
                core_endpoint,
                core_credential,
                core_tls,
                listener_tls,
                base_url,
                token_cache_ttl: Duration::from_secs(raw.token_cache_ttl_secs),
                token_cache_capacity: raw.token_cache_capacity.max(1),
                max_body_bytes: raw.max_body_bytes,
                request_timeout: Duration::from_secs(raw.request_timeout_secs),
                connect_timeout: Duration::from_secs(raw.connect_timeout_secs.max(1)),
                max_concurrent_requests: raw.max_concurrent_requests,
                shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
                throttle,
                client_address_header,
            }),
            _ => Err(ConfigError(problems)),
        }
    }

    /// The SCIM base URL: the configured one, or `http(s)://<bound address>/scim/v2`.
    pub fn base_url_for(&self, bound: SocketAddr) -> String {
        let scheme = if self.listener_tls.is_some() {
            "https"
        } else {
            "http"
        };
        self.base_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{bound}/scim/v2"))
    }

    /// The limits the HTTP layer enforces and `/ServiceProviderConfig` advertises.
    pub fn limits(&self) -> Limits {
        Limits {
            max_payload_size: self.max_body_bytes,
            ..Limits::default()
        }
    }
}

/// Extracts every key on its own, so that every malformed value is reported; a key that fails
/// keeps its default so the remaining values are still validated.
fn extract_all(figment: &Figment, problems: &mut Vec<String>) -> RawConfig {
    fn field<T: serde::de::DeserializeOwned>(
        figment: &Figment,
        key: &str,
        default: T,
        problems: &mut Vec<String>,
    ) -> T {
        match figment.extract_inner::<T>(key) {
            Ok(value) => value,
            Err(errors) => {
                problems.extend(errors.into_iter().map(|error| error.to_string()));
                default
            }
        }
    }
    let defaults = RawConfig::default();
    RawConfig {
        listen_addr: field(figment, "listen_addr", defaults.listen_addr, problems),
        core_endpoint: field(figment, "core_endpoint", defaults.core_endpoint, problems),
        core_credential: if figment.contains("core_credential") {
            field(figment, "core_credential", None, problems)
        } else {
            None
        },
        core_credential_file: if figment.contains("core_credential_file") {
            field(figment, "core_credential_file", None, problems)
        } else {
            None
        },
        base_url: if figment.contains("base_url") {
            field(figment, "base_url", None, problems)
        } else {
            None
        },
        token_cache_ttl_secs: field(
            figment,
            "token_cache_ttl_secs",
            defaults.token_cache_ttl_secs,
            problems,
        ),
        max_body_bytes: field(figment, "max_body_bytes", defaults.max_body_bytes, problems),
        request_timeout_secs: field(
            figment,
            "request_timeout_secs",
            defaults.request_timeout_secs,
            problems,
        ),
        connect_timeout_secs: field(
            figment,
            "connect_timeout_secs",
            defaults.connect_timeout_secs,
            problems,
        ),
        max_concurrent_requests: field(
            figment,
            "max_concurrent_requests",
            defaults.max_concurrent_requests,
            problems,
        ),
        shutdown_grace_secs: field(
            figment,
            "shutdown_grace_secs",
            defaults.shutdown_grace_secs,
            problems,
        ),
        token_cache_capacity: field(
            figment,
            "token_cache_capacity",
            defaults.token_cache_capacity,
            problems,
        ),
        org_requests_per_second: field(
            figment,
            "org_requests_per_second",
            defaults.org_requests_per_second,
            problems,
        ),
        org_burst: field(figment, "org_burst", defaults.org_burst, problems),
        org_max_concurrent_requests: field(
            figment,
            "org_max_concurrent_requests",
            defaults.org_max_concurrent_requests,
            problems,
        ),
        token_requests_per_second: field(
            figment,
            "token_requests_per_second",
            defaults.token_requests_per_second,
            problems,
        ),
        token_burst: field(figment, "token_burst", defaults.token_burst, problems),
        unauthenticated_requests_per_second: field(
            figment,
            "unauthenticated_requests_per_second",
            defaults.unauthenticated_requests_per_second,
            problems,
        ),
        heavy_request_slots: field(
            figment,
            "heavy_request_slots",
            defaults.heavy_request_slots,
            problems,
        ),
        heavy_request_cost: field(
            figment,
            "heavy_request_cost",
            defaults.heavy_request_cost,
            problems,
        ),
        hold_ignored_retry_after_secs: field(
            figment,
            "hold_ignored_retry_after_secs",
            defaults.hold_ignored_retry_after_secs,
            problems,
        ),
        unauthenticated_burst: field(
            figment,
            "unauthenticated_burst",
            defaults.unauthenticated_burst,
            problems,
        ),
        refused_token_cache_secs: field(
            figment,
            "refused_token_cache_secs",
            defaults.refused_token_cache_secs,
            problems,
        ),
        client_address_header: if figment.contains("client_address_header") {
            field(figment, "client_address_header", None, problems)
        } else {
            None
        },
        tls_cert_file: optional(figment, "tls_cert_file", problems),
        tls_key_file: optional(figment, "tls_key_file", problems),
        core_ca_file: optional(figment, "core_ca_file", problems),
        core_client_cert_file: optional(figment, "core_client_cert_file", problems),
        core_client_key_file: optional(figment, "core_client_key_file", problems),
        tls_reload_interval_secs: field(
            figment,
            "tls_reload_interval_secs",
            defaults.tls_reload_interval_secs,
            problems,
        ),
    }
}

/// A key without a default: `None` when absent, a problem when malformed.
fn optional<T: serde::de::DeserializeOwned>(
    figment: &Figment,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    if !figment.contains(key) {
        return None;
    }
    match figment.extract_inner::<Option<T>>(key) {
        Ok(value) => value,
        Err(errors) => {
            problems.extend(errors.into_iter().map(|error| error.to_string()));
            None
        }
    }
}

/// The environment pairs as a figment provider; values are parsed like figment's `Env` does
/// (so `"30"` is an integer and `"true"` a boolean).
fn env_provider(map: std::collections::BTreeMap<String, String>) -> impl figment::Provider {
    use figment::value::{Dict, Map, Value};
    struct Pairs(std::collections::BTreeMap<String, String>);
    impl figment::Provider for Pairs {
        fn metadata(&self) -> figment::Metadata {
            figment::Metadata::named("SCIM_EDGE_* environment variable")
        }
        fn data(&self) -> Result<Map<figment::Profile, Dict>, figment::Error> {
            let dict: Dict = self
                .0
                .iter()
                .map(|(key, value)| {
                    let parsed = value
                        .parse::<Value>()
                        .unwrap_or_else(|_| Value::from(value.clone()));
                    // a base URL or address must stay a string even if it looks like a number
                    let parsed = match key.as_str() {
                        "listen_addr"
                        | "core_endpoint"
                        | "base_url"
                        | "core_credential"
                        | "core_credential_file"
                        | "tls_cert_file"
                        | "tls_key_file"
                        | "core_ca_file"
                        | "core_client_cert_file"
                        | "core_client_key_file" => Value::from(value.clone()),
                        _ => parsed,
                    };
                    (key.clone(), parsed)
                })
                .collect();
            Ok(figment::Profile::Default.collect(dict))
        }
    }
    Pairs(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIAL: (&str, &str) = ("SCIM_EDGE_CORE_CREDENTIAL", "edge-credential-for-tests");

    /// The pairs plus a core credential (required by every valid configuration).
    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .chain([&CREDENTIAL])
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::load(&Flags::default(), env(&[])).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.core_endpoint, "http://127.0.0.1:50051");
        assert_eq!(
            config.core_credential.as_ref().unwrap().expose(),
            CREDENTIAL.1
        );
        assert!(!format!("{config:?}").contains(CREDENTIAL.1));
        assert_eq!(config.token_cache_ttl, Duration::from_secs(30));
        assert_eq!(config.max_body_bytes, 4_194_304);
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(
            config.base_url_for("127.0.0.1:4000".parse().unwrap()),
            "http://127.0.0.1:4000/scim/v2"
        );
    }

    #[test]
    fn tls_settings_are_checked_before_start() {
        let err = Config::load(
            &Flags::default(),
            env(&[
                ("SCIM_EDGE_CORE_CA_FILE", "/nonexistent/ca.pem"),
                ("SCIM_EDGE_CORE_CLIENT_CERT_FILE", "/nonexistent/client.pem"),
                ("SCIM_EDGE_TLS_CERT_FILE", "/nonexistent/edge.pem"),
                ("SCIM_EDGE_TLS_KEY_FILE", "/nonexistent/edge.key"),
            ]),
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "core_client_cert_file and core_client_key_file must be set together",
            "use an https:// endpoint",
            "listener TLS: /nonexistent/edge.pem",
        ] {
            assert!(err.contains(expected), "{expected} missing from: {err}");
        }
        let err = Config::load(
            &Flags::default(),
            env(&[
                ("SCIM_EDGE_CORE_ENDPOINT", "https://core.internal:50051"),
                ("SCIM_EDGE_CORE_CA_FILE", "/nonexistent/ca.pem"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("core_endpoint: /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = std::env::temp_dir().join(format!("scim-edge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("edge.toml");
        std::fs::write(
            &file,
            "token_cache_ttl_secs = 7\nmax_body_bytes = 2048\nrequest_timeout_secs = 9\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(file.clone()),
            request_timeout_secs: Some(3),
            ..Flags::default()
        };
        let config = Config::load(
            &flags,
            env(&[
                ("SCIM_EDGE_MAX_BODY_BYTES", "4096"),
                ("SCIM_EDGE_REQUEST_TIMEOUT_SECS", "11"),
                ("SCIM_EDGE_BASE_URL", "https://idp.example.com/scim/v2/"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.token_cache_ttl, Duration::from_secs(7)); // file
        assert_eq!(config.max_body_bytes, 4096); // env over file
        assert_eq!(config.request_timeout, Duration::from_secs(3)); // flag over env
        assert_eq!(
            config.base_url.as_deref(),
            Some("https://idp.example.com/scim/v2")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let flags = Flags {
            listen_addr: Some("nope".to_owned()),
            core_endpoint: Some("ftp://x".to_owned()),
            base_url: Some("relative/path".to_owned()),
            ..Flags::default()
        };
        let error = Config::load(&flags, env(&[])).unwrap_err();
        assert_eq!(error.0.len(), 3, "{error}");

        let error = Config::load(
            &Flags {
                listen_addr: Some("nope".to_owned()),
                ..Flags::default()
            },
            env(&[
                ("SCIM_EDGE_MAX_BODY_BYTES", "lots"),
                ("SCIM_EDGE_TOKEN_CACHE_TTL_SECS", "-1"),
            ]),
        )
        .unwrap_err();
        assert_eq!(error.0.len(), 3, "{error}");
    }

    #[test]
    fn the_core_credential_is_required_and_may_come_from_a_file() {
        let error = Config::load(&Flags::default(), Vec::new()).unwrap_err();
        assert!(error.to_string().contains("core_credential"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credential");
        std::fs::write(&file, "file-held-edge-credential\n").unwrap();
        let flags = Flags {
            core_credential_file: Some(file),
            ..Flags::default()
        };
        let config = Config::load(&flags, Vec::new()).unwrap();
        assert_eq!(
            config.core_credential.as_ref().unwrap().expose(),
            "file-held-edge-credential"
        );

        let missing = Flags {
            core_credential_file: Some(dir.path().join("absent")),
            listen_addr: Some("nope".to_owned()),
            ..Flags::default()
        };
        let error = Config::load(&missing, Vec::new()).unwrap_err();
        assert_eq!(error.0.len(), 2, "{error}");
    }

    /// The operations guide's reference table cannot drift from the code.
    #[test]
    fn every_setting_is_documented() {
        use clap::CommandFactory;
        let guide = include_str!("../../docs/operations.md");
        let settings = serde_json::to_value(RawConfig::default()).unwrap();
        for key in settings.as_object().unwrap().keys() {
            let variable = format!("`SCIM_EDGE_{}`", key.to_uppercase());
            assert!(
                guide.contains(&variable),
                "{variable} is not in docs/operations.md"
            );
        }
        assert!(guide.contains("`SCIM_EDGE_CONFIG`"));
        for long in Flags::command()
            .get_arguments()
            .filter_map(|arg| arg.get_long())
        {
            let flag = format!("`--{long}`");
            assert!(guide.contains(&flag), "{flag} is not in docs/operations.md");
        }
    }
}
