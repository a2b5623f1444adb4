//! The `scim-edge` binary: configuration, telemetry, the listener and graceful shutdown.
//! Everything the service does is in the library (`scim_edge::router`).

use std::process::ExitCode;

use anyhow::Context;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use clap::Parser;
use scim_edge::config::{Config, Flags};
use scim_edge::core_client::CoreClient;
use scim_edge::https::HttpsListener;
use scim_edge::{App, AppState, router};
use std::net::SocketAddr;

/// See the workspace manifest for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let flags = Flags::parse();
    let config = match Config::load(&flags, std::env::vars()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("scim-edge: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("scim-edge: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "scim-edge failed");
            eprintln!("scim-edge: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let _telemetry =
        identity_runtime::telemetry::init("scim-edge").context("initialising telemetry")?;
    let core = CoreClient::connect_lazy(
        &config.core_endpoint,
        config
            .core_credential
            .as_ref()
            .map(|secret| secret.expose()),
        &config.core_tls,
        config.connect_timeout,
        config.request_timeout,
    )
    .context("configuring the core endpoint")?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.listen_addr))?;
    let bound = listener.local_addr()?;
    let state = AppState::new(core, &config, bound);
    tracing::info!(
        addr = %bound,
        base_url = %state.settings.base_url,
        core_endpoint = %config.core_endpoint,
        https = config.listener_tls.is_some(),
        "scim-edge listening"
    );
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        SocketAddr,
    >(router(state));
    match &config.listener_tls {
        Some(files) => {
            let listener = HttpsListener::new(listener, files).context("listener TLS")?;
            announce(bound);
            serve_on(listener, app, config.shutdown_grace).await
        }
        None => {
            // TCP_NODELAY: a response in several segments must not wait for the client's
            // delayed ACK (the HTTPS listener sets it itself)
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                if let Err(error) = tcp.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
            });
            announce(bound);
            serve_on(listener, app, config.shutdown_grace).await
        }
    }
}

/// The one line on stdout that launchers and tests read.
fn announce(bound: SocketAddr) {
    println!(
        "{}",
        serde_json::json!({ "event": "listening", "addr": bound.to_string() })
    );
}

/// Serves until the shutdown signal, then gives in-flight requests `grace` to finish.
async fn serve_on<L>(
    listener: L,
    app: IntoMakeServiceWithConnectInfo<App, SocketAddr>,
    grace: std::time::Duration,
) -> anyhow::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    // axum provides the peer address as connect info for any listener wrapped in `TapIo`
    let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        identity_runtime::shutdown::signal().await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down, draining in-flight requests"
        );
        let _ = drained_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.context("server task")?.context("serving http")?,
        _ = async {
            // after the signal, in-flight requests get the grace period, then are abandoned
            if drained_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!("grace period over, abandoning unfinished requests");
        }
    }
    tracing::info!("scim-edge stopped");
    Ok(())
}
