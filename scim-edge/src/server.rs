//! The HTTP service: SCIM routes under the base URL's path, `/healthz`, `/readyz` and
//! `/metrics` (Prometheus text) outside it, and the tower stack every request goes through.
//!
//! The stack is listed once, in [`router`]: the envelope every request enters
//! (`crate::envelope`: request id, trace span, body limit, timeout, panics, SCIM error bodies),
//! then per route the metrics, then on the SCIM routes the concurrency limit and authentication.
//! Whatever fails where, the client gets a SCIM error body with `application/scim+json`.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::Layer;

use crate::around::Around;
use crate::auth::Authenticate;
use crate::envelope::Envelope;
use crate::error::{RETRY_AFTER_SECS, ScimError};
use crate::handlers::groups::Groups;
use crate::handlers::resource::{self, ById, OwnUser};
use crate::handlers::users::Users;
use crate::handlers::{bulk, discovery, me, search};
use crate::metrics::RecordRequests;
use crate::state::AppState;

/// The whole service, as served.
pub type App = Around<Router, Envelope>;

/// The whole service, ready to be served or driven with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> App {
    let settings = state.settings.clone();
    let base_path = settings.base_path();
    // every SCIM route, discovery included: a concurrency slot, then a valid bearer token
    // (`auth::Authenticate`)
    let scim = scim_routes()
        .fallback(unknown_route)
        .layer(Authenticate::new(state.clone()));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // OAuth 2.0 for identity providers: outside the base path and SCIM bearer auth, inside
        // the budget of unauthenticated work per source address
        .merge(
            crate::oauth::routes().route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::auth::budget_unauthenticated,
            )),
        )
        // the setup portal: its own session cookie, the same budget per source address
        .merge(
            crate::portal::routes().route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::auth::budget_unauthenticated,
            )),
        );
    let app = if base_path.is_empty() {
        app.merge(scim)
    } else {
        app.nest(&base_path, scim)
    };
    let app = app
        .fallback(unknown_route)
        .with_state(state)
        // per route: the duration by matched route, method and status
        .layer(RecordRequests);
    Envelope {
        request_timeout: settings.request_timeout,
        max_body_bytes: settings.limits.max_payload_size,
    }
    .layer(app)
}

/// The SCIM endpoints, relative to the base path.
fn scim_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/Users",
            get(resource::list::<Users>).post(resource::post::<Users>),
        )
        .route(
            "/Users/{id}",
            get(resource::get_one::<Users, ById>)
                .put(resource::put::<Users, ById>)
                .patch(resource::patch::<Users, ById>)
                .delete(resource::delete::<Users, ById>),
        )
        .route("/Users/.search", post(search::collection::<Users>))
        .route(
            "/Groups",
            get(resource::list::<Groups>).post(resource::post::<Groups>),
        )
        .route(
            "/Groups/{id}",
            get(resource::get_one::<Groups, ById>)
                .put(resource::put::<Groups, ById>)
                .patch(resource::patch::<Groups, ById>)
                .delete(resource::delete::<Groups, ById>),
        )
        .route("/Groups/.search", post(search::collection::<Groups>))
        .route("/.search", post(search::root))
        .route("/Bulk", post(bulk::bulk))
        .route(
            "/Me",
            get(resource::get_one::<Users, OwnUser>)
                .put(resource::put::<Users, OwnUser>)
                .patch(resource::patch::<Users, OwnUser>)
                .delete(resource::delete::<Users, OwnUser>)
                .post(me::post),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{urn}", get(discovery::schema))
}

/// `/metrics`: the process's OpenTelemetry metrics in the Prometheus text format. Counts only,
/// by route, status and normalisation: nothing a tenant could not see anyway, no tokens, no
/// personal data; expose it to the scraper, not through the SCIM ingress.
async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        identity_runtime::telemetry::prometheus_text(),
    )
        .into_response()
}

/// `/healthz`: the process runs.
async fn healthz() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// `/readyz`: the core answers its gRPC health check.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.core.is_ready().await {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ready"}"#,
        )
            .into_response()
    } else {
        ScimError::unavailable("the identity service is not ready", RETRY_AFTER_SECS)
            .into_response()
    }
}

async fn unknown_route(request: Request) -> ScimError {
    ScimError::not_found(format!("no resource at {}", request.uri().path()))
}
