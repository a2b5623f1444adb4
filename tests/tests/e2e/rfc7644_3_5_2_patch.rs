//! RFC 7644 §3.5.2 — PATCH: add/replace/remove with and without path, valuePath filters,
//! enterprise URN paths, `noTarget`, `invalidPath`, `mutability`, one primary value,
//! all-or-nothing requests, large groups, and the Okta and Entra dialects.

use crate::{expect_patched, setup};
use identity_proto::identity::v1 as pb;
use identity_tests::scim::{self, ENTERPRISE_SCHEMA, patch};
use identity_tests::{Tenant, unique};
use reqwest::Method;
use serde_json::{Value, json};

/// Creates a user with a work email, a title and a name; returns (path, created body).
async fn user_with_details(tenant: &Tenant) -> (String, Value) {
    let user_name = unique("patch");
    let mut body = scim::user(&user_name);
    body["title"] = json!("Engineer");
    let created = tenant.create_user_with(body).await;
    (
        format!("/Users/{}", created["id"].as_str().unwrap()),
        created,
    )
}

/// PATCHes, asserts success, and returns the resource as GET now shows it.
async fn patch_ok(tenant: &Tenant, path: &str, operations: Value) -> Value {
    let response = tenant.patch(path, patch(operations)).await;
    expect_patched(&response);
    let fetched = tenant.get(path).await;
    fetched.expect(200);
    if response.status == 200 {
        assert_eq!(
            response.body, fetched.body,
            "PATCH response is the resource as stored"
        );
        assert_eq!(response.etag(), fetched.etag());
    }
    fetched.body
}

#[tokio::test]
async fn add_replace_remove_with_paths() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    let after = patch_ok(
        &tenant,
        &path,
        json!([
            { "op": "replace", "path": "name.givenName", "value": "Renamed" },
            { "op": "add", "path": "nickName", "value": "Nick" },
            { "op": "remove", "path": "title" }
        ]),
    )
    .await;
    assert_eq!(after["name"]["givenName"], json!("Renamed"));
    assert_eq!(after["name"]["familyName"], created["name"]["familyName"]);
    assert_eq!(after["nickName"], json!("Nick"));
    assert!(after.get("title").is_none(), "{after}");
    assert_ne!(after["meta"]["version"], created["meta"]["version"]);
}

#[tokio::test]
async fn add_and_replace_without_path_merge_objects() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    let after = patch_ok(
        &tenant,
        &path,
        json!([
            { "op": "add", "value": { "nickName": "Nick", "name": { "middleName": "M" } } },
            { "op": "replace", "value": { "title": "Manager", "displayName": "Display" } }
        ]),
    )
    .await;
    assert_eq!(after["nickName"], json!("Nick"));
    assert_eq!(after["title"], json!("Manager"));
    assert_eq!(after["displayName"], json!("Display"));
    // a complex value given without path merges into the existing one (RFC 7644 §3.5.2.1)
    assert_eq!(after["name"]["middleName"], json!("M"));
    assert_eq!(after["name"]["givenName"], created["name"]["givenName"]);
    assert_eq!(after["emails"], created["emails"]);
}

#[tokio::test]
async fn multi_valued_add_value_path_replace_and_filtered_remove() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    let work = created["emails"][0]["value"].as_str().unwrap().to_owned();
    let home = format!("home-{work}");
    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "add", "path": "emails", "value": [{ "value": home, "type": "home" }] }]),
    )
    .await;
    let emails = after["emails"].as_array().unwrap();
    assert_eq!(
        emails.len(),
        2,
        "add appends to a multi-valued attribute:\n{after}"
    );

    let new_work = format!("new-{work}");
    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": new_work }]),
    )
    .await;
    let by_type = |body: &Value, kind: &str| -> Vec<Value> {
        body["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == json!(kind))
            .cloned()
            .collect()
    };
    assert_eq!(by_type(&after, "work").len(), 1);
    assert_eq!(by_type(&after, "work")[0]["value"], json!(new_work));
    assert_eq!(
        by_type(&after, "work")[0]["primary"],
        json!(true),
        "other sub-attributes stay"
    );
    assert_eq!(by_type(&after, "home")[0]["value"], json!(home));

    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]),
    )
    .await;
    assert!(by_type(&after, "home").is_empty(), "{after}");
    assert_eq!(by_type(&after, "work")[0]["value"], json!(new_work));
}

