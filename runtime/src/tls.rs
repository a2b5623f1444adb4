//! TLS on the listeners (the edge's HTTPS, the core's two gRPC ports), with rustls.
//!
//! [`ServerTls`] is the listener's configuration, rebuilt from its files when they change
//! (cert-manager rotates them): every new connection takes the current one, so a rotation
//! needs no restart and open connections keep theirs. With a client CA, the listener asks for
//! a client certificate and verifies it against that CA: optionally (callers may still present
//! a bearer credential instead) or as a requirement.
//!
//! [`TlsListener`] accepts TCP connections and completes their handshakes concurrently, off the
//! accept loop, each within [`HANDSHAKE_TIMEOUT`]. A refused handshake (wrong, expired or
//! missing certificate, a client that distrusts ours) is dropped with a log line saying why.

use identity_proto::tls::{
    CertificateFiles, Reloading, TlsSetupError, crypto_provider, read_roots,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::server::TlsStream;

pub use identity_proto::tls::{DEFAULT_RELOAD_INTERVAL, certificate_names};

/// How long a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's backlog.
const MAX_CONCURRENT_HANDSHAKES: usize = 512;

/// ALPN for a gRPC listener.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN for an HTTP listener that speaks both versions.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// What a TLS listener is configured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The listener's certificate chain and key.
    pub identity: CertificateFiles,
    /// CA certificates that client certificates are verified against; none asks for none.
    pub client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate (only with `client_ca`).
    pub client_certificate_required: bool,
    /// How often the files are checked for changes.
    pub reload_interval: Duration,
}

/// A listener's TLS configuration, reloaded when its files change (see the module docs).
#[derive(Debug)]
pub struct ServerTls(Reloading<rustls::ServerConfig>);

impl ServerTls {
    /// Loads the files now, failing with what is wrong with them.
    pub fn load(
        files: &ServerTlsFiles,
        alpn: &'static [&'static [u8]],
    ) -> Result<Self, TlsSetupError> {
        let mut paths = vec![files.identity.cert.clone(), files.identity.key.clone()];
        paths.extend(files.client_ca.clone());
        let files = files.clone();
        Reloading::new(paths, files.reload_interval, move || {
            server_config(&files, alpn)
        })
        .map(Self)
    }

    /// The configuration for a new connection.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.0.get()
    }
}

fn server_config(
    files: &ServerTlsFiles,
    alpn: &[&[u8]],
) -> Result<rustls::ServerConfig, TlsSetupError> {
    let builder = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsSetupError(error.to_string()))?;
    let builder = match &files.client_ca {
        Some(path) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(read_roots(path)?),
                crypto_provider(),
            );
            let verifier = if files.client_certificate_required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|error| TlsSetupError(format!("{}: {error}", path.display())))?,
            )
        }
        None => builder.with_no_client_auth(),
    };
    let key = files.identity.load()?;
    let mut config =
        builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(config)
}

/// A server-side TLS connection and the names of the client certificate it presented, read
/// once at the handshake: the calls on the connection find them in their request extensions
/// (as [`ClientCertificate`], through tonic's `Connected`) instead of parsing the certificate
/// again for every call.
#[derive(Debug)]
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    client: ClientCertificate,
}

/// The names (DNS SANs, else the common name) of the verified client certificate of a
/// connection; `None` when it presented none.
#[derive(Debug, Clone, Default)]
pub struct ClientCertificate(pub Option<Arc<[String]>>);

impl TlsConnection {
    fn new(stream: TlsStream<TcpStream>) -> Self {
        let names = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(certificate_names)
            .filter(|names| !names.is_empty());
        Self {
            stream,
            client: ClientCertificate(names.map(Arc::from)),
        }
    }
}

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = ClientCertificate;

    fn connect_info(&self) -> ClientCertificate {
        self.client.clone()
    }
}

