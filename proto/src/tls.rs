//! TLS for the clients of identity-core (the SCIM edge, the admin CLI, platform services) and
//! the pieces its listeners share: PEM files, certificate files re-read when they change, and
//! the names a certificate was issued to.
//!
//! An `https://` endpoint is reached over rustls (ring provider, TLS 1.2 and 1.3, ALPN `h2`),
//! trusting the CA file given or else the system's roots; with a client certificate it is
//! mutual TLS. Why not tonic's own `ClientTlsConfig`: it reads the certificate once, and a client
//! certificate that cert-manager rotates, or a CA it renews, must be picked up by a running process.
//! [`Reloading`] re-reads files whose modification time or size changed, at most once per
//! interval, and keeps the last good value (with a log line) when the new files do not load.

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

/// How often certificate files are checked for changes unless told otherwise.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// TLS settings that cannot be used: a missing or unreadable file, no certificate in it, a key
/// that does not match, an `https` setting on an `http://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSetupError(pub String);

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsSetupError {}

fn setup_error(path: &Path, what: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError(format!("{}: {what}", path.display()))
}

/// The one crypto provider of every TLS hop. Named explicitly: several providers are compiled
/// into the binaries (through their dependencies), so rustls cannot pick a process default.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (a chain: the leaf first).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| setup_error(path, error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| setup_error(path, error))?;
    if certificates.is_empty() {
        return Err(setup_error(path, "holds no PEM certificate"));
    }
    Ok(certificates)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| setup_error(path, error))
}

/// The trust anchors of a PEM file of CA certificates.
pub fn read_roots(path: &Path) -> Result<rustls::RootCertStore, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|error| setup_error(path, format!("not a usable CA certificate: {error}")))?;
    }
    Ok(roots)
}

/// A certificate chain and its private key, as PEM files (what cert-manager writes as
/// `tls.crt` and `tls.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertificateFiles {
    /// Reads both files and checks the key belongs to the certificate.
    pub fn load(&self) -> Result<CertifiedKey, TlsSetupError> {
        let chain = read_certificates(&self.cert)?;
        let key = read_private_key(&self.key)?;
        CertifiedKey::from_der(chain, key, &crypto_provider()).map_err(|error| {
            TlsSetupError(format!(
                "{} and {}: {error}",
                self.cert.display(),
                self.key.display()
            ))
        })
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.cert.clone(), self.key.clone()]
    }
}

/// A value loaded from files and loaded again when they change (see the module documentation).
pub struct Reloading<T> {
    paths: Vec<PathBuf>,
    load: Box<dyn Fn() -> Result<T, TlsSetupError> + Send + Sync>,
    interval: Duration,
    state: Mutex<ReloadState<T>>,
}

