//! RFC 7644 §3.12 — errors: the body shape, `invalidSyntax`, `invalidValue`, 413, unknown
//! routes, 401 with `WWW-Authenticate`, 503 with `Retry-After` when the core is gone, and
//! secrets never reaching the logs.

use crate::setup;
use identity_tests::scim::{self, USER_SCHEMA};
use identity_tests::{SCIM_JSON, Stack, unique};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax() {
    let (_stack, tenant) = setup().await;
    for body in [
        &b"{\"schemas\": ["[..],
        b"not json at all",
        b"{\"userName\": \"x\",}",
    ] {
        let response = tenant
            .raw(Method::POST, "/Users", Some(body.to_vec()), SCIM_JSON, &[])
            .await;
        response.expect_error(400, Some("invalidSyntax"));
        assert!(response.body["detail"].is_string(), "{response}");
    }
    tenant
        .raw(
            Method::PATCH,
            &format!("/Users/{}", uuid::Uuid::new_v4()),
            Some(b"[".to_vec()),
            SCIM_JSON,
            &[],
        )
        .await
        .expect_error(400, Some("invalidSyntax"));
}

#[tokio::test]
async fn wrong_types_are_400_invalid_value() {
    let (_stack, tenant) = setup().await;
    let name = unique("types");
    for body in [
        json!({ "schemas": [USER_SCHEMA], "userName": 42 }),
        json!({ "schemas": [USER_SCHEMA], "userName": name, "emails": "a@b.example" }),
        json!({ "schemas": [USER_SCHEMA], "userName": name, "name": "Just A String" }),
        json!({ "schemas": [USER_SCHEMA], "userName": name, "active": "maybe" }),
        json!({ "schemas": [USER_SCHEMA], "userName": name, "emails": [{ "value": "a@b.example", "primary": "sometimes" }] }),
    ] {
        tenant
            .post("/Users", body)
            .await
            .expect_error(400, Some("invalidValue"));
    }
    tenant
        .post(
            "/Groups",
            json!({ "schemas": [scim::GROUP_SCHEMA], "displayName": ["a"] }),
        )
        .await
        .expect_error(400, Some("invalidValue"));
    // PatchOp with a body that is not a PatchOp
    let user = tenant.create_user(&name).await;
    tenant
        .patch(
            &format!("/Users/{}", user["id"].as_str().unwrap()),
            json!({ "Operations": "replace" }),
        )
        .await
        .expect(400);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_the_limit_is_advertised() {
    let stack = Stack::builder()
        .with_edge(true)
        .edge_arg("--max-body-bytes=4096")
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    let mut body = scim::user(&unique("big"));
    body["displayName"] = json!("x".repeat(10_000));
    let response = tenant.post("/Users", body).await;
    response.expect_error(413, None);
    let config = tenant.get("/ServiceProviderConfig").await;
    config.expect(200);
    assert_eq!(
        config.body["bulk"]["maxPayloadSize"],
        json!(4096),
        "{config}"
    );
    // a body under the limit still works
    tenant.create_user(&unique("small")).await;
}

#[tokio::test]
async fn unknown_routes_are_404_scim_errors() {
    let (_stack, tenant) = setup().await;
    for path in ["/Nope", "/Users/a/b/c", "/Groupz"] {
        tenant.get(path).await.expect_error(404, None);
    }
}

#[tokio::test]
async fn missing_or_invalid_tokens_are_401_with_www_authenticate() {
    let (_stack, tenant) = setup().await;
    let cases = [
        ("none", tenant.with_token("")),
        (
            "unknown",
            tenant.with_token("idscim_not-a-real-token-0000000000"),
        ),
        ("garbage", tenant.with_token("x")),
    ];
    for (label, client) in &cases {
        for path in [
            "/Users",
            "/Groups",
            "/ServiceProviderConfig",
            "/Schemas",
            "/ResourceTypes",
        ] {
            let response = client.get(path).await;
            response.expect_error(401, None);
            // RFC 6750 §3.1: no error code when no token came, invalid_token when one did
            let expected = if *label == "none" {
                "Bearer realm=\"scim\""
            } else {
                "Bearer realm=\"scim\", error=\"invalid_token\", error_description=\"authentication failed\""
            };
            assert_eq!(
                response.header("www-authenticate"),
                Some(expected),
                "{label} token on {path}:\n{response}"
            );
        }
    }
    // Basic credentials are not accepted
    let response = tenant
        .with_token("")
        .request(
            Method::GET,
            "/Users",
            None,
            &[("authorization", "Basic dXNlcjpwYXNz")],
        )
        .await;
    response.expect_error(401, None);
}

#[tokio::test]
async fn core_down_is_503_with_retry_after() {
    let (mut stack, tenant) = setup().await;
    // a token the edge has validated (and may have cached) and one it has never seen
    tenant.get("/Users").await.expect(200);
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{}/readyz", stack.edge_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    stack.kill_core().await;
    let seen = tenant.get("/Users").await;
    seen.expect_error(503, None);
    assert!(seen.header("retry-after").is_some(), "{seen}");
    let unseen = tenant
        .with_token("idscim_never-seen-token-00000000000")
        .get("/Users")
        .await;
    unseen.expect(503);
    assert!(
        unseen.header("retry-after").is_some(),
        "an unreachable core is not a bad token:\n{unseen}"
    );

    let healthz = http
        .get(format!("http://{}/healthz", stack.edge_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        healthz.status().as_u16(),
        200,
        "the edge process still runs"
    );
    let readyz = http
        .get(format!("http://{}/readyz", stack.edge_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status().as_u16(), 503, "the core is gone");
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let (stack, tenant) = setup().await;
    let mut body = scim::user(&unique("secret"));
    body["password"] = json!("Pa55w0rd-that-must-not-leak");
    tenant.post("/Users", body).await.expect(201);
    tenant.get("/Users").await.expect(200);
    let rejected = "idscim_rejected-token-that-must-not-leak";
    tenant.with_token(rejected).get("/Users").await.expect(401);
    let output: Vec<String> = stack
        .core_output()
        .into_iter()
        .chain(stack.edge_output())
        .collect();
    assert!(!output.is_empty(), "the processes log something");
    for line in &output {
        for secret in [
            tenant.scim_token.as_str(),
            stack.admin_token(),
            tenant.owner_secret.as_str(),
            rejected,
            "Pa55w0rd-that-must-not-leak",
        ] {
            assert!(!line.contains(secret), "a secret was logged: {line}");
        }
    }
}
