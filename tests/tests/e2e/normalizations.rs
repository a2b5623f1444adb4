//! One test per named identity-provider normalisation (`scim-edge/src/quirks.rs`): the request
//! exactly as the provider sends it succeeds, does what the provider meant, and is counted under
//! the normalisation's name on the edge's `/metrics`.

use crate::setup;
use identity_tests::scim::{ENTERPRISE_SCHEMA, enc, patch};
use identity_tests::{Response, Stack, Tenant, unique};
use serde_json::{Value, json};

/// A tenant with a user (one work email), a manager and a group holding the user.
struct Fixture {
    stack: Stack,
    tenant: Tenant,
    user_id: String,
    user_path: String,
    manager_id: String,
    group_id: String,
    group_path: String,
}

async fn fixture() -> Fixture {
    let (stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("quirk")).await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let manager = tenant.create_user(&unique("manager")).await;
    let group = tenant.create_group(&unique("quirks"), &[&user_id]).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    Fixture {
        user_path: format!("/Users/{user_id}"),
        user_id,
        manager_id: manager["id"].as_str().unwrap().to_owned(),
        group_path: format!("/Groups/{group_id}"),
        group_id,
        stack,
        tenant,
    }
}

/// Sends `request` and asserts it succeeded and was counted as `name`.
async fn counted<F>(f: &Fixture, name: &str, request: F) -> Response
where
    F: AsyncFnOnce(&Fixture) -> Response,
{
    let before = f.stack.normalization_count(name).await;
    let response = request(f).await;
    assert!(
        (200..300).contains(&response.status),
        "{name}: the provider's request must succeed\n{response}"
    );
    assert!(
        f.stack.normalization_count(name).await > before,
        "{name} was not counted"
    );
    response
}

async fn patch_user(f: &Fixture, operations: Value) -> Response {
    f.tenant.patch(&f.user_path, patch(operations)).await
}

async fn user(f: &Fixture) -> Value {
    f.tenant.get(&f.user_path).await.body
}

#[tokio::test]
async fn bare_authorization_token() {
    let f = fixture().await;
    let token = f.tenant.scim_token.clone();
    counted(&f, "bare_authorization_token", async |f| {
        f.tenant
            .with_token("")
            .request(
                reqwest::Method::GET,
                "/Users",
                None,
                &[("authorization", &token)],
            )
            .await
    })
    .await;
}

#[tokio::test]
async fn capitalised_patch_op() {
    let f = fixture().await;
    counted(&f, "capitalised_patch_op", async |f| {
        patch_user(
            f,
            json!([{ "op": "Replace", "path": "title", "value": "Pilot" }]),
        )
        .await
    })
    .await;
    assert_eq!(user(&f).await["title"], json!("Pilot"));
}

#[tokio::test]
async fn string_boolean() {
    let f = fixture().await;
    counted(&f, "string_boolean", async |f| {
        patch_user(
            f,
            json!([{ "op": "replace", "path": "active", "value": "False" }]),
        )
        .await
    })
    .await;
    assert_eq!(user(&f).await["active"], json!(false));
}

#[tokio::test]
async fn number_for_string() {
    let f = fixture().await;
    counted(&f, "number_for_string", async |f| {
        patch_user(
            f,
            json!([{ "op": "replace", "path": format!("{ENTERPRISE_SCHEMA}:employeeNumber"), "value": 4217 }]),
        )
        .await
    })
    .await;
    assert_eq!(
        user(&f).await[ENTERPRISE_SCHEMA]["employeeNumber"],
        json!("4217")
    );
}

#[tokio::test]
async fn attribute_path_keys_in_value() {
    let f = fixture().await;
    counted(&f, "attribute_path_keys_in_value", async |f| {
        patch_user(
            f,
            json!([{ "op": "Replace", "value": {
                "name.givenName": "Ada",
                format!("{ENTERPRISE_SCHEMA}:department"): "Engines"
            } }]),
        )
        .await
    })
    .await;
    let after = user(&f).await;
    assert_eq!(after["name"]["givenName"], json!("Ada"));
    assert_eq!(after[ENTERPRISE_SCHEMA]["department"], json!("Engines"));
}

#[tokio::test]
async fn bare_string_for_complex_value() {
    let f = fixture().await;
    counted(&f, "bare_string_for_complex_value", async |f| {
        patch_user(
            f,
            json!([{ "op": "Add", "path": format!("{ENTERPRISE_SCHEMA}:manager"), "value": f.manager_id }]),
        )
        .await
    })
    .await;
    assert_eq!(
        user(&f).await[ENTERPRISE_SCHEMA]["manager"]["value"],
        json!(f.manager_id)
    );
}

#[tokio::test]
async fn remove_listed_values() {
    let f = fixture().await;
    counted(&f, "remove_listed_values", async |f| {
        f.tenant
            .patch(
                &f.group_path,
                patch(json!([{ "op": "Remove", "path": "members", "value": [{ "value": f.user_id }] }])),
            )
            .await
    })
    .await;
    let group = f.tenant.get(&f.group_path).await.body;
    assert_eq!(
        group["members"],
        json!([]),
        "just the listed member is gone"
    );
}

#[tokio::test]
async fn add_creates_filtered_element() {
    let f = fixture().await;
    let home = format!("{}@home.example", unique("h"));
    counted(&f, "add_creates_filtered_element", async |f| {
        patch_user(
            f,
            json!([{ "op": "Add", "path": "emails[type eq \"home\"].value", "value": home }]),
        )
        .await
    })
    .await;
    let emails = user(&f).await["emails"].clone();
    assert!(
        emails
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == json!("home") && e["value"] == json!(home)),
        "{emails}"
    );
}

#[tokio::test]
async fn read_only_echoed() {
    let f = fixture().await;
    let renamed = unique("renamed");
    counted(&f, "read_only_echoed", async |f| {
        f.tenant
            .patch(
                &f.group_path,
                patch(json!([{ "op": "replace", "value": { "id": f.group_id, "displayName": renamed } }])),
            )
            .await
    })
    .await;
    let group = f.tenant.get(&f.group_path).await.body;
    assert_eq!(group["displayName"], json!(renamed));
}

#[tokio::test]
async fn sub_attribute_after_value_filter() {
    let f = fixture().await;
    let email = user(&f).await["emails"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = counted(&f, "sub_attribute_after_value_filter", async |f| {
        f.tenant
            .get(&format!(
                "/Users?filter={}",
                enc(&format!("emails[type eq \"work\"].value eq \"{email}\""))
            ))
            .await
    })
    .await;
    assert_eq!(found.resource_ids(), vec![f.user_id.clone()]);
}

#[tokio::test]
async fn schemas_inside_extension() {
    let f = fixture().await;
    counted(&f, "schemas_inside_extension", async |f| {
        patch_user(
            f,
            json!([{
                "op": "replace",
                "path": ENTERPRISE_SCHEMA,
                "value": { "schemas": [ENTERPRISE_SCHEMA], "department": "Tours" }
            }]),
        )
        .await
    })
    .await;
    let stored = user(&f).await;
    assert_eq!(stored[ENTERPRISE_SCHEMA]["department"], json!("Tours"));
    assert!(stored[ENTERPRISE_SCHEMA].get("schemas").is_none());
}
