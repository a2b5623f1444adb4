//! Process lifecycle: SIGTERM makes each binary drain and exit 0; the edge's `/readyz` follows
//! the core while `/healthz` only reports that the edge runs.

use identity_tests::{Stack, unique};

async fn status(url: String) -> u16 {
    reqwest::get(url)
        .await
        .expect("edge answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn core_exits_0_on_sigterm_and_the_edge_notices() {
    let mut stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    tenant.create_user(&unique("before-stop")).await;
    let edge = stack.edge_addr();
    assert_eq!(status(format!("http://{edge}/readyz")).await, 200);

    let exit = stack.terminate_core().await;
    assert_eq!(exit.code(), Some(0), "identity-core exit status: {exit}");

    assert_eq!(status(format!("http://{edge}/healthz")).await, 200);
    assert_eq!(status(format!("http://{edge}/readyz")).await, 503);
}

#[tokio::test]
async fn edge_exits_0_on_sigterm() {
    let mut stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    tenant.get("/Users").await.expect(200);
    let exit = stack.terminate_edge().await;
    assert_eq!(exit.code(), Some(0), "scim-edge exit status: {exit}");
}

#[tokio::test]
async fn core_without_edge_exits_0_on_sigterm() {
    let mut stack = Stack::builder().with_edge(false).start().await;
    let exit = stack.terminate_core().await;
    assert_eq!(exit.code(), Some(0), "identity-core exit status: {exit}");
}
