//! RFC 7644 §3.6 — deleting: 204 without a body, then 404; memberships go with the user; a
//! deleted group leaves its users alone; `If-Match` applies.

use crate::setup;
use identity_tests::scim;
use identity_tests::unique;
use reqwest::Method;

#[tokio::test]
async fn delete_user_then_404() {
    let (_stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("del")).await;
    let id = user["id"].as_str().unwrap();
    let group = tenant.create_group(&unique("del-group"), &[id]).await;
    let path = format!("/Users/{id}");
    let response = tenant.delete(&path).await;
    response.expect(204);
    assert!(response.raw.is_empty(), "204 has no body:\n{response}");
    tenant.get(&path).await.expect_error(404, None);
    tenant.delete(&path).await.expect_error(404, None);
    let group_after = tenant
        .get(&format!("/Groups/{}", group["id"].as_str().unwrap()))
        .await;
    assert!(
        scim::member_ids(&group_after.body).is_empty(),
        "{group_after}"
    );
    let listed = tenant
        .get(&scim::users_filter(&format!(
            "userName eq \"{}\"",
            user["userName"].as_str().unwrap()
        )))
        .await;
    assert_eq!(listed.total(), 0);
}

#[tokio::test]
async fn delete_group_keeps_its_users() {
    let (_stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("keep")).await;
    let id = user["id"].as_str().unwrap();
    let group = tenant.create_group(&unique("gone"), &[id]).await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    tenant.delete(&group_path).await.expect(204);
    tenant.get(&group_path).await.expect_error(404, None);
    let user_after = tenant.get(&format!("/Users/{id}")).await;
    user_after.expect(200);
    let groups: Vec<&str> = user_after.body["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["value"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !groups.contains(&group["id"].as_str().unwrap()),
        "{user_after}"
    );
}

#[tokio::test]
async fn delete_honours_if_match() {
    let (_stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("del-if")).await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let response = tenant
        .request(Method::DELETE, &path, None, &[("if-match", "W/\"999999\"")])
        .await;
    response.expect(412);
    tenant.get(&path).await.expect(200);
    let etag = user["meta"]["version"].as_str().unwrap();
    tenant
        .request(Method::DELETE, &path, None, &[("if-match", etag)])
        .await
        .expect(204);
    tenant.get(&path).await.expect_error(404, None);
}
