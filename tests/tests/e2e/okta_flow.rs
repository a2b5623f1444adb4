//! The provisioning sequence Okta sends (Okta SCIM 2.0 test app, seed docs 000/002/004): match by
//! userName with `startIndex=1&count=100`, create, read, deactivate with PUT, reactivate with
//! PATCH, and group push with member add/remove; then import paging, GET-then-PUT updates and
//! the rest of group push.

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
            ..Default::default()
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

/// Okta's import (paged listing with integers and a stable order), its GET-then-PUT profile
/// update that clears what it leaves out, and the rest of group push: one PATCH that removes
/// and adds, replacing every member (also with none), and DELETE.
#[tokio::test]
async fn okta_import_profile_put_and_group_push_details() {
    let (_stack, tenant) = setup().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let created = tenant.create_user(&unique(&format!("import{n}"))).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // import: pages of 3 cover everyone once, in a stable order, with integer counters
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = tenant
            .get(&format!("/Users?startIndex={start}&count=3"))
            .await;
        page.expect(200);
        for key in ["totalResults", "startIndex", "itemsPerPage"] {
            assert!(page.body[key].is_u64(), "{key} must be an integer: {page}");
        }
        assert_eq!(page.body["startIndex"], json!(start));
        assert_eq!(page.total(), 7, "every user of the tenant, on every page");
        let resources = page.resource_ids();
        if resources.is_empty() {
            break;
        }
        seen.extend(resources);
        start += 3;
    }
    let mut expected = ids.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "each user exactly once across pages");
    let again: Vec<String> = tenant
        .get("/Users?startIndex=1&count=7")
        .await
        .resource_ids();
    assert_eq!(again, seen, "the order is stable between requests");

    // profile update: GET, change, PUT the whole resource; what the PUT omits is cleared
    let path = format!("/Users/{}", ids[0]);
    let mut body = tenant.get(&path).await.body;
    body["title"] = json!("Pilot");
    body["nickName"] = json!("Ace");
    tenant.put(&path, body.clone()).await.expect(200);
    body.as_object_mut().unwrap().remove("nickName");
    body["title"] = json!("Captain");
    let put = tenant.put(&path, body).await;
    put.expect(200);
    assert_eq!(put.body["title"], json!("Captain"));
    assert!(put.body.get("nickName").is_none(), "{put}");

    // group push
    let group = tenant
        .create_group(&unique("okta-push"), &[&ids[0], &ids[1]])
        .await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([
                    { "op": "remove", "path": format!("members[value eq \"{}\"]", ids[0]) },
                    { "op": "add", "path": "members", "value": [{ "value": ids[2] }, { "value": ids[3] }] }
                ])),
            )
            .await,
    );
    assert_eq!(
        scim::member_ids(&tenant.get(&group_path).await.body),
        scim::sorted(&[&ids[1], &ids[2], &ids[3]])
    );
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(
                    json!([{ "op": "replace", "path": "members", "value": [{ "value": ids[4] }] }]),
                ),
            )
            .await,
    );
    assert_eq!(
        scim::member_ids(&tenant.get(&group_path).await.body),
        vec![ids[4].clone()]
    );
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([{ "op": "replace", "path": "members", "value": [] }])),
            )
            .await,
    );
    assert!(scim::member_ids(&tenant.get(&group_path).await.body).is_empty());
    tenant.delete(&group_path).await.expect(204);
    tenant.get(&group_path).await.expect_error(404, None);
}
