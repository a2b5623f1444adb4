//! RFC 7644 §3.11 — `/Me`: an organization's provisioning token has no user behind it, so the
//! edge answers 501 Not Implemented with a SCIM error.

use crate::setup;
use identity_tests::scim;
use serde_json::json;

#[tokio::test]
async fn me_with_a_provisioning_token_is_501() {
    let (_stack, tenant) = setup().await;
    tenant.get("/Me").await.expect_error(501, None);
    tenant
        .patch(
            "/Me",
            scim::patch(json!([{ "op": "replace", "path": "title", "value": "x" }])),
        )
        .await
        .expect_error(501, None);
    // still authenticated first: no token is 401, not 501
    tenant
        .with_token("")
        .get("/Me")
        .await
        .expect_error(401, None);
}
