//! RFC 7644 §3.4.3 — querying with POST: `/.search` at the root and on each resource type, with
//! the same filter, paging, sorting and attribute rules as GET.

use crate::setup;
use identity_tests::scim::{self, LIST_RESPONSE, SEARCH_REQUEST};
use identity_tests::unique;
use serde_json::json;

#[tokio::test]
async fn users_search_filters_sorts_pages_and_projects() {
    let (_stack, tenant) = setup().await;
    let prefix = unique("search");
    for who in ["c", "a", "b"] {
        tenant.create_user(&format!("{prefix}-{who}")).await;
    }
    let response = tenant
        .post(
            "/Users/.search",
            json!({
                "schemas": [SEARCH_REQUEST],
                "filter": format!("userName sw \"{prefix}\""),
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 1,
                "count": 2,
                "attributes": ["userName"]
            }),
        )
        .await;
    response.expect(200);
    assert_eq!(response.body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(response.total(), 3);
    assert_eq!(response.body["itemsPerPage"], json!(2));
    let resources = response.resources();
    let names: Vec<&str> = resources
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![format!("{prefix}-c"), format!("{prefix}-b")]);
    assert!(
        resources.iter().all(|r| r.get("emails").is_none()),
        "{response}"
    );

    let excluded = tenant
        .post(
            "/Users/.search",
            json!({
                "schemas": [SEARCH_REQUEST],
                "filter": format!("userName eq \"{prefix}-a\""),
                "excludedAttributes": ["emails"]
            }),
        )
        .await;
    excluded.expect(200);
    assert_eq!(excluded.total(), 1);
    let found = &excluded.resources()[0];
    assert!(
        found.get("emails").is_none() && found["name"].is_object(),
        "{excluded}"
    );
}

#[tokio::test]
async fn groups_search() {
    let (_stack, tenant) = setup().await;
    let name = unique("Searched");
    let group = tenant.create_group(&name, &[]).await;
    let response = tenant
        .post(
            "/Groups/.search",
            json!({ "schemas": [SEARCH_REQUEST], "filter": format!("displayName eq \"{name}\"") }),
        )
        .await;
    response.expect(200);
    assert_eq!(response.total(), 1);
    assert_eq!(
        response.resource_ids(),
        vec![group["id"].as_str().unwrap().to_owned()]
    );
}

#[tokio::test]
async fn root_search_spans_resource_types() {
    let (_stack, tenant) = setup().await;
    let shared = unique("Shared Name");
    let mut body = scim::user(&unique("root"));
    body["displayName"] = json!(shared);
    let user = tenant.create_user_with(body).await;
    let group = tenant.create_group(&shared, &[]).await;
    let response = tenant
        .post(
            "/.search",
            json!({ "schemas": [SEARCH_REQUEST], "filter": format!("displayName eq \"{shared}\"") }),
        )
        .await;
    response.expect(200);
    assert_eq!(response.total(), 2, "{response}");
    let mut found: Vec<(String, String)> = response
        .resources()
        .iter()
        .map(|r| {
            (
                r["meta"]["resourceType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("Group".to_owned(), group["id"].as_str().unwrap().to_owned()),
            ("User".to_owned(), user["id"].as_str().unwrap().to_owned()),
        ]
    );
}

#[tokio::test]
async fn search_with_invalid_filter_is_400() {
    let (_stack, tenant) = setup().await;
    for path in ["/Users/.search", "/Groups/.search", "/.search"] {
        tenant
            .post(
                path,
                json!({ "schemas": [SEARCH_REQUEST], "filter": "userName eq" }),
            )
            .await
            .expect_error(400, Some("invalidFilter"));
    }
}
