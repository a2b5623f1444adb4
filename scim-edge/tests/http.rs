//! HTTP behaviour of the edge that needs no real core: the router is driven with `oneshot`,
//! and where a core must answer, a small in-process gRPC server plays TokenService and the
//! health service. Checks the SCIM error surface (401, 404, 405, 413, 400 invalidSyntax, 501,
//! 503 with Retry-After), discovery documents and the token cache.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::token_service_server::{TokenService, TokenServiceServer};
use scim_edge::core_client::CoreClient;
use scim_edge::principal::TokenCache;
use scim_edge::schema::Limits;
use scim_edge::state::Settings;
use scim_edge::throttle::{Limits as ThrottleLimits, Throttle};
use scim_edge::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const BASE: &str = "http://edge.test/scim/v2";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A TokenService that knows two tokens and counts the calls.
#[derive(Debug, Clone, Default)]
struct FakeTokens {
    calls: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl TokenService for FakeTokens {
    async fn authenticate_scim_token(
        &self,
        request: tonic::Request<pb::AuthenticateScimTokenRequest>,
    ) -> Result<tonic::Response<pb::AuthenticateScimTokenResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let token = request.into_inner().token;
        let (kind, user) = match token.as_str() {
            "good" => (pb::PrincipalKind::ProvisioningClient, ""),
            "user-token" => (
                pb::PrincipalKind::User,
                "3f1a0c1e-0000-4000-8000-000000000001",
            ),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                (pb::PrincipalKind::ProvisioningClient, "")
            }
            _ => {
                let details = tonic_types::ErrorDetails::with_error_info(
                    "TOKEN_UNKNOWN",
                    identity_proto::ERROR_DOMAIN,
                    [],
                );
                return Err(
                    <tonic::Status as tonic_types::StatusExt>::with_error_details(
                        tonic::Code::Unauthenticated,
                        "unknown token",
                        details,
                    ),
                );
            }
        };
        Ok(tonic::Response::new(pb::AuthenticateScimTokenResponse {
            organization_id: "org-1".to_owned(),
            token_id: "token-1".to_owned(),
            principal_kind: kind as i32,
            principal_user_id: user.to_owned(),
            expires_in_seconds: 3600,
            connection_id: String::new(),
            rate_limits: None,
        }))
    }
}

/// Starts the fake core; returns its address and the call counter.
async fn fake_core() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tokens = FakeTokens::default();
    let calls = tokens.calls.clone();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(TokenServiceServer::new(tokens))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (addr, calls)
}

/// An address where nothing listens.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn settings(max_payload_size: usize, request_timeout: Duration) -> Settings {
    settings_with(max_payload_size, request_timeout, 16)
}

fn settings_with(
    max_payload_size: usize,
    request_timeout: Duration,
    max_concurrent_requests: usize,
) -> Settings {
    Settings {
        base_url: BASE.to_owned(),
        limits: Limits {
            max_payload_size,
            ..Limits::default()
        },
        request_timeout,
        max_concurrent_requests,
        client_address_header: None,
    }
}

fn app_with(core: SocketAddr, settings: Settings) -> scim_edge::App {
    let core = CoreClient::connect_lazy(
        &format!("http://{core}"),
        Some("edge-test-credential"),
        &Default::default(),
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap();
    router(AppState {
        core: Arc::new(core),
        tokens: Arc::new(TokenCache::new(Duration::from_secs(30), 100)),
        throttle: Arc::new(Throttle::new(ThrottleLimits::default())),
        settings: Arc::new(settings),
    })
}

fn app(core: SocketAddr) -> scim_edge::App {
    app_with(core, settings(64 * 1024, Duration::from_secs(10)))
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: &scim_edge::App, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("body is not json: {}", String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("/scim/v2{path}"));
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(bytes) => builder
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(Body::from(bytes))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

#[track_caller]
fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/scim+json",
        "content type of a {status}"
    );
    assert_eq!(reply.body["schemas"], json!([ERROR_SCHEMA]));
    assert_eq!(reply.body["status"], json!(status.to_string()));
    assert!(
        reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        reply.body
    );
    match scim_type {
        Some(scim_type) => assert_eq!(reply.body["scimType"], json!(scim_type)),
        None => assert!(reply.body.get("scimType").is_none(), "{}", reply.body),
    }
}