impl tokio::io::AsyncRead for TlsConnection {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsConnection {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A TCP listener whose connections come out with their TLS handshake done (see the module
/// docs). Dropping it stops accepting.
#[derive(Debug)]
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsConnection, SocketAddr)>,
    local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsListener {
    /// Serves TLS on `listener`; `name` says which listener in log lines.
    pub fn new(
        listener: TcpListener,
        tls: Arc<ServerTls>,
        name: &'static str,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, accepted) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(listener, tls, sender, name));
        Ok(Self {
            accepted,
            local_addr,
            task,
        })
    }

    /// The next connection whose handshake succeeded; `None` once accepting has stopped.
    pub async fn accept(&mut self) -> Option<(TlsConnection, SocketAddr)> {
        self.accepted.recv().await
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The connections as a stream, for `tonic`'s `serve_with_incoming`.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<TlsConnection, std::io::Error>> {
        futures::stream::unfold(self, |mut listener| async move {
            let (stream, _) = listener.accept().await?;
            Some((Ok(stream), listener))
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    accepted: mpsc::Sender<(TlsConnection, SocketAddr)>,
    name: &'static str,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES));
    loop {
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(error) => {
                // out of file descriptors and the like: wait instead of spinning
                tracing::warn!(listener = name, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if accepted.is_closed() {
            return;
        }
        // TCP_NODELAY: a response in several segments must not wait for the client's delayed ACK
        let _ = tcp.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = accepted.send((TlsConnection::new(stream), peer)).await;
                }
                // a TCP probe or port scan that closes without a ClientHello is not news
                Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                    tracing::debug!(listener = name, %peer, %error, "connection closed before TLS");
                }
                Ok(Err(error)) => {
                    tracing::warn!(listener = name, %peer, %error, "TLS handshake refused");
                }
                Err(_) => {
                    tracing::warn!(listener = name, %peer, "TLS handshake timed out");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Pki {
        dir: tempfile::TempDir,
        issuer: Issuer<'static, KeyPair>,
        ca: PathBuf,
    }

    impl Pki {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            // a name of its own: two CAs with one name would differ only in their signatures
            let name = dir.path().display().to_string();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let ca = dir.path().join("ca.pem");
            std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
            Self {
                issuer: Issuer::new(params, key),
                ca,
                dir,
            }
        }

        fn issue(&self, file: &str, name: &str) -> CertificateFiles {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &self.issuer)
                .unwrap();
            let files = CertificateFiles {
                cert: self.dir.path().join(format!("{file}.pem")),
                key: self.dir.path().join(format!("{file}.key")),
            };
            std::fs::write(&files.cert, cert.pem()).unwrap();
            std::fs::write(&files.key, key.serialize_pem()).unwrap();
            files
        }
    }

    /// Connects to `addr` trusting `pki`, presenting `identity` if any, and reads what the
    /// server writes.
    async fn read_from(
        addr: SocketAddr,
        pki: &Pki,
        identity: Option<CertificateFiles>,
    ) -> std::io::Result<Vec<u8>> {
        let config = identity_proto::tls::ClientTls {
            ca_file: Some(pki.ca.clone()),
            identity,
            ..Default::default()
        }
        .client_config()
        .unwrap();
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn a_required_client_certificate_is_checked_at_the_handshake() {
        let pki = Pki::new();
        let files = ServerTlsFiles {
            identity: pki.issue("server", "localhost"),
            client_ca: Some(pki.ca.clone()),
            client_certificate_required: true,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        };
        let tls = Arc::new(ServerTls::load(&files, ALPN_GRPC).unwrap());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut listener = TlsListener::new(tcp, tls, "test").unwrap();
        let addr = listener.local_addr();
        tokio::spawn(async move {
            while let Some((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(b"welcome").await;
                let _ = stream.shutdown().await;
            }
        });

        let client = pki.issue("client", "billing");
        assert_eq!(
            read_from(addr, &pki, Some(client)).await.unwrap(),
            b"welcome"
        );
        // without a certificate: the server's alert ends the connection, nothing is served
        let refused = read_from(addr, &pki, None).await.unwrap_err();
        assert!(
            refused.to_string().contains("CertificateRequired"),
            "{refused}"
        );
        // a certificate from another CA
        let rogue = Pki::new();
        let other = rogue.issue("impostor", "billing");
        let refused = read_from(addr, &pki, Some(other)).await.unwrap_err();
        assert!(refused.to_string().contains("UnknownCA"), "{refused}");
    }
}
