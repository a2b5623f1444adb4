//! Tenant isolation: a token of organization A never reads, changes or finds organization B's
//! users and groups — by id, by filter, by search or through bulk.

use identity_tests::scim::{self, BULK_REQUEST, SEARCH_REQUEST, patch};
use identity_tests::{Stack, unique};
use serde_json::json;

#[tokio::test]
async fn one_tenant_never_sees_or_changes_another() {
    let stack = Stack::start().await;
    let a = stack.new_tenant().await;
    let b = stack.new_tenant().await;
    let user_name = unique("isolated");
    let a_user = a.create_user(&user_name).await;
    let a_user_id = a_user["id"].as_str().unwrap();
    let a_group = a
        .create_group(&unique("isolated-group"), &[a_user_id])
        .await;
    let a_group_id = a_group["id"].as_str().unwrap();
    let user_path = format!("/Users/{a_user_id}");
    let group_path = format!("/Groups/{a_group_id}");

    b.get(&user_path).await.expect_error(404, None);
    b.get(&group_path).await.expect_error(404, None);
    b.get(&format!("/Groups/{}", a.default_role_id))
        .await
        .expect_error(404, None);
    b.put(&user_path, scim::user(&user_name))
        .await
        .expect_error(404, None);
    b.put(&group_path, scim::group("taken-over", &[]))
        .await
        .expect_error(404, None);
    b.patch(
        &user_path,
        patch(json!([{ "op": "replace", "path": "active", "value": false }])),
    )
    .await
    .expect_error(404, None);
    b.patch(
        &group_path,
        patch(json!([{ "op": "remove", "path": "members" }])),
    )
    .await
    .expect_error(404, None);
    b.delete(&user_path).await.expect_error(404, None);
    b.delete(&group_path).await.expect_error(404, None);

    for filter in [
        format!("userName eq \"{user_name}\""),
        format!("id eq \"{a_user_id}\""),
        "userName pr".to_owned(),
    ] {
        let found = b.get(&scim::users_filter(&filter)).await;
        found.expect(200);
        assert_eq!(found.total(), 0, "{filter}:\n{found}");
    }
    let groups = b
        .get(&scim::groups_filter(&format!(
            "members.value eq \"{a_user_id}\""
        )))
        .await;
    assert_eq!(groups.total(), 0, "{groups}");
    let all_groups = b.get("/Groups").await;
    assert_eq!(
        all_groups.resource_ids(),
        vec![b.default_role_id.clone()],
        "{all_groups}"
    );
    let searched = b
        .post(
            "/.search",
            json!({ "schemas": [SEARCH_REQUEST], "filter": format!("id eq \"{a_user_id}\"") }),
        )
        .await;
    searched.expect(200);
    assert_eq!(searched.total(), 0);

    // B cannot put A's user into its own group
    let response = b
        .post("/Groups", scim::group(&unique("b-group"), &[a_user_id]))
        .await;
    assert!(
        (400..500).contains(&response.status),
        "a member from another organization is refused:\n{response}"
    );

    // bulk cannot reach across either
    let bulk = b
        .post(
            "/Bulk",
            json!({ "schemas": [BULK_REQUEST], "Operations": [
                { "method": "DELETE", "path": user_path },
                { "method": "PATCH", "path": group_path, "data": patch(json!([{ "op": "remove", "path": "members" }])) }
            ] }),
        )
        .await;
    bulk.expect(200);
    for op in bulk.body["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], json!("404"), "{bulk}");
    }

    // uniqueness is per organization: B may use the same userName
    b.create_user(&user_name).await;

    // and A's data is untouched
    let user_after = a.get(&user_path).await;
    user_after.expect(200);
    assert_eq!(
        user_after.body["meta"]["version"],
        a_user["meta"]["version"]
    );
    let group_after = a.get(&group_path).await;
    assert_eq!(
        scim::member_ids(&group_after.body),
        vec![a_user_id.to_owned()]
    );
    assert_eq!(a.get("/Users").await.total(), 1);
}
