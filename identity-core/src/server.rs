//! Starting and stopping the two gRPC listeners: identity.v1 (internal) and admin.v1 (owners).
//!
//! Both share one store connection pool; both answer `grpc.health.v1` and server reflection so
//! `grpcurl` and Kubernetes gRPC probes work. On shutdown, health flips to NOT_SERVING first,
//! then the listeners stop accepting and drain in-flight calls within the grace period.

use crate::config::Config;
use identity_proto::FILE_DESCRIPTOR_SET;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The bound addresses, printed once at start for scripts and tests (ports may be 0 in config).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct BoundAddrs {
    pub identity_addr: SocketAddr,
    pub admin_addr: SocketAddr,
}

/// Runs the server until `shutdown` resolves, then drains.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(BoundAddrs),
) -> anyhow::Result<()> {
    let db = crate::db::connect(config.database_url.expose(), config.max_db_connections).await?;
    if config.migrate_on_start {
        crate::db::migrate(&db).await?;
    }

    let identity_listener = TcpListener::bind(config.listen_addr).await?;
    let admin_listener = TcpListener::bind(config.admin_listen_addr).await?;
    on_bound(BoundAddrs {
        identity_addr: identity_listener.local_addr()?,
        admin_addr: admin_listener.local_addr()?,
    });

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let (user_service, role_service, change_service) =
        crate::service::identity_services(db.clone());
    let token_service = identity_proto::identity::v1::token_service_server::TokenServiceServer::new(
        crate::service::token_service::TokenServiceImpl::new(db.clone()),
    );
    let admin_backend = Arc::new(crate::admin_backend::CoreAdminBackend::new(
        db.clone(),
        config.admin_token.as_ref().map(|s| s.expose().to_owned()),
    ));

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let identity = Server::builder()
        .trace_fn(identity_telemetry::grpc_server_span)
        .add_service(health_service.clone())
        .add_service(reflection)
        .add_service(user_service)
        .add_service(role_service)
        .add_service(change_service)
        .add_service(token_service)
        .serve_with_incoming_shutdown(incoming(identity_listener), stopped(stop_rx.clone()));
    let admin = Server::builder()
        .trace_fn(identity_telemetry::grpc_server_span)
        .add_routes(admin_grpc::admin_routes(admin_backend).add_service(health_service))
        .serve_with_incoming_shutdown(incoming(admin_listener), stopped(stop_rx));

    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls");
        // probes see NOT_SERVING before the listeners close, so traffic moves away first
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = stop_tx.send(true);
    };
    let servers = async {
        let (identity, admin) = tokio::join!(identity, admin);
        identity?;
        admin?;
        Ok::<_, anyhow::Error>(())
    };
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => result?,
        () = signal => {
            if tokio::time::timeout(grace, &mut servers).await.is_err() {
                tracing::warn!(grace_secs = grace.as_secs(), "grace period over: abandoning in-flight calls");
            }
        }
    }
    db.close().await?;
    Ok(())
}

/// Accepted connections with `TCP_NODELAY`: without it a response written in more than one
/// segment (any list) waits for the client's delayed ACK, adding ~40 ms per call.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
