//! The cross-process conformance suite: every test starts the real `identity-core` and
//! `scim-edge` binaries (one stack per test, over its own store) and talks to them as an
//! identity provider, an administrator or an internal service would.
//!
//! Modules follow the RFC sections they check (RFC 7644 protocol, RFC 7643 schemas), then the
//! provisioning sequences Okta and Entra really send, the admin CLI, the core's gRPC surface
//! across processes and process lifecycle. Assertions are exact (status, `scimType`, bodies):
//! a failure here is a behaviour an identity provider would see.

mod admin_cli;
mod connections;
mod core_grpc;
mod entra_flow;
mod internal_services;
mod lifecycle;
mod normalizations;
mod oauth;
mod oauth_clients;
mod observability;
mod okta_flow;
mod portal;
mod provisioning;
mod python_example;
mod rfc7643_schemas;
mod rfc7644_3_11_me;
mod rfc7644_3_12_errors;
mod rfc7644_3_3_create;
mod rfc7644_3_4_1_retrieve;
mod rfc7644_3_4_2_query;
mod rfc7644_3_4_3_search;
mod rfc7644_3_5_1_replace;
mod rfc7644_3_5_2_patch;
mod rfc7644_3_6_delete;
mod rfc7644_3_7_bulk;
mod selftest;
mod slow_writes;
mod tenancy;
mod throttling;
mod tls;

use identity_tests::{Stack, Tenant};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A core and an edge with default settings, and one tenant on them.
async fn setup() -> (Stack, Tenant) {
    let stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    (stack, tenant)
}

/// Asserts a PATCH succeeded: RFC 7644 §3.5.2 allows 200 with the resource or 204 without.
#[track_caller]
fn expect_patched(response: &identity_tests::Response) {
    assert!(
        response.status == 200 || response.status == 204,
        "PATCH must answer 200 or 204; response:\n{response}"
    );
}

/// A core and an edge without a token cache: revocations reach SCIM at once.
async fn uncached_stack() -> Stack {
    Stack::builder()
        .with_edge(true)
        .token_cache_ttl_secs(0)
        .start()
        .await
}

/// The value of `variable`, or `None` (a failure in CI) when it is not set.
pub(crate) fn tool(variable: &str, what: &str) -> Option<String> {
    let value = std::env::var(variable).ok().filter(|v| !v.is_empty());
    if value.is_none() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!in_ci, "CI must run {what}: set {variable}");
        eprintln!("{variable} is not set: {what} is not run");
    }
    value
}

/// Where the screenshots of `name` go: under `IDENTITY_TEST_ARTIFACTS`, else
/// `target/test-artifacts`.
pub(crate) fn artifacts_dir(name: &str) -> PathBuf {
    let dir = std::env::var("IDENTITY_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/test-artifacts"
            ))
        })
        .join(name);
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// Runs `command` to completion (at most two minutes) and returns its stdout; panics with both
/// outputs when it fails.
pub(crate) async fn run(mut command: tokio::process::Command, what: &str) -> String {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in two minutes"))
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}