#[tokio::test]
async fn setting_a_primary_clears_the_others() {
    let (_stack, tenant) = setup().await;
    let (path, _) = user_with_details(&tenant).await;
    let other = format!("{}@second.example", unique("p"));
    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "add", "path": "emails", "value": [{ "value": other, "type": "other", "primary": true }] }]),
    )
    .await;
    let primaries: Vec<&Value> = after["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == json!(true))
        .collect();
    assert_eq!(
        primaries.len(),
        1,
        "exactly one primary (RFC 7644 §3.5.2):\n{after}"
    );
    assert_eq!(primaries[0]["value"], json!(other));
}

#[tokio::test]
async fn enterprise_urn_paths() {
    let (_stack, tenant) = setup().await;
    let (path, _) = user_with_details(&tenant).await;
    let manager = tenant.create_user(&unique("boss")).await;
    let after = patch_ok(
        &tenant,
        &path,
        json!([
            { "op": "add", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Finance" },
            { "op": "replace", "path": format!("{ENTERPRISE_SCHEMA}:employeeNumber"), "value": "42" },
            { "op": "add", "path": format!("{ENTERPRISE_SCHEMA}:manager.value"), "value": manager["id"] },
            { "op": "add", "value": { ENTERPRISE_SCHEMA: { "costCenter": "CC-7" } } }
        ]),
    )
    .await;
    let ext = &after[ENTERPRISE_SCHEMA];
    assert_eq!(ext["department"], json!("Finance"), "{after}");
    assert_eq!(ext["employeeNumber"], json!("42"));
    assert_eq!(ext["costCenter"], json!("CC-7"));
    assert_eq!(ext["manager"]["value"], manager["id"]);
    assert!(
        after["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE_SCHEMA))
    );

    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "remove", "path": format!("{ENTERPRISE_SCHEMA}:department") }]),
    )
    .await;
    assert!(
        after[ENTERPRISE_SCHEMA].get("department").is_none(),
        "{after}"
    );
    assert_eq!(after[ENTERPRISE_SCHEMA]["costCenter"], json!("CC-7"));
}

#[tokio::test]
async fn remove_without_path_is_no_target() {
    let (_stack, tenant) = setup().await;
    let (path, _) = user_with_details(&tenant).await;
    tenant
        .patch(&path, patch(json!([{ "op": "remove" }])))
        .await
        .expect_error(400, Some("noTarget"));
}

#[tokio::test]
async fn value_path_matching_nothing_is_no_target() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    tenant
        .patch(
            &path,
            patch(json!([{ "op": "replace", "path": "emails[type eq \"pager\"].value", "value": "x@y.example" }])),
        )
        .await
        .expect_error(400, Some("noTarget"));
    assert_eq!(tenant.get(&path).await.body["emails"], created["emails"]);
}

#[tokio::test]
async fn unknown_or_malformed_paths_are_invalid_path() {
    let (_stack, tenant) = setup().await;
    let (path, _) = user_with_details(&tenant).await;
    for bad in [
        json!({ "op": "replace", "path": "noSuchAttribute", "value": "x" }),
        json!({ "op": "replace", "path": "name.noSuchPart", "value": "x" }),
        json!({ "op": "replace", "path": "emails[type eq \"work\"", "value": "x" }),
        json!({ "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope", "value": "x" }),
    ] {
        tenant
            .patch(&path, patch(json!([bad])))
            .await
            .expect_error(400, Some("invalidPath"));
    }
}

