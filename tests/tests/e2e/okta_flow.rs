//! The provisioning sequence Okta sends (Okta SCIM 2.0 test app, seed docs 000/002/004): match by
//! userName with `startIndex=1&count=100`, create, read, deactivate with PUT, reactivate with
//! PATCH, and group push with member add/remove.

use crate::{expect_patched, setup};
use identity_proto::identity::v1 as pb;
use identity_tests::scim::{self, GROUP_SCHEMA, USER_SCHEMA, enc, patch};
use identity_tests::unique;
use serde_json::json;

#[tokio::test]
async fn okta_user_lifecycle_and_group_push() {
    let (stack, tenant) = setup().await;
    let login = format!("{}@okta.example", unique("okta"));
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        enc(&format!("userName eq \"{login}\""))
    );

    // 1. does the user exist?
    let none = tenant.get(&lookup).await;
    none.expect(200);
    assert_eq!(none.total(), 0);
    assert_eq!(none.body["startIndex"], json!(1));
    assert!(none.resources().is_empty());

    // 2. create it, the way Okta shapes the body
    let created = tenant
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA],
                "userName": login,
                "name": { "givenName": "Okta", "familyName": "User" },
                "emails": [{ "primary": true, "value": login, "type": "work" }],
                "displayName": "Okta User",
                "locale": "en-US",
                "externalId": "00u1abcdEFGH",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            }),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let path = format!("/Users/{id}");

    // 3. read it back, and find it by userName now
    tenant.get(&path).await.expect(200);
    let found = tenant.get(&lookup).await;
    assert_eq!(found.total(), 1);
    assert_eq!(found.resource_ids(), vec![id.clone()]);

    // 4. Okta deactivates with a full PUT carrying active=false
    let mut full = tenant.get(&path).await.body;
    full["active"] = json!(false);
    let put = tenant.put(&path, full).await;
    put.expect(200);
    assert_eq!(put.body["active"], json!(false));
    let core_user = stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!core_user.active, "the core sees the deactivation");

    // 5. and reactivates with PATCH replace active
    let reactivated = tenant
        .patch(
            &path,
            patch(json!([{ "op": "replace", "value": { "active": true } }])),
        )
        .await;
    expect_patched(&reactivated);
    assert_eq!(tenant.get(&path).await.body["active"], json!(true));

    // 6. profile update with PATCH replace of several attributes
    expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([{ "op": "replace", "value": { "name": { "givenName": "Okta2", "familyName": "User" }, "displayName": "Okta2 User" } }])),
            )
            .await,
    );
    let after = tenant.get(&path).await;
    assert_eq!(after.body["name"]["givenName"], json!("Okta2"));
    assert_eq!(after.body["displayName"], json!("Okta2 User"));

    // group push: look up, create empty, add member, rename, remove member
    let group_name = unique("Okta Group");
    let group_lookup = format!(
        "/Groups?filter={}&startIndex=1&count=100",
        enc(&format!("displayName eq \"{group_name}\""))
    );
    assert_eq!(tenant.get(&group_lookup).await.total(), 0);
    let group = tenant
        .post(
            "/Groups",
            json!({ "schemas": [GROUP_SCHEMA], "displayName": group_name, "members": [] }),
        )
        .await;
    group.expect(201);
    let group_id = group.id();
    let group_path = format!("/Groups/{group_id}");
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([{ "op": "add", "path": "members", "value": [{ "value": id, "display": login }] }])),
            )
            .await,
    );
    assert_eq!(
        scim::member_ids(&tenant.get(&group_path).await.body),
        vec![id.clone()]
    );
    let renamed = unique("Okta Group Renamed");
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([{ "op": "replace", "value": { "id": group_id, "displayName": renamed } }])),
            )
            .await,
    );
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }])),
            )
            .await,
    );
    let final_group = tenant.get(&group_path).await;
    assert_eq!(final_group.body["displayName"], json!(renamed));
    assert!(scim::member_ids(&final_group.body).is_empty());

    // Okta's deprovisioning is a deactivation (PATCH active=false), never a DELETE
    expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([{ "op": "replace", "value": { "active": false } }])),
            )
            .await,
    );
    let gone = tenant.get(&path).await;
    gone.expect(200);
    assert_eq!(gone.body["active"], json!(false));
}
