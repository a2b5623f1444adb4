//! RFC 7644 §3.5.1 — replacing with PUT: every writable attribute replaced, readOnly values
//! ignored, uniqueness kept, and `If-Match` preconditions (§3.14).

use crate::setup;
use identity_tests::scim::{self, USER_SCHEMA};
use identity_tests::unique;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn put_replaces_every_writable_attribute() {
    let (_stack, tenant) = setup().await;
    let user_name = unique("put");
    let mut body = scim::user(&user_name);
    body["title"] = json!("Engineer");
    body["nickName"] = json!("Nick");
    let created = tenant.create_user_with(body).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/Users/{id}");

    let response = tenant
        .put(
            &path,
            json!({
                "schemas": [USER_SCHEMA],
                "userName": user_name,
                "name": { "givenName": "Replaced", "familyName": "Person" },
                "emails": [{ "value": format!("{user_name}@replaced.example"), "type": "home", "primary": true }],
                "active": true
            }),
        )
        .await;
    response.expect(200);
    assert_eq!(response.body["id"], json!(id));
    assert_eq!(response.body["name"]["givenName"], json!("Replaced"));
    assert!(
        response.body.get("title").is_none(),
        "title was not in the PUT:\n{response}"
    );
    assert!(response.body.get("nickName").is_none(), "{response}");
    assert_eq!(response.body["emails"].as_array().unwrap().len(), 1);
    assert_eq!(response.body["emails"][0]["type"], json!("home"));
    assert_ne!(
        response.etag(),
        created["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(
        response.etag(),
        response.body["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(response.body["meta"]["created"], created["meta"]["created"]);

    let fetched = tenant.get(&path).await;
    assert_eq!(fetched.body["name"], response.body["name"]);
    assert!(fetched.body.get("title").is_none());
}

#[tokio::test]
async fn put_ignores_read_only_attributes() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("put-ro")).await;
    let id = created["id"].as_str().unwrap();
    let mut body = created.clone();
    body["id"] = json!(uuid::Uuid::new_v4().to_string());
    body["meta"]["created"] = json!("2001-01-01T00:00:00Z");
    body["groups"] = json!([]);
    body["displayName"] = json!("Changed");
    let response = tenant.put(&format!("/Users/{id}"), body).await;
    response.expect(200);
    assert_eq!(response.body["id"], json!(id));
    assert_eq!(response.body["meta"]["created"], created["meta"]["created"]);
    assert_eq!(response.body["displayName"], json!("Changed"));
    // groups is computed: the default role membership is still there
    let groups: Vec<&str> = response.body["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(groups, vec![tenant.default_role_id.as_str()], "{response}");
}

#[tokio::test]
async fn put_to_a_taken_user_name_is_409() {
    let (_stack, tenant) = setup().await;
    let first = tenant.create_user(&unique("first")).await;
    let second = tenant.create_user(&unique("second")).await;
    let mut body = second.clone();
    body["userName"] = json!(first["userName"].as_str().unwrap().to_uppercase());
    tenant
        .put(&format!("/Users/{}", second["id"].as_str().unwrap()), body)
        .await
        .expect_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn put_unknown_id_is_404() {
    let (_stack, tenant) = setup().await;
    tenant
        .put(
            &format!("/Users/{}", uuid::Uuid::new_v4()),
            scim::user(&unique("ghost")),
        )
        .await
        .expect_error(404, None);
    tenant
        .put(
            &format!("/Groups/{}", uuid::Uuid::new_v4()),
            scim::group(&unique("ghost"), &[]),
        )
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn put_honours_if_match() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("ifmatch")).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let etag = created["meta"]["version"].as_str().unwrap().to_owned();
    let mut body = created.clone();
    body["title"] = json!("First");

    let ok = tenant
        .request(
            Method::PUT,
            &path,
            Some(body.clone()),
            &[("if-match", &etag)],
        )
        .await;
    ok.expect(200);
    let new_etag = ok.etag();
    assert_ne!(new_etag, etag);

    // the old version is stale now
    body["title"] = json!("Second");
    let stale = tenant
        .request(
            Method::PUT,
            &path,
            Some(body.clone()),
            &[("if-match", &etag)],
        )
        .await;
    stale.expect(412);
    assert_eq!(stale.body["schemas"], json!([scim::ERROR]), "{stale}");
    assert_eq!(
        tenant.get(&path).await.body["title"],
        json!("First"),
        "412 changes nothing"
    );

    let any = tenant
        .request(Method::PUT, &path, Some(body), &[("if-match", "*")])
        .await;
    any.expect(200);
    assert_eq!(any.body["title"], json!("Second"));
}

#[tokio::test]
async fn put_group_replaces_members_exactly() {
    let (_stack, tenant) = setup().await;
    let a = tenant.create_user(&unique("pa")).await;
    let b = tenant.create_user(&unique("pb")).await;
    let c = tenant.create_user(&unique("pc")).await;
    let (a, b, c) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
        c["id"].as_str().unwrap().to_owned(),
    );
    let name = unique("put-group");
    let group = tenant.create_group(&name, &[&a, &b]).await;
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let renamed = format!("{name}-renamed");
    let response = tenant.put(&path, scim::group(&renamed, &[&b, &c])).await;
    response.expect(200);
    assert_eq!(response.body["displayName"], json!(renamed));
    let fetched = tenant.get(&path).await;
    assert_eq!(scim::member_ids(&fetched.body), scim::sorted(&[&b, &c]));
    assert_eq!(fetched.body["displayName"], json!(renamed));
}