#[tokio::test]
async fn read_only_targets_are_mutability_errors() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    let group = tenant.create_group(&unique("ro"), &[]).await;
    for bad in [
        json!({ "op": "replace", "path": "id", "value": uuid::Uuid::new_v4().to_string() }),
        json!({ "op": "add", "path": "groups", "value": [{ "value": group["id"] }] }),
        json!({ "op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z" }),
    ] {
        tenant
            .patch(&path, patch(json!([bad])))
            .await
            .expect_error(400, Some("mutability"));
    }
    let after = tenant.get(&path).await;
    assert_eq!(after.body["meta"]["version"], created["meta"]["version"]);
}

/// Decided: `active` cannot be unassigned. Unassigned it would read as active, so a `remove`
/// would reactivate a deactivated user (or be silently ignored on an active one); it is refused
/// with `mutability` and changes nothing.
#[tokio::test]
async fn removing_active_is_refused_and_leaves_a_deactivated_user_deactivated() {
    let (_stack, tenant) = setup().await;
    let (path, _) = user_with_details(&tenant).await;
    let deactivated = tenant
        .patch(
            &path,
            patch(json!([{ "op": "replace", "path": "active", "value": false }])),
        )
        .await;
    assert_eq!(deactivated.status, 200, "{deactivated}");
    for bad in [
        json!({ "op": "remove", "path": "active" }),
        json!({ "op": "replace", "path": "active", "value": null }),
    ] {
        tenant
            .patch(&path, patch(json!([bad])))
            .await
            .expect_error(400, Some("mutability"));
    }
    let after = tenant.get(&path).await;
    assert_eq!(after.body["active"], json!(false));
    assert_eq!(
        after.body["meta"]["version"],
        deactivated.body["meta"]["version"]
    );
}

/// Decided: `primary` is always shown on emails and phone numbers, so a `false` sent is the
/// `false` read back (the core stores a boolean; RFC 7643 §2.4 makes absent and false equal).
#[tokio::test]
async fn primary_false_comes_back_as_sent() {
    let (_stack, tenant) = setup().await;
    let mut body = scim::user(&unique("primary"));
    body["phoneNumbers"] = json!([
        { "value": "+1 555 0100", "type": "work", "primary": false },
        { "value": "+1 555 0101", "type": "mobile", "primary": true }
    ]);
    let created = tenant.create_user_with(body).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let read = tenant.get(&path).await.body;
    assert_eq!(read["phoneNumbers"][0]["primary"], json!(false));
    assert_eq!(read["phoneNumbers"][1]["primary"], json!(true));
    assert_eq!(read["emails"][0]["primary"], json!(true));
}

#[tokio::test]
async fn a_failing_operation_changes_nothing() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    tenant
        .patch(
            &path,
            patch(json!([
                { "op": "replace", "path": "title", "value": "Changed" },
                { "op": "replace", "path": "noSuchAttribute", "value": "x" }
            ])),
        )
        .await
        .expect_error(400, Some("invalidPath"));
    let after = tenant.get(&path).await;
    assert_eq!(
        after.body["title"],
        json!("Engineer"),
        "the first op must be rolled back"
    );
    assert_eq!(after.body["meta"]["version"], created["meta"]["version"]);

    // the same for a group: members added by the first op are not kept
    let member = tenant.create_user(&unique("atomic")).await;
    let group = tenant.create_group(&unique("atomic-group"), &[]).await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    tenant
        .patch(
            &group_path,
            patch(json!([
                { "op": "add", "path": "members", "value": [{ "value": member["id"] }] },
                { "op": "replace", "path": "noSuchAttribute", "value": "x" }
            ])),
        )
        .await
        .expect_error(400, Some("invalidPath"));
    let group_after = tenant.get(&group_path).await;
    assert!(
        scim::member_ids(&group_after.body).is_empty(),
        "{group_after}"
    );
    assert_eq!(
        group_after.body["meta"]["version"],
        group["meta"]["version"]
    );
}

