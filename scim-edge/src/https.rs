//! The HTTPS listener: `identity_runtime::tls::TlsListener` (handshakes off the accept loop,
//! certificate files reloaded when they change) as an `axum::serve::Listener`.

use identity_runtime::tls::{ALPN_HTTP, ServerTls, ServerTlsFiles, TlsConnection, TlsListener};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Connections of an HTTPS listener, handshakes done.
#[derive(Debug)]
pub struct HttpsListener(TlsListener);

impl HttpsListener {
    /// Serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN) on `listener` with the certificate in `files`.
    pub fn new(listener: TcpListener, files: &ServerTlsFiles) -> anyhow::Result<Self> {
        let tls = ServerTls::load(files, ALPN_HTTP)?;
        Ok(Self(TlsListener::new(listener, Arc::new(tls), "scim")?))
    }
}

impl axum::serve::Listener for HttpsListener {
    type Io = TlsConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.accept().await {
            Some(connection) => connection,
            // the accept task only stops when the listener is dropped
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.0.local_addr())
    }
}
