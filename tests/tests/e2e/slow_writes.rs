//! A write that outlasts the edge's request timeout is finished and answered with its real
//! outcome. Answering 503 while the write still commits would send the identity provider into a
//! retry that fails with 409 (or changes the resource twice).

use identity_tests::Stack;
use identity_tests::scim::{user, users_filter};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_write_slower_than_the_request_timeout_is_answered_with_its_outcome() {
    let timeout = Duration::from_secs(1);
    let stack = Stack::builder()
        .with_edge(true)
        .edge_arg("--request-timeout-secs")
        .edge_arg(timeout.as_secs().to_string())
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    // the token is now cached at the edge: only the write itself waits for the store
    tenant.get("/Users?count=1").await.expect(200);

    let held = stack.hold_write_lock(3 * timeout).await;
    let sent = Instant::now();
    let created = tenant.post("/Users", user("slow.writer")).await;
    created.expect(201);
    // the premise of the test: the write waited past the edge's timeout
    assert!(
        sent.elapsed() > timeout,
        "the store's lock did not delay the write"
    );
    held.await.unwrap();

    // the answer was the truth: the user exists once, with the id that was answered
    tenant
        .get(&format!("/Users/{}", created.id()))
        .await
        .expect(200);
    let listed = tenant
        .get(&users_filter(r#"userName eq "slow.writer""#))
        .await;
    assert_eq!(listed.resource_ids(), [created.id()]);
}