struct ReloadState<T> {
    value: Arc<T>,
    stamps: Vec<Option<(SystemTime, u64)>>,
    checked: Instant,
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("paths", &self.paths)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    // metadata follows symlinks: a Kubernetes secret volume swaps a `..data` link on update
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

impl<T> Reloading<T> {
    /// Loads now (failing as `load` fails) and again whenever one of `paths` changes.
    pub fn new(
        paths: Vec<PathBuf>,
        interval: Duration,
        load: impl Fn() -> Result<T, TlsSetupError> + Send + Sync + 'static,
    ) -> Result<Self, TlsSetupError> {
        let stamps = paths.iter().map(|path| stamp(path)).collect();
        let value = Arc::new(load()?);
        Ok(Self {
            paths,
            load: Box::new(load),
            interval,
            state: Mutex::new(ReloadState {
                value,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The current value, re-read first when the interval has passed and a file changed.
    pub fn get(&self) -> Arc<T> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if state.checked.elapsed() >= self.interval {
            state.checked = Instant::now();
            let stamps: Vec<_> = self.paths.iter().map(|path| stamp(path)).collect();
            if stamps != state.stamps {
                match (self.load)() {
                    Ok(value) => {
                        tracing::info!(files = ?self.paths, "TLS files changed, reloaded");
                        state.value = Arc::new(value);
                        state.stamps = stamps;
                    }
                    // a half-written rotation: keep serving with the old files, try again later
                    Err(error) => {
                        tracing::warn!(%error, "TLS files changed but cannot be loaded; keeping the previous ones")
                    }
                }
            }
        }
        Arc::clone(&state.value)
    }
}

/// The names a certificate was issued to: its DNS subject alternative names or, when it has
/// none, its subject's common name. Empty for a certificate that cannot be parsed.
pub fn certificate_names(certificate: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok((_, parsed)) = X509Certificate::from_der(certificate.as_ref()) else {
        return Vec::new();
    };
    let dns: Vec<String> = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !dns.is_empty() {
        return dns;
    }
    parsed
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect()
}

/// How a client reaches an `https://` core: the CA to trust (the system's roots without one)
/// and, for mutual TLS, the certificate to present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub ca_file: Option<PathBuf>,
    pub identity: Option<CertificateFiles>,
    /// How often the CA and client certificate files are checked for changes.
    pub reload_interval: Option<Duration>,
    /// The name the server's certificate must carry, when it is not the endpoint's host (a
    /// `kubectl port-forward` to 127.0.0.1, an address instead of a name).
    pub server_name: Option<String>,
}

impl ClientTls {
    /// True when nothing is set (an `http://` endpoint needs exactly that).
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.identity.is_none() && self.server_name.is_none()
    }

    /// [`Self::client_config`], built again when the CA file changes (cert-manager renews a CA
    /// too): each new connection trusts the file as it is then, open connections keep theirs.
    pub fn reloading_client_config(
        &self,
    ) -> Result<Arc<Reloading<rustls::ClientConfig>>, TlsSetupError> {
        let interval = self.reload_interval.unwrap_or(DEFAULT_RELOAD_INTERVAL);
        let settings = self.clone();
        let reloading = Reloading::new(
            self.ca_file.iter().cloned().collect(),
            interval,
            move || settings.client_config(),
        )?;
        Ok(Arc::new(reloading))
    }

    /// The rustls client configuration: HTTP/2 by ALPN, the trusted roots, the reloading
    /// client certificate.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsSetupError> {
        let roots = match &self.ca_file {
            Some(path) => read_roots(path)?,
            None => {
                let found = rustls_native_certs::load_native_certs();
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(TlsSetupError(
                        "no CA file given and the system has no trusted roots".to_owned(),
                    ));
                }
                roots
            }
        };
        let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsSetupError(error.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some(files) => {
                let interval = self.reload_interval.unwrap_or(DEFAULT_RELOAD_INTERVAL);
                let loader = files.clone();
                let key = Reloading::new(files.paths(), interval, move || loader.load())?;
                builder.with_client_cert_resolver(Arc::new(ReloadingClientCert(key)))
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

#[derive(Debug)]
struct ReloadingClientCert(Reloading<CertifiedKey>);

impl ResolvesClientCert for ReloadingClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A tonic connector that opens TCP and then TLS to the endpoint's host (see [`CoreEndpoint`]).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<Reloading<rustls::ClientConfig>>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TlsIo = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl tonic::codegen::Service<Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.config.get();
        let configured_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("the endpoint has no host")?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let server_name = match configured_name {
                Some(name) => name,
                None => ServerName::try_from(host.clone())?,
            };
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await?;
            Ok(hyper_util::rt::TokioIo::new(tls))
        })
    }
}

/// A core address with its TLS settings, ready to open channels. `https://` connects over TLS
/// through [`TlsConnector`]; `http://` is plaintext and refuses TLS settings (a CA file on a
/// plaintext endpoint is a configuration mistake, not something to ignore).
#[derive(Debug, Clone)]
pub struct CoreEndpoint {
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
}

impl CoreEndpoint {
    /// Checks the address and loads the TLS files.
    pub fn new(uri: &str, tls: &ClientTls) -> Result<Self, TlsSetupError> {
        let invalid = |error: tonic::transport::Error| {
            TlsSetupError(format!("{uri:?} is not a valid endpoint: {error}"))
        };
        let parsed: Uri = uri
            .parse()
            .map_err(|_| TlsSetupError(format!("{uri:?} is not a valid URI")))?;
        match parsed.scheme_str() {
            Some("https") => {
                let server_name = tls
                    .server_name
                    .as_deref()
                    .map(|name| {
                        ServerName::try_from(name.to_owned()).map_err(|_| {
                            TlsSetupError(format!("{name:?} is not a DNS name or an IP address"))
                        })
                    })
                    .transpose()?;
                let config = tls.reloading_client_config()?;
                // tonic's own connector refuses `https` without its TLS settings, so it is
                // handed the `http` form of the address and our connector does the TLS; the
                // requests still carry the `https` origin
                let plain = format!("http{}", uri.strip_prefix("https").unwrap_or(uri));
                Ok(Self {
                    endpoint: Endpoint::from_shared(plain)
                        .map_err(invalid)?
                        .origin(parsed),
                    tls: Some(TlsConnector {
                        config,
                        server_name,
                    }),
                })
            }
            Some("http") if tls.is_empty() => Ok(Self {
                endpoint: Endpoint::from_shared(uri.to_owned()).map_err(invalid)?,
                tls: None,
            }),
            Some("http") => Err(TlsSetupError(format!(
                "{uri} is plaintext but TLS settings (a CA file, a client certificate or a \
                 server name) are given: use an https:// endpoint"
            ))),
            _ => Err(TlsSetupError(format!(
                "{uri:?} is not an http:// or https:// URI"
            ))),
        }
    }

