//! RFC 7644 §3.4.1 — retrieving a known resource: by id, 404, `attributes` and
//! `excludedAttributes` (§3.9), `If-None-Match` (§3.14) and a group without its members.

use crate::setup;
use identity_tests::scim::{self, USER_SCHEMA};
use identity_tests::unique;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn get_by_id_returns_the_resource_with_its_etag() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("get")).await;
    let id = created["id"].as_str().unwrap();
    let response = tenant.get(&format!("/Users/{id}")).await;
    response.expect(200);
    assert_eq!(response.body["id"], json!(id));
    assert_eq!(response.body["userName"], created["userName"]);
    assert_eq!(
        response.etag(),
        response.body["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(response.body["meta"]["version"], created["meta"]["version"]);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let (_stack, tenant) = setup().await;
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/Users/{missing}"),
        format!("/Groups/{missing}"),
        "/Users/not-a-uuid".to_owned(),
        "/Groups/not-a-uuid".to_owned(),
    ] {
        let response = tenant.get(&path).await;
        response.expect_error(404, None);
        assert!(response.body["detail"].is_string(), "{path}: {response}");
    }
}

#[tokio::test]
async fn attributes_selects_and_always_returned_stay() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("attrs")).await;
    let id = created["id"].as_str().unwrap();

    let only = tenant
        .get(&format!("/Users/{id}?attributes=userName"))
        .await;
    only.expect(200);
    assert_eq!(only.body["id"], json!(id), "id is returned always");
    assert_eq!(only.body["userName"], created["userName"]);
    assert!(
        only.body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(USER_SCHEMA))
    );
    for absent in ["name", "emails", "active", "displayName"] {
        assert!(
            only.body.get(absent).is_none(),
            "{absent} not requested:\n{only}"
        );
    }

    let sub = tenant
        .get(&format!("/Users/{id}?attributes=name.givenName"))
        .await;
    sub.expect(200);
    assert_eq!(sub.body["name"]["givenName"], json!("Test"));
    assert!(sub.body["name"].get("familyName").is_none(), "{sub}");
    assert!(sub.body.get("userName").is_none(), "{sub}");

    // attribute names are case-insensitive (RFC 7643 §2.1)
    let upper = tenant
        .get(&format!("/Users/{id}?attributes=USERNAME"))
        .await;
    upper.expect(200);
    assert_eq!(upper.body["userName"], created["userName"]);
    assert!(upper.body.get("emails").is_none(), "{upper}");

    // fully qualified names work too
    let urn = tenant
        .get(&format!("/Users/{id}?attributes={USER_SCHEMA}:emails"))
        .await;
    urn.expect(200);
    assert_eq!(urn.body["emails"], created["emails"]);
    assert!(urn.body.get("name").is_none(), "{urn}");
}

#[tokio::test]
async fn excluded_attributes_removes_them_but_never_id() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("excluded")).await;
    let id = created["id"].as_str().unwrap();
    let response = tenant
        .get(&format!("/Users/{id}?excludedAttributes=emails,name,id"))
        .await;
    response.expect(200);
    assert!(response.body.get("emails").is_none(), "{response}");
    assert!(response.body.get("name").is_none(), "{response}");
    assert_eq!(response.body["id"], json!(id), "id is returned always");
    assert_eq!(response.body["userName"], created["userName"]);
    assert_eq!(response.body["active"], json!(true));
}

#[tokio::test]
async fn if_none_match_gives_304_while_unchanged() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("etag")).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let etag = tenant.get(&path).await.etag();

    let same = tenant
        .request(Method::GET, &path, None, &[("if-none-match", &etag)])
        .await;
    same.expect(304);
    assert!(same.raw.is_empty(), "304 has no body:\n{same}");

    let stale = tenant
        .request(Method::GET, &path, None, &[("if-none-match", "W/\"0\"")])
        .await;
    stale.expect(200);
    assert_eq!(stale.etag(), etag);

    // after a change the old tag no longer matches
    crate::expect_patched(
        &tenant
            .patch(
                &path,
                scim::patch(json!([{ "op": "replace", "path": "title", "value": "New" }])),
            )
            .await,
    );
    let changed = tenant
        .request(Method::GET, &path, None, &[("if-none-match", &etag)])
        .await;
    changed.expect(200);
    assert_ne!(changed.etag(), etag);
    assert_eq!(changed.body["title"], json!("New"));
}

#[tokio::test]
async fn group_without_members() {
    let (_stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("gm")).await;
    let group = tenant
        .create_group(&unique("gm-group"), &[user["id"].as_str().unwrap()])
        .await;
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let full = tenant.get(&path).await;
    full.expect(200);
    assert_eq!(scim::member_ids(&full.body).len(), 1);
    let slim = tenant
        .get(&format!("{path}?excludedAttributes=members"))
        .await;
    slim.expect(200);
    assert!(slim.body.get("members").is_none(), "{slim}");
    assert_eq!(slim.body["displayName"], group["displayName"]);
    assert_eq!(slim.body["id"], group["id"]);
    assert_eq!(slim.etag(), full.etag());
}

#[tokio::test]
async fn list_honours_attributes() {
    let (_stack, tenant) = setup().await;
    let user_name = unique("listattrs");
    tenant.create_user(&user_name).await;
    let response = tenant
        .get(&format!(
            "{}&attributes=userName",
            scim::users_filter(&format!("userName eq \"{user_name}\""))
        ))
        .await;
    response.expect(200);
    let resources = response.resources();
    assert_eq!(resources.len(), 1, "{response}");
    assert_eq!(resources[0]["userName"], json!(user_name));
    assert!(resources[0]["id"].is_string());
    assert!(resources[0].get("emails").is_none(), "{response}");
    assert!(resources[0].get("name").is_none(), "{response}");
}
