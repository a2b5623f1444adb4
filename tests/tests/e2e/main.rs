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
