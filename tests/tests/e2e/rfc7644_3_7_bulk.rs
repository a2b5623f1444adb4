//! RFC 7644 §3.7 — bulk: bulkId references in data and in paths, a group created with members
//! created in the same request, `failOnErrors`, and the `maxOperations` limit (413).

use crate::setup;
use identity_tests::scim::{self, BULK_REQUEST, BULK_RESPONSE, GROUP_SCHEMA, USER_SCHEMA, patch};
use identity_tests::unique;
use serde_json::{Value, json};

fn post_user(bulk_id: &str, user_name: &str) -> Value {
    json!({ "method": "POST", "path": "/Users", "bulkId": bulk_id, "data": scim::user(user_name) })
}

#[tokio::test]
async fn bulk_ids_resolve_in_data_and_paths() {
    let (_stack, tenant) = setup().await;
    let (u1, u2, u3) = (unique("bulk1"), unique("bulk2"), unique("bulk3"));
    let group_name = unique("bulk-group");
    let response = tenant
        .post(
            "/Bulk",
            json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    post_user("u1", &u1),
                    post_user("u2", &u2),
                    post_user("u3", &u3),
                    {
                        "method": "POST", "path": "/Groups", "bulkId": "g1",
                        "data": {
                            "schemas": [GROUP_SCHEMA], "displayName": group_name,
                            "members": [{ "value": "bulkId:u1" }, { "value": "bulkId:u2" }]
                        }
                    },
                    {
                        "method": "PATCH", "path": "/Groups/bulkId:g1",
                        "data": patch(json!([{ "op": "add", "path": "members", "value": [{ "value": "bulkId:u3" }] }]))
                    }
                ]
            }),
        )
        .await;
    response.expect(200);
    assert_eq!(response.body["schemas"], json!([BULK_RESPONSE]));
    let ops = response.body["Operations"].as_array().expect("Operations");
    assert_eq!(ops.len(), 5, "{response}");
    let mut ids = std::collections::HashMap::new();
    for op in &ops[..4] {
        assert_eq!(op["status"], json!("201"), "{op}");
        let location = op["location"]
            .as_str()
            .expect("location of a created resource");
        let id = location.rsplit('/').next().unwrap().to_owned();
        ids.insert(op["bulkId"].as_str().unwrap().to_owned(), id);
    }
    assert_eq!(ops[4]["method"], json!("PATCH"));
    let patch_status = ops[4]["status"].as_str().unwrap();
    assert!(patch_status == "200" || patch_status == "204", "{}", ops[4]);
    assert_eq!(
        ops[3]["location"],
        json!(format!("{}/Groups/{}", tenant.base_url, ids["g1"]))
    );
    let group = tenant.get(&format!("/Groups/{}", ids["g1"])).await;
    group.expect(200);
    assert_eq!(group.body["displayName"], json!(group_name));
    assert_eq!(
        scim::member_ids(&group.body),
        scim::sorted(&[&ids["u1"], &ids["u2"], &ids["u3"]])
    );
}

#[tokio::test]
async fn put_patch_delete_operations() {
    let (_stack, tenant) = setup().await;
    let a = tenant.create_user(&unique("bulk-a")).await;
    let b = tenant.create_user(&unique("bulk-b")).await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let mut replaced = a.clone();
    replaced["title"] = json!("Bulk Title");
    let response = tenant
        .post(
            "/Bulk",
            json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    { "method": "PUT", "path": format!("/Users/{a_id}"), "data": replaced },
                    { "method": "PATCH", "path": format!("/Users/{a_id}"),
                      "data": patch(json!([{ "op": "replace", "path": "nickName", "value": "Bulky" }])) },
                    { "method": "DELETE", "path": format!("/Users/{b_id}") },
                    { "method": "DELETE", "path": format!("/Users/{}", uuid::Uuid::new_v4()) }
                ]
            }),
        )
        .await;
    response.expect(200);
    let ops = response.body["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["status"], json!("200"), "{response}");
    assert!(
        matches!(ops[1]["status"].as_str(), Some("200" | "204")),
        "{response}"
    );
    assert_eq!(ops[2]["status"], json!("204"), "{response}");
    assert_eq!(ops[3]["status"], json!("404"), "{response}");
    assert_eq!(
        ops[3]["response"]["schemas"],
        json!([scim::ERROR]),
        "{response}"
    );
    let a_after = tenant.get(&format!("/Users/{a_id}")).await;
    assert_eq!(a_after.body["title"], json!("Bulk Title"));
    assert_eq!(a_after.body["nickName"], json!("Bulky"));
    tenant
        .get(&format!("/Users/{b_id}"))
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn fail_on_errors_stops_processing() {
    let (_stack, tenant) = setup().await;
    let existing = unique("bulk-dup");
    tenant.create_user(&existing).await;
    let (first, third) = (unique("bulk-first"), unique("bulk-third"));
    let mut duplicate = scim::user(&existing.to_uppercase());
    duplicate["emails"] = json!([{ "value": format!("{}@dup.example", unique("d")) }]);
    let response = tenant
        .post(
            "/Bulk",
            json!({
                "schemas": [BULK_REQUEST],
                "failOnErrors": 1,
                "Operations": [
                    post_user("a", &first),
                    { "method": "POST", "path": "/Users", "bulkId": "b", "data": duplicate },
                    post_user("c", &third)
                ]
            }),
        )
        .await;
    response.expect(200);
    let ops = response.body["Operations"].as_array().unwrap();
    assert_eq!(
        ops.len(),
        2,
        "processing stops after the first error:\n{response}"
    );
    assert_eq!(ops[0]["status"], json!("201"));
    assert_eq!(ops[1]["status"], json!("409"));
    assert_eq!(ops[1]["response"]["scimType"], json!("uniqueness"));
    let third_found = tenant
        .get(&scim::users_filter(&format!("userName eq \"{third}\"")))
        .await;
    assert_eq!(third_found.total(), 0, "the third operation must not run");
}

#[tokio::test]
async fn without_fail_on_errors_every_operation_runs() {
    let (_stack, tenant) = setup().await;
    let existing = unique("bulk-dup2");
    tenant.create_user(&existing).await;
    let (first, third) = (unique("bulk-1st"), unique("bulk-3rd"));
    let response = tenant
        .post(
            "/Bulk",
            json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    post_user("a", &first),
                    { "method": "POST", "path": "/Users", "bulkId": "b",
                      "data": { "schemas": [USER_SCHEMA], "userName": existing } },
                    post_user("c", &third)
                ]
            }),
        )
        .await;
    response.expect(200);
    let statuses: Vec<&str> = response.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["201", "409", "201"], "{response}");
}

#[tokio::test]
async fn more_than_max_operations_is_413() {
    let (_stack, tenant) = setup().await;
    let operations: Vec<Value> = (0..1001)
        .map(|i| json!({ "method": "DELETE", "path": format!("/Users/{}", uuid::Uuid::new_v4()), "bulkId": format!("d{i}") }))
        .collect();
    let response = tenant
        .post(
            "/Bulk",
            json!({ "schemas": [BULK_REQUEST], "Operations": operations }),
        )
        .await;
    response.expect(413);
    assert_eq!(response.body["schemas"], json!([scim::ERROR]), "{response}");
    assert_eq!(response.body["status"], json!("413"));
}