    /// Adjusts the channel settings (timeouts, keepalive).
    pub fn configure(mut self, settings: impl FnOnce(Endpoint) -> Endpoint) -> Self {
        self.endpoint = settings(self.endpoint);
        self
    }

    /// True when the channel is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A channel that connects on first use.
    pub fn connect_lazy(&self) -> Channel {
        match &self.tls {
            Some(connector) => self.endpoint.connect_with_connector_lazy(connector.clone()),
            None => self.endpoint.connect_lazy(),
        }
    }

    /// A channel connected now.
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        match &self.tls {
            Some(connector) => {
                self.endpoint
                    .connect_with_connector(connector.clone())
                    .await
            }
            None => self.endpoint.connect().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn issue(names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn names_are_the_dns_alternative_names() {
        let (pem, _) = issue(&["billing", "billing.internal", "10.0.0.1"]);
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(certificate_names(&der), ["billing", "billing.internal"]);
        assert!(certificate_names(&CertificateDer::from(vec![1, 2, 3])).is_empty());
    }

    #[test]
    fn changed_files_are_reloaded_and_broken_ones_keep_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let files = CertificateFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        };
        let write = |(cert, key): (String, String)| {
            std::fs::write(&files.cert, cert).unwrap();
            std::fs::write(&files.key, key).unwrap();
        };
        write(issue(&["first"]));
        let loader = files.clone();
        let reloading = Reloading::new(
            vec![files.cert.clone(), files.key.clone()],
            Duration::ZERO,
            move || loader.load(),
        )
        .unwrap();
        let names = |key: &CertifiedKey| certificate_names(key.end_entity_cert().unwrap());
        assert_eq!(names(&reloading.get()), ["first"]);

        write(issue(&["second", "second.internal"]));
        assert_eq!(names(&reloading.get()), ["second", "second.internal"]);

        // a key that does not match its certificate (a rotation caught half-way)
        let (cert, _) = issue(&["third"]);
        let (_, other_key) = issue(&["other"]);
        write((cert, other_key));
        assert_eq!(names(&reloading.get()), ["second", "second.internal"]);

        std::fs::remove_file(&files.key).unwrap();
        assert!(files.load().unwrap_err().0.contains("tls.key"));
    }

    #[tokio::test]
    async fn a_changed_ca_file_is_trusted_by_the_next_connection() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let (server_cert, server_key) = issue(&["core.internal"]);
        let server_files = CertificateFiles {
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
        };
        std::fs::write(&server_files.cert, &server_cert).unwrap();
        std::fs::write(&server_files.key, &server_key).unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                server_files.load().unwrap(),
            )));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move { acceptor.accept(tcp).await });
            }
        });

        // the client trusts another CA at first
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, issue(&["someone.else"]).0).unwrap();
        let tls = ClientTls {
            ca_file: Some(ca_file.clone()),
            reload_interval: Some(Duration::ZERO),
            server_name: Some("core.internal".into()),
            ..ClientTls::default()
        };
        let endpoint = CoreEndpoint::new(&format!("https://127.0.0.1:{port}"), &tls).unwrap();
        let mut connector = endpoint.tls.clone().unwrap();
        let uri: Uri = format!("http://127.0.0.1:{port}").parse().unwrap();
        let refused = tonic::codegen::Service::call(&mut connector, uri.clone())
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("invalid peer certificate"),
            "{refused}"
        );

        // the CA file now holds the server's issuer: no restart needed
        std::fs::write(&ca_file, &server_cert).unwrap();
        tonic::codegen::Service::call(&mut connector, uri)
            .await
            .unwrap();
    }

    #[test]
    fn tls_settings_need_an_https_endpoint() {
        let tls = ClientTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientTls::default()
        };
        let plaintext = CoreEndpoint::new("http://core:50051", &tls).unwrap_err();
        assert!(
            plaintext.0.contains("use an https:// endpoint"),
            "{plaintext}"
        );
        let missing = CoreEndpoint::new("https://core:50051", &tls).unwrap_err();
        assert!(missing.0.contains("/nonexistent/ca.pem"), "{missing}");
        assert!(
            !CoreEndpoint::new("http://core:50051", &ClientTls::default())
                .unwrap()
                .is_tls()
        );
        let named = ClientTls {
            server_name: Some("not a name".into()),
            ..ClientTls::default()
        };
        let bad_name = CoreEndpoint::new("https://127.0.0.1:50051", &named).unwrap_err();
        assert!(bad_name.0.contains("not a name"), "{bad_name}");
    }
}
