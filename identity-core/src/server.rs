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
    /// The Prometheus `/metrics` listener, when configured.
    pub metrics_addr: Option<SocketAddr>,
}

/// Runs the server until `shutdown` resolves, then drains.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(BoundAddrs),
) -> anyhow::Result<()> {
    let db = crate::db::connect(config.database_url.expose(), config.max_db_connections).await?;
    crate::store::org_writes::set_max_batch(config.write_batch_max);
    crate::store::users::configure_password_hashing(config.password_hashing())
        .map_err(anyhow::Error::msg)?;
    if config.migrate_on_start {
        crate::db::migrate(&db).await?;
    }

    let identity_listener = TcpListener::bind(config.listen_addr).await?;
    let admin_listener = TcpListener::bind(config.admin_listen_addr).await?;
    let metrics_listener = match config.metrics_listen_addr {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    on_bound(BoundAddrs {
        identity_addr: identity_listener.local_addr()?,
        admin_addr: admin_listener.local_addr()?,
        metrics_addr: metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?,
    });
    let _pool_gauge = crate::metrics::observe_pool(&db);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let (identity_reflection, identity_reflection_v1alpha) = reflection_of("identity.v1")?;
    let (admin_reflection, admin_reflection_v1alpha) = reflection_of("admin.v1")?;
    if config.edge_credential.is_none() && config.tls_client_ca_file.is_none() {
        tracing::warn!(
            "no edge_credential configured: the SCIM edge cannot call identity.v1 (only \
             service credentials issued through admin.v1 are accepted)"
        );
    }
    let caller_auth = identity_runtime::grpc_auth::AuthLayer::new(Arc::new(
        crate::service::caller::CallerAuthenticator::new(
            db.clone(),
            config.edge_credential.as_ref().map(|s| s.expose()),
        )
        .with_previous_edge_credential(config.edge_credential_previous.as_ref().map(|s| s.expose()))
        .with_edge_certificate_name(
            config
                .tls_client_ca_file
                .is_some()
                .then(|| config.tls_edge_client_name.clone()),
        ),
    ));
    let admin_backend: Arc<dyn admin_grpc::AdminBackend> =
        Arc::new(crate::admin_backend::CoreAdminBackend::new(
            db.clone(),
            config.admin_token.as_ref().map(|s| s.expose().to_owned()),
        ));

    let (stop_tx, stop_rx) = watch::channel(false);
    // open change streams end as soon as draining starts (see ChangeServiceImpl)
    let identity_routes = crate::service::identity_routes(
        db.clone(),
        &caller_auth,
        stop_rx.clone(),
        config.oauth_settings(),
    );
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let metrics = metrics_listener.map(|listener| {
        tokio::spawn(crate::metrics::serve_prometheus(
            listener,
            stopped(stop_rx.clone()),
        ))
    });
    // the admin services a setup-portal session may call, where the edge can reach them
    let identity_routes = admin_grpc::with_portal_routes(
        identity_routes,
        admin_backend.clone(),
        Arc::new(crate::service::portal_service::PortalSessions::new(
            db.clone(),
        )),
    );
    let identity = Server::builder()
        .trace_fn(identity_runtime::telemetry::grpc_server_span)
        .layer(crate::metrics::GrpcMetricsLayer)
        .add_routes(
            identity_routes
                .add_service(health_service.clone())
                .add_service(identity_reflection)
                .add_service(identity_reflection_v1alpha),
        );
    let identity = serve(
        identity,
        identity_listener,
        config.listener_tls(false),
        "identity.v1",
        stopped(stop_rx.clone()),
    )?;
    let admin = Server::builder()
        .trace_fn(identity_runtime::telemetry::grpc_server_span)
        .layer(crate::metrics::GrpcMetricsLayer)
        .add_routes(
            admin_grpc::admin_routes(admin_backend)
                .add_service(health_service)
                .add_service(admin_reflection)
                .add_service(admin_reflection_v1alpha),
        );
    let admin = serve(
        admin,
        admin_listener,
        config.listener_tls(true),
        "admin.v1",
        stopped(stop_rx),
    )?;

    // commits on other replicas wake this process's change watchers (PostgreSQL only: SQLite
    // is one process, whose commits wake its watchers directly)
    let commit_relay = (db.get_database_backend() == sea_orm::DbBackend::Postgres).then(|| {
        tokio::spawn(crate::store::changes::relay_postgres_commits(
            db.get_postgres_connection_pool().clone(),
        ))
    });
    let retention = tokio::spawn(run_retention(
        db.clone(),
        Duration::from_secs(config.change_retention_secs),
        Duration::from_secs(config.retention_interval_secs),
    ));
    let planner_stats = tokio::spawn(crate::store::planner_stats::bootstrap(db.clone()));
    let _expiry_gauge = crate::metrics::observe_token_expiry();
    let expiry_watch = tokio::spawn(watch_token_expiry(
        db.clone(),
        Duration::from_secs(config.retention_interval_secs),
    ));

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
    retention.abort();
    planner_stats.abort();
    expiry_watch.abort();
    if let Some(relay) = commit_relay {
        relay.abort();
    }
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    db.close().await?;
    Ok(())
}

/// Prunes the change feed and expired access tokens every `interval`, keeping `retention`.
/// Failures are logged and retried at the next tick: retention is housekeeping, never a reason
/// to stop serving.
async fn run_retention(db: sea_orm::DatabaseConnection, retention: Duration, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_micros = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
    loop {
        ticks.tick().await;
        let cutoff = crate::time::now_micros().saturating_sub(retention_micros);
        match crate::store::retention::prune(&db, cutoff, cutoff).await {
            Ok(pruned) if pruned != crate::store::retention::Pruned::default() => {
                tracing::info!(
                    changes = pruned.changes,
                    access_tokens = pruned.access_tokens,
                    "retention pruned"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "retention pass failed"),
        }
    }
}

/// Every `interval` (the retention interval), refreshes the soonest-expiry gauge and warns once
/// about each SCIM token that entered its last 30 days: a warning log line and an audit event
/// naming the organization and the token, so provisioning does not stop by surprise a year
/// after set-up. Failures are logged and retried at the next tick.
async fn watch_token_expiry(db: sea_orm::DatabaseConnection, interval: Duration) {
    use crate::store::credentials;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = crate::time::now_micros();
        match credentials::soonest_expiries(&db, now).await {
            Ok(expiries) => crate::metrics::soonest_token_expiries(expiries),
            Err(error) => tracing::warn!(%error, "reading token expiries failed"),
        }
        match credentials::take_newly_expiring(&db, now).await {
            Ok(tokens) => {
                for token in tokens {
                    let days_left = (token.expires_at - now) / (24 * 3_600 * 1_000_000);
                    tracing::warn!(
                        org_id = %token.org_id,
                        token_id = %token.id,
                        hint = %token.hint,
                        days_left,
                        "a SCIM token expires soon: rotate it (identity-admin token rotate) and \
                         update the identity provider"
                    );
                    tracing::info!(
                        target: "audit",
                        org_id = %token.org_id,
                        token_id = %token.id,
                        action = "scim_token.expiring",
                        days_left,
                        "scim token entered its last 30 days"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "token expiry watch failed"),
        }
    }
}

/// Accepted connections with `TCP_NODELAY`: without it a response written in more than one
/// segment (any list) waits for the client's delayed ACK, adding ~40 ms per call.
type Serving = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>,
>;

/// Serves `router` on `listener` until `shutdown`: over TLS (reloading its files) when `tls`
/// is given, else plaintext. Fails when the TLS files cannot be loaded.
fn serve(
    router: tonic::transport::server::Router<
        tower::layer::util::Stack<crate::metrics::GrpcMetricsLayer, tower::layer::util::Identity>,
    >,
    listener: TcpListener,
    tls: Option<identity_runtime::tls::ServerTlsFiles>,
    name: &'static str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Serving> {
    let Some(files) = tls else {
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        return Ok(Box::pin(
            router.serve_with_incoming_shutdown(incoming, shutdown),
        ));
    };
    let tls = identity_runtime::tls::ServerTls::load(&files, identity_runtime::tls::ALPN_GRPC)
        .map_err(|error| anyhow::anyhow!("{name} TLS: {error}"))?;
    tracing::info!(
        listener = name,
        client_certificates = match (&files.client_ca, files.client_certificate_required) {
            (None, _) => "not asked for",
            (Some(_), false) => "verified when presented",
            (Some(_), true) => "required",
        },
        "serving TLS"
    );
    let incoming =
        identity_runtime::tls::TlsListener::new(listener, std::sync::Arc::new(tls), name)?
            .into_stream();
    Ok(Box::pin(
        router.serve_with_incoming_shutdown(incoming, shutdown),
    ))
}

/// Server reflection for the listener that serves `package`: it lists that package's services
/// and the health service only (every descriptor stays resolvable). v1 and v1alpha both, since
/// grpcurl before 1.9 and many IDEs only speak v1alpha.
fn reflection_of(
    package: &str,
) -> anyhow::Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)?;
    let services: Vec<String> = set
        .file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| file.service.iter())
        .map(|service| format!("{package}.{}", service.name()))
        .chain(["grpc.health.v1.Health".to_owned()])
        .collect();
    let builder = || {
        services.iter().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name.clone()),
        )
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}