#[tokio::test]
async fn healthz_needs_no_auth_and_no_core() {
    let app = app(closed_port());
    let response = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn readyz_follows_the_core_health_check() {
    let down = app(closed_port());
    let reply = send(&down, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_scim_error(&reply, 503, None);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));

    let (core, _) = fake_core().await;
    let up = app(core);
    let response = up
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate() {
    let app = app(closed_port());
    for path in ["/Users", "/ServiceProviderConfig", "/Nope"] {
        let reply = send(&app, request("GET", path, None, None)).await;
        assert_scim_error(&reply, 401, None);
        assert_eq!(
            reply.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"scim\""
        );
    }
    let basic = Request::get("/scim/v2/Users")
        .header(header::AUTHORIZATION, "Basic dXNlcjpwdw==")
        .body(Body::empty())
        .unwrap();
    assert_scim_error(&send(&app, basic).await, 401, None);
}

#[tokio::test]
async fn unreachable_core_is_503_not_401() {
    let app = app(closed_port());
    let reply = send(&app, request("GET", "/Users", Some("whatever"), None)).await;
    assert_scim_error(&reply, 503, None);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn bad_token_is_a_generic_401_and_good_tokens_are_cached() {
    let (core, calls) = fake_core().await;
    let app = app(core);
    let reply = send(
        &app,
        request("GET", "/ServiceProviderConfig", Some("bad"), None),
    )
    .await;
    assert_scim_error(&reply, 401, None);
    assert!(
        !reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("TOKEN_UNKNOWN")
    );

    calls.store(0, Ordering::SeqCst);
    for _ in 0..3 {
        let reply = send(
            &app,
            request("GET", "/ServiceProviderConfig", Some("good"), None),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the token is checked once, then cached"
    );
}

/// RFC 7643 §7: every attribute definition carries every characteristic.
fn assert_attribute_complete(attribute: &Value, path: &str) {
    let name = attribute["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no name"));
    for key in [
        "type",
        "multiValued",
        "description",
        "required",
        "mutability",
        "returned",
    ] {
        assert!(attribute.get(key).is_some(), "{path}{name}: missing {key}");
    }
    if attribute["type"] == "complex" {
        let subs = attribute["subAttributes"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}{name}: complex without subAttributes"));
        for sub in subs {
            assert_attribute_complete(sub, &format!("{path}{name}."));
        }
    } else {
        for key in ["caseExact", "uniqueness"] {
            assert!(attribute.get(key).is_some(), "{path}{name}: missing {key}");
        }
    }
}

#[tokio::test]
async fn discovery_documents_are_complete() {
    let (core, _) = fake_core().await;
    let app = app(core);

    let config = send(
        &app,
        request("GET", "/ServiceProviderConfig", Some("good"), None),
    )
    .await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(
        config.headers[header::CONTENT_TYPE],
        "application/scim+json"
    );
    assert_eq!(config.body["bulk"]["maxPayloadSize"], 64 * 1024);
    assert_eq!(config.body["bulk"]["maxOperations"], 1000);
    assert_eq!(config.body["filter"]["maxResults"], 1000);
    assert_eq!(
        config.body["meta"]["location"],
        format!("{BASE}/ServiceProviderConfig")
    );

    let schemas = send(&app, request("GET", "/Schemas", Some("good"), None)).await;
    assert_eq!(schemas.status, StatusCode::OK);
    assert_eq!(
        schemas.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    let resources = schemas.body["Resources"].as_array().unwrap();
    assert_eq!(schemas.body["totalResults"], json!(resources.len()));
    assert_eq!(resources.len(), 3);
    for schema in resources {
        let id = schema["id"].as_str().unwrap();
        for attribute in schema["attributes"].as_array().unwrap() {
            assert_attribute_complete(attribute, &format!("{id}:"));
        }
        let one = send(
            &app,
            request("GET", &format!("/Schemas/{id}"), Some("good"), None),
        )
        .await;
        assert_eq!(one.status, StatusCode::OK);
        assert_eq!(&one.body, schema);
    }

    let types = send(&app, request("GET", "/ResourceTypes", Some("good"), None)).await;
    assert_eq!(types.body["totalResults"], 2);
    let user = send(
        &app,
        request("GET", "/ResourceTypes/User", Some("good"), None),
    )
    .await;
    assert_eq!(user.body["endpoint"], "/Users");
    assert_eq!(
        user.body["meta"]["location"],
        format!("{BASE}/ResourceTypes/User")
    );

    let missing = send(
        &app,
        request("GET", "/Schemas/urn:nope", Some("good"), None),
    )
    .await;
    assert_scim_error(&missing, 404, None);
    let missing = send(
        &app,
        request("GET", "/ResourceTypes/Device", Some("good"), None),
    )
    .await;
    assert_scim_error(&missing, 404, None);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_scim_errors() {
    let (core, _) = fake_core().await;
    let app = app(core);
    assert_scim_error(
        &send(&app, request("GET", "/Devices", Some("good"), None)).await,
        404,
        None,
    );
    let outside = send(
        &app,
        Request::get("/elsewhere").body(Body::empty()).unwrap(),
    )
    .await;
    assert_scim_error(&outside, 404, None);
    let reply = send(&app, request("DELETE", "/Users", Some("good"), None)).await;
    assert_scim_error(&reply, 405, None);
    assert!(reply.headers.contains_key(header::ALLOW));
    let reply = send(
        &app,
        request("GET", "/Users/not-a-uuid", Some("good"), None),
    )
    .await;
    assert_scim_error(&reply, 404, None);
}

#[tokio::test]
async fn malformed_json_is_invalid_syntax() {
    let (core, _) = fake_core().await;
    let app = app(core);
    for path in ["/Users", "/Groups", "/Bulk", "/.search"] {
        let reply = send(
            &app,
            request("POST", path, Some("good"), Some(b"{\"userName\":".to_vec())),
        )
        .await;
        assert_scim_error(&reply, 400, Some("invalidSyntax"));
    }
    let empty = send(
        &app,
        request("POST", "/Users", Some("good"), Some(Vec::new())),
    )
    .await;
    assert_scim_error(&empty, 400, Some("invalidSyntax"));
    // plain application/json (and no content type at all) is read the same way
    let json_type = Request::post("/scim/v2/Users")
        .header(header::AUTHORIZATION, "Bearer good")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("[1,"))
        .unwrap();
    assert_scim_error(&send(&app, json_type).await, 400, Some("invalidSyntax"));
    // well-formed json that is not a user is a bad value, before any core call
    let reply = send(
        &app,
        request(
            "POST",
            "/Users",
            Some("good"),
            Some(br#"{"userName":5}"#.to_vec()),
        ),
    )
    .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    let reply = send(
        &app,
        request(
            "POST",
            "/Users",
            Some("good"),
            Some(br#"{"userName":"a","shoeSize":9}"#.to_vec()),
        ),
    )
    .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    assert!(reply.body["detail"].as_str().unwrap().contains("shoeSize"));
    // a key whose fourth byte falls inside a character once answered 500 (a panic)
    for key in ["名前", "ürn:x", "urné", "urn:名前"] {
        let body = json!({ "userName": "a", key: "x" })
            .to_string()
            .into_bytes();
        let reply = send(&app, request("POST", "/Users", Some("good"), Some(body))).await;
        assert_scim_error(&reply, 400, Some("invalidValue"));
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (core, _) = fake_core().await;
    let app = app_with(core, settings(2048, Duration::from_secs(10)));
    let big = format!("{{\"userName\":\"{}\"}}", "x".repeat(4096)).into_bytes();
    // announced by Content-Length
    let sized = Request::post("/scim/v2/Users")
        .header(header::AUTHORIZATION, "Bearer good")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    assert_scim_error(&send(&app, sized).await, 413, None);
    // streamed without a length
    let stream = futures::stream::iter(
        big.chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = Request::post("/scim/v2/Bulk")
        .header(header::AUTHORIZATION, "Bearer good")
        .body(Body::from_stream(stream))
        .unwrap();
    assert_scim_error(&send(&app, streamed).await, 413, None);
}

#[tokio::test]
async fn bodies_within_the_configured_limit_are_read_beyond_axums_default() {
    // axum's extractors refuse more than 2 MiB unless told otherwise; the configured limit is
    // the only one
    let (core, _) = fake_core().await;
    let app = app_with(core, settings(4 * 1024 * 1024, Duration::from_secs(10)));
    let big = format!("{{\"userName\":\"{}\"}}", "x".repeat(3 * 1024 * 1024)).into_bytes();
    let request = Request::post("/scim/v2/Users")
        .header(header::AUTHORIZATION, "Bearer good")
        .header(header::CONTENT_TYPE, "application/scim+json")
        .body(Body::from(big))
        .unwrap();
    let reply = send(&app, request).await;
    assert_ne!(reply.status, 413, "{:?}", reply.body);
}

#[tokio::test]
async fn bulk_over_max_operations_is_413() {
    let (core, _) = fake_core().await;
    let app = app_with(core, settings(4 * 1024 * 1024, Duration::from_secs(10)));
    let operations: Vec<Value> = (0..1001)
        .map(|i| json!({ "method": "DELETE", "path": format!("/Users/{i}") }))
        .collect();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": operations
    });
    let reply = send(
        &app,
        request(
            "POST",
            "/Bulk",
            Some("good"),
            Some(serde_json::to_vec(&body).unwrap()),
        ),
    )
    .await;
    assert_scim_error(&reply, 413, None);
}

#[tokio::test]
async fn paging_parameters_are_checked_before_the_core() {
    let (core, _) = fake_core().await;
    let app = app(core);
    let reply = send(
        &app,
        request("GET", "/Users?startIndex=2&cursor=", Some("good"), None),
    )
    .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    let reply = send(
        &app,
        request("GET", "/Groups?cursor=bm9wZQ", Some("good"), None),
    )
    .await;
    assert_scim_error(&reply, 400, Some("invalidCursor"));
    let reply = send(
        &app,
        request("GET", "/Users?filter=userName%20eq", Some("good"), None),
    )
    .await;
    assert_scim_error(&reply, 400, Some("invalidFilter"));
    let reply = send(
        &app,
        request("GET", "/Users?count=many", Some("good"), None),
    )
    .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
}

#[tokio::test]
async fn me_is_501_for_a_provisioning_token() {
    let (core, _) = fake_core().await;
    let app = app(core);
    for method in ["GET", "PUT", "PATCH", "DELETE", "POST"] {
        let body = (method != "GET" && method != "DELETE").then(|| b"{}".to_vec());
        let reply = send(&app, request(method, "/Me", Some("good"), body)).await;
        assert_scim_error(&reply, 501, None);
    }
}

#[tokio::test]
async fn slow_requests_time_out_with_503() {
    let (core, _) = fake_core().await;
    let app = app_with(core, settings(64 * 1024, Duration::from_millis(300)));
    let reply = send(&app, request("GET", "/Users", Some("slow"), None)).await;
    assert_scim_error(&reply, 503, None);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn request_id_is_propagated() {
    let app = app(closed_port());
    let response = app
        .oneshot(
            Request::get("/healthz")
                .header("x-request-id", "abc-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn concurrency_limit_queues_scim_requests_but_not_health_probes() {
    let (core, _) = fake_core().await;
    let app = app_with(
        core,
        settings_with(64 * 1024, Duration::from_millis(400), 1),
    );
    let busy = app.clone();
    let slow =
        tokio::spawn(
            async move { send(&busy, request("GET", "/Users", Some("slow"), None)).await },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = std::time::Instant::now();
    let health = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "probes never wait"
    );

    // the only slot is held by the slow request until it times out
    let queued = send(
        &app,
        request("GET", "/ServiceProviderConfig", Some("good"), None),
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "a second scim request waited for the slot ({:?})",
        started.elapsed()
    );
    assert!(
        queued.status == StatusCode::OK || queued.status == StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        queued.body
    );
    assert_scim_error(&slow.await.unwrap(), 503, None);
}
