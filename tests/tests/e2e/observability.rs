//! Operating it: one SCIM request is one trace from the edge into the core, exported over OTLP
//! to a real receiver; the edge's metrics name routes, statuses and token failures; and no log
//! line of a full run ever holds a secret.

use crate::{expect_patched, setup};
use identity_proto::identity::v1 as pb;
use identity_tests::otlp::Collector;
use identity_tests::scim::patch;
use identity_tests::{Stack, unique};
use serde_json::json;
use std::time::Duration;

/// The Prometheus text a process serves on `/metrics`.
async fn metrics_text(addr: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body")
}

/// Checks the exposition format with Prometheus' own `promtool check metrics`, named by
/// `IDENTITY_TEST_PROMTOOL` (CI installs it; elsewhere the check is skipped with a note, and in
/// CI a missing promtool is a failure).
fn check_with_promtool(text: &str) {
    use std::io::Write;
    let Some(promtool) = std::env::var("IDENTITY_TEST_PROMTOOL")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !in_ci,
            "CI must check /metrics with promtool: set IDENTITY_TEST_PROMTOOL"
        );
        eprintln!("IDENTITY_TEST_PROMTOOL is not set: /metrics is not checked with promtool");
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether one sample line holds every needle (metric name and labels).
fn has_sample(text: &str, needles: &[&str]) -> bool {
    text.lines()
        .any(|line| needles.iter().all(|needle| line.contains(needle)))
}

#[tokio::test]
async fn a_scim_request_is_one_trace_from_the_edge_into_the_core() {
    let collector = Collector::start().await;
    let stack = Stack::builder()
        .with_edge(true)
        .otlp_endpoint(collector.endpoint())
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    let user_name = unique("traced");
    tenant.create_user(&user_name).await;

    // the core's span for the edge's CreateUser call, and the edge span it hangs under
    let (edge_span, core_span) = collector
        .wait_for(Duration::from_secs(20), |spans| {
            let core = spans.iter().find(|s| {
                s.service == "identity-core"
                    && s.attributes.get("rpc.method").map(String::as_str)
                        == Some("/identity.v1.UserService/CreateUser")
            })?;
            let parent = spans.iter().find(|s| {
                s.service == "scim-edge"
                    && s.trace_id == core.trace_id
                    && s.span_id == core.parent_span_id
            })?;
            Some((parent.clone(), core.clone()))
        })
        .await;
    assert!(!core_span.parent_span_id.is_empty());
    assert_eq!(edge_span.trace_id, core_span.trace_id);
    // the edge's request span is the root of that trace and carries the tenant, not secrets
    let spans = collector.spans();
    let root = spans
        .iter()
        .find(|s| {
            s.service == "scim-edge"
                && s.trace_id == core_span.trace_id
                && s.parent_span_id.is_empty()
        })
        .expect("the edge's request span is the trace's root");
    assert_eq!(root.attributes.get("organization.id"), Some(&tenant.org_id));
    assert_eq!(
        root.attributes
            .get("scim.resource_type")
            .map(String::as_str),
        Some("Users")
    );
    // the core's database statements are spans in the same trace, under its call
    let statements: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.service == "identity-core"
                && s.trace_id == core_span.trace_id
                && s.attributes.contains_key("db.operation.name")
        })
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| s.name == "INSERT" && s.parent_span_id == core_span.span_id),
        "no INSERT statement span under the CreateUser call: {statements:#?}"
    );
    // the logs of both processes name the same trace, so a collector's trace leads to them
    let trace = &core_span.trace_id;
    for (process, output) in [("edge", stack.edge_output()), ("core", stack.core_output())] {
        assert!(
            output.iter().any(|line| line.contains(trace.as_str())),
            "no {process} log line names trace {trace}"
        );
    }
    let everything = format!("{spans:?}");
    assert!(
        !everything.contains(&tenant.scim_token),
        "a token on a span"
    );
    assert!(!everything.contains(&user_name), "personal data on a span");
}