#[tokio::test]
async fn patch_honours_if_match() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    let etag = created["meta"]["version"].as_str().unwrap().to_owned();
    let body = patch(json!([{ "op": "replace", "path": "title", "value": "A" }]));
    let ok = tenant
        .request(
            Method::PATCH,
            &path,
            Some(body.clone()),
            &[("if-match", &etag)],
        )
        .await;
    expect_patched(&ok);
    let stale = tenant
        .request(Method::PATCH, &path, Some(body), &[("if-match", &etag)])
        .await;
    stale.expect(412);
    assert_eq!(stale.body["schemas"], json!([scim::ERROR]), "{stale}");
}

#[tokio::test]
async fn group_member_add_remove_replace() {
    let (_stack, tenant) = setup().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let user = tenant.create_user(&unique(&format!("m{i}"))).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let group = tenant.create_group(&unique("members"), &[&ids[0]]).await;
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());

    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "add", "path": "members", "value": [{ "value": ids[1] }, { "value": ids[2] }] }]),
    )
    .await;
    assert_eq!(
        scim::member_ids(&after),
        scim::sorted(&[&ids[0], &ids[1], &ids[2]])
    );

    // adding an existing member is not an error and does not duplicate it
    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "add", "path": "members", "value": [{ "value": ids[1] }] }]),
    )
    .await;
    assert_eq!(scim::member_ids(&after).len(), 3);

    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", ids[0]) }]),
    )
    .await;
    assert_eq!(scim::member_ids(&after), scim::sorted(&[&ids[1], &ids[2]]));

    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "replace", "path": "members", "value": [{ "value": ids[3] }] }]),
    )
    .await;
    assert_eq!(scim::member_ids(&after), vec![ids[3].clone()]);

    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "remove", "path": "members" }]),
    )
    .await;
    assert!(scim::member_ids(&after).is_empty(), "{after}");
}

#[tokio::test]
async fn okta_dialect() {
    let (_stack, tenant) = setup().await;
    let (path, _) = user_with_details(&tenant).await;
    // capitalised op names; a boolean sent as a string; replace without path
    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "Replace", "value": { "active": false } }]),
    )
    .await;
    assert_eq!(after["active"], json!(false));
    let after = patch_ok(
        &tenant,
        &path,
        json!([{ "op": "replace", "value": { "active": "True" } }]),
    )
    .await;
    assert_eq!(after["active"], json!(true));

    // Okta renames a group with its id inside the value
    let member = tenant.create_user(&unique("okta-m")).await;
    let member_id = member["id"].as_str().unwrap();
    let group = tenant
        .create_group(&unique("okta-group"), &[member_id])
        .await;
    let group_id = group["id"].as_str().unwrap();
    let group_path = format!("/Groups/{group_id}");
    let renamed = unique("okta-renamed");
    let after = patch_ok(
        &tenant,
        &group_path,
        json!([{ "op": "replace", "value": { "id": group_id, "displayName": renamed } }]),
    )
    .await;
    assert_eq!(after["displayName"], json!(renamed));
    assert_eq!(after["id"], json!(group_id));
    assert_eq!(scim::member_ids(&after), vec![member_id.to_owned()]);
    let after = patch_ok(
        &tenant,
        &group_path,
        json!([{ "op": "Remove", "path": format!("members[value eq \"{member_id}\"]") }]),
    )
    .await;
    assert!(scim::member_ids(&after).is_empty());
}