#[tokio::test]
async fn the_edge_metrics_count_routes_operations_and_token_failures() {
    let (stack, tenant) = setup().await;
    tenant.create_user(&unique("metered")).await;
    tenant.get("/Users?count=1").await.expect(200);
    // a heavy request (a page over 100) waits for a heavy-work slot, and the wait is recorded
    tenant.get("/Users?count=500").await.expect(200);
    tenant
        .with_token("idscim_not-a-token")
        .get("/Users")
        .await
        .expect(401);
    let text = metrics_text(stack.edge_addr()).await;
    check_with_promtool(&text);
    let has = |needles: &[&str]| has_sample(&text, needles);
    assert!(
        has(&[
            "http_server_request_duration_seconds_count",
            "http_route=\"/scim/v2/Users\"",
            "http_request_method=\"POST\"",
            "http_response_status_code=\"201\"",
        ]),
        "{text}"
    );
    assert!(
        has(&[
            "scim_operations_total",
            &format!("organization_id=\"{}\"", tenant.org_id),
            "scim_resource_type=\"Users\"",
            "http_response_status_class=\"2xx\"",
        ]),
        "{text}"
    );
    assert!(
        has(&["scim_token_rejections_total", "reason=\"unknown\""]),
        "{text}"
    );
    assert!(
        has(&[
            "scim_heavy_wait_seconds_count",
            &format!("organization=\"{}\"", tenant.org_id),
        ]),
        "{text}"
    );
}

/// Every secret the system hands out or receives in a full run (SCIM token, owner credential,
/// service credential, access token, bootstrap and edge credentials) is absent from every line
/// both processes wrote.
#[tokio::test]
async fn no_secret_ever_reaches_the_logs() {
    let (stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("logged")).await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let service_secret = stack.service_credential(&tenant, true).await;
    let client = stack.identity_client_with(&service_secret);
    let access_token = client
        .access_tokens
        .clone()
        .issue_access_token(pb::IssueAccessTokenRequest {
            organization_id: tenant.org_id.clone(),
            user_id: user_id.clone(),
            scopes: vec![],
            ttl: None,
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    client
        .access_tokens
        .clone()
        .introspect_token(pb::IntrospectTokenRequest {
            token: access_token.clone(),
            organization_id: String::new(),
        })
        .await
        .unwrap();
    expect_patched(
        &tenant
            .patch(
                &format!("/Users/{user_id}"),
                patch(json!([{ "op": "replace", "path": "active", "value": false }])),
            )
            .await,
    );
    // rejected secrets are not logged either
    tenant
        .with_token("idscim_wrong-but-secret")
        .get("/Users")
        .await
        .expect(401);
    let _ = stack
        .identity_client_with("idsvc_wrong-but-secret")
        .users
        .clone()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id,
            ..Default::default()
        })
        .await;

    let logs: Vec<String> = stack
        .core_output()
        .into_iter()
        .chain(stack.edge_output())
        .collect();
    assert!(logs.len() > 10, "the processes logged: {logs:?}");
    for (what, secret) in [
        ("SCIM token", tenant.scim_token.as_str()),
        ("owner credential", tenant.owner_secret.as_str()),
        ("service credential", service_secret.as_str()),
        ("access token", access_token.as_str()),
        ("bootstrap credential", stack.admin_token()),
        ("edge credential", stack.edge_credential()),
        ("rejected SCIM token", "idscim_wrong-but-secret"),
        ("rejected service credential", "idsvc_wrong-but-secret"),
    ] {
        if let Some(line) = logs.iter().find(|line| line.contains(secret)) {
            panic!("the {what} appears in the logs: {line}");
        }
    }
}

#[tokio::test]
async fn the_core_metrics_count_calls_by_method_and_status_and_show_the_pool() {
    let (stack, tenant) = setup().await;
    tenant.create_user(&unique("counted")).await;
    // a NOT_FOUND (code 5) from the core, through the edge
    tenant
        .get(&format!("/Users/{}", uuid::Uuid::now_v7()))
        .await
        .expect(404);
    let text = metrics_text(stack.core_metrics_addr()).await;
    check_with_promtool(&text);
    let has = |needles: &[&str]| has_sample(&text, needles);
    assert!(
        has(&[
            "rpc_server_call_duration_seconds_count",
            "rpc_method=\"/identity.v1.UserService/CreateUser\"",
            "rpc_grpc_status_code=\"0\"",
        ]),
        "{text}"
    );
    assert!(
        has(&[
            "rpc_server_call_duration_seconds_count",
            "rpc_method=\"/identity.v1.UserService/GetUser\"",
            "rpc_grpc_status_code=\"5\"",
        ]),
        "{text}"
    );
    assert!(
        has(&["db_client_connections_usage", "state=\"idle\""]),
        "{text}"
    );
    assert!(
        has(&[
            "db_client_operation_duration_seconds_count",
            "db_operation_name=\"INSERT\"",
        ]),
        "{text}"
    );
}