#[tokio::test]
async fn entra_dialect() {
    let (_stack, tenant) = setup().await;
    let (path, created) = user_with_details(&tenant).await;
    let manager = tenant.create_user(&unique("entra-boss")).await;
    let new_email = format!("{}@entra.example", unique("e"));
    let after = patch_ok(
        &tenant,
        &path,
        json!([
            { "op": "Replace", "path": "active", "value": "False" },
            { "op": "Add", "path": "emails[type eq \"work\"].value", "value": new_email },
            { "op": "Replace", "path": "displayName", "value": "Entra Name" },
            { "op": "Add", "path": format!("{ENTERPRISE_SCHEMA}:manager"), "value": manager["id"] },
            { "op": "Replace", "path": "name.familyName", "value": "Family" }
        ]),
    )
    .await;
    assert_eq!(after["active"], json!(false));
    assert_eq!(after["displayName"], json!("Entra Name"));
    assert_eq!(after["name"]["familyName"], json!("Family"));
    assert_eq!(after[ENTERPRISE_SCHEMA]["manager"]["value"], manager["id"]);
    let works: Vec<&Value> = after["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == json!("work"))
        .collect();
    assert_eq!(works.len(), 1, "{after}");
    assert_eq!(works[0]["value"], json!(new_email));
    assert_ne!(json!(new_email), created["emails"][0]["value"]);

    // Entra removes members by listing them in the value
    let mut ids = Vec::new();
    for i in 0..3 {
        let user = tenant.create_user(&unique(&format!("entra-m{i}"))).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let group = tenant
        .create_group(&unique("entra-group"), &[&ids[0], &ids[1], &ids[2]])
        .await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let after = patch_ok(
        &tenant,
        &group_path,
        json!([{ "op": "Remove", "path": "members", "value": [{ "value": ids[0] }, { "value": ids[2] }] }]),
    )
    .await;
    assert_eq!(scim::member_ids(&after), vec![ids[1].clone()]);
}

#[tokio::test]
async fn large_group_add_one_member_keeps_exact_totals() {
    let (stack, tenant) = setup().await;
    let prefix = unique("large");
    let users = stack.users();
    let creates = (0..2001).map(|i| {
        let mut users = users.clone();
        let org_id = tenant.org_id.clone();
        let user_name = format!("{prefix}-{i:04}");
        async move {
            users
                .create_user(pb::CreateUserRequest {
                    organization_id: org_id,
                    user: Some(pb::User {
                        user_name,
                        active: true,
                        managed_by: pb::ManagedBy::Scim as i32,
                        ..Default::default()
                    }),
                    password: String::new(),
                    adopt_existing: false,
                    ..Default::default()
                })
                .await
                .expect("CreateUser")
                .into_inner()
                .user
                .unwrap()
                .id
        }
    });
    use futures::StreamExt;
    let ids: Vec<String> = futures::stream::iter(creates).buffered(16).collect().await;
    let (extra, initial) = ids.split_last().unwrap();
    let initial: Vec<&str> = initial.iter().map(String::as_str).collect();
    let group = tenant.create_group(&unique("big"), &initial).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(scim::member_ids(&group).len(), 2000);

    let response = tenant
        .patch(
            &format!("/Groups/{group_id}?excludedAttributes=members"),
            patch(json!([{ "op": "add", "path": "members", "value": [{ "value": extra }] }])),
        )
        .await;
    expect_patched(&response);

    let role = stack
        .roles()
        .get_role(pb::GetRoleRequest {
            organization_id: tenant.org_id.clone(),
            role_id: group_id.clone(),
        })
        .await
        .expect("GetRole")
        .into_inner()
        .role
        .unwrap();
    assert_eq!(role.member_count, 2001);
    let fetched = tenant.get(&format!("/Groups/{group_id}")).await;
    fetched.expect(200);
    let members = scim::member_ids(&fetched.body);
    assert_eq!(members.len(), 2001);
    assert!(members.contains(extra));
    let by_member = tenant
        .get(&scim::groups_filter(&format!(
            "members.value eq \"{extra}\" and displayName sw \"big\""
        )))
        .await;
    assert_eq!(by_member.total(), 1, "{by_member}");
}
