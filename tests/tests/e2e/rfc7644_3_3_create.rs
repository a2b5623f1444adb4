//! RFC 7644 §3.3 — creating resources: 201 with `Location` and `ETag`, uniqueness, required and
//! readOnly attributes, `password` never returned, the unknown-attribute rule, and adoption of
//! an existing platform user (the seed docs' "match existing users by email").

use crate::setup;
use identity_proto::identity::v1 as pb;
use identity_tests::scim::{self, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use identity_tests::{SCIM_JSON, unique};
use serde_json::json;

#[tokio::test]
async fn create_user_returns_201_with_location_etag_and_meta() {
    let (_stack, tenant) = setup().await;
    let user_name = format!("{}@example.com", unique("create"));
    let response = tenant
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA],
                "userName": user_name,
                "externalId": "ext-1",
                "displayName": "Barbara Jensen",
                "name": { "givenName": "Barbara", "familyName": "Jensen", "formatted": "Barbara Jensen" },
                "emails": [{ "value": user_name, "type": "work", "primary": true }],
                "phoneNumbers": [{ "value": "+1 555 0100", "type": "mobile" }],
                "title": "Engineer",
                "locale": "en-US",
                "active": true
            }),
        )
        .await;
    response.expect(201);
    let body = &response.body;
    let id = response.id();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "id must be the core UUID: {id}"
    );
    let location = response.header("location").expect("Location header");
    assert_eq!(location, format!("{}/Users/{id}", tenant.base_url));
    assert_eq!(body["meta"]["location"], json!(location));
    assert_eq!(body["meta"]["resourceType"], json!("User"));
    let version = body["meta"]["version"].as_str().expect("meta.version");
    assert!(
        version.starts_with("W/\"") && version.ends_with('"'),
        "weak version: {version}"
    );
    assert_eq!(response.etag(), version, "ETag header equals meta.version");
    assert!(body["meta"]["created"].is_string() && body["meta"]["lastModified"].is_string());
    assert!(
        response
            .header("content-type")
            .unwrap_or_default()
            .starts_with(SCIM_JSON),
        "content type; response:\n{response}"
    );
    assert!(
        body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(USER_SCHEMA))
    );
    assert_eq!(body["userName"], json!(user_name));
    assert_eq!(body["externalId"], json!("ext-1"));
    assert_eq!(body["displayName"], json!("Barbara Jensen"));
    assert_eq!(body["name"]["givenName"], json!("Barbara"));
    assert_eq!(body["name"]["familyName"], json!("Jensen"));
    assert_eq!(body["emails"][0]["value"], json!(user_name));
    assert_eq!(body["emails"][0]["primary"], json!(true));
    assert_eq!(body["phoneNumbers"][0]["value"], json!("+1 555 0100"));
    assert_eq!(body["title"], json!("Engineer"));
    assert_eq!(body["active"], json!(true));

    // the resource is where Location says it is
    let fetched = tenant.get(location).await;
    fetched.expect(200);
    assert_eq!(fetched.id(), id);
    assert_eq!(fetched.etag(), version);
}

#[tokio::test]
async fn create_group_with_members_returns_201() {
    let (_stack, tenant) = setup().await;
    let a = tenant.create_user(&unique("member-a")).await;
    let b = tenant.create_user(&unique("member-b")).await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    let name = unique("Engineering");
    let response = tenant
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": name,
                "externalId": "grp-ext-1",
                "members": [{ "value": a_id }, { "value": b_id }]
            }),
        )
        .await;
    response.expect(201);
    let id = response.id();
    assert_eq!(
        response.header("location"),
        Some(format!("{}/Groups/{id}", tenant.base_url).as_str())
    );
    assert_eq!(response.body["meta"]["resourceType"], json!("Group"));
    assert_eq!(
        response.etag(),
        response.body["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(response.body["displayName"], json!(name));
    assert_eq!(response.body["externalId"], json!("grp-ext-1"));
    assert_eq!(
        scim::member_ids(&response.body),
        scim::sorted(&[a_id, b_id])
    );
    let fetched = tenant.get(&format!("/Groups/{id}")).await;
    fetched.expect(200);
    assert_eq!(scim::member_ids(&fetched.body), scim::sorted(&[a_id, b_id]));
}

#[tokio::test]
async fn duplicate_user_name_is_409_uniqueness_case_insensitively() {
    let (_stack, tenant) = setup().await;
    let user_name = format!("{}@Example.com", unique("Dup"));
    tenant.create_user(&user_name).await;
    for variant in [
        user_name.clone(),
        user_name.to_uppercase(),
        user_name.to_lowercase(),
    ] {
        let mut body = scim::user(&variant);
        // a different email, so the conflict can only come from userName
        body["emails"] =
            json!([{ "value": format!("{}@other.example", unique("x")), "primary": true }]);
        tenant
            .post("/Users", body)
            .await
            .expect_error(409, Some("uniqueness"));
    }
    let listed = tenant
        .get(&scim::users_filter(&format!("userName eq \"{user_name}\"")))
        .await;
    listed.expect(200);
    assert_eq!(listed.total(), 1, "no second user was created:\n{listed}");
}

#[tokio::test]
async fn duplicate_group_display_name_is_409_uniqueness() {
    let (_stack, tenant) = setup().await;
    let name = unique("Sales");
    tenant.create_group(&name, &[]).await;
    tenant
        .post("/Groups", scim::group(&name.to_uppercase(), &[]))
        .await
        .expect_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn missing_required_attributes_are_400_invalid_value() {
    let (_stack, tenant) = setup().await;
    tenant
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "name": { "givenName": "No" } }),
        )
        .await
        .expect_error(400, Some("invalidValue"));
    tenant
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": "" }),
        )
        .await
        .expect_error(400, Some("invalidValue"));
    tenant
        .post(
            "/Groups",
            json!({ "schemas": [GROUP_SCHEMA], "members": [] }),
        )
        .await
        .expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn read_only_attributes_are_ignored_on_create() {
    let (_stack, tenant) = setup().await;
    let group = tenant.create_group(&unique("ro-group"), &[]).await;
    let mut body = scim::user(&unique("readonly"));
    body["id"] = json!("client-chosen-id");
    body["meta"] = json!({
        "resourceType": "User",
        "created": "2001-01-01T00:00:00Z",
        "lastModified": "2001-01-01T00:00:00Z",
        "version": "W/\"999\""
    });
    // groups is readOnly (RFC 7643 §4.1.2): membership is changed through /Groups only
    body["groups"] = json!([{ "value": group["id"] }]);
    let response = tenant.post("/Users", body).await;
    response.expect(201);
    let id = response.id();
    assert_ne!(id, "client-chosen-id");
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_ne!(
        response.body["meta"]["created"],
        json!("2001-01-01T00:00:00Z")
    );
    assert_ne!(response.body["meta"]["version"], json!("W/\"999\""));
    let group_after = tenant
        .get(&format!("/Groups/{}", group["id"].as_str().unwrap()))
        .await;
    group_after.expect(200);
    assert!(
        scim::member_ids(&group_after.body).is_empty(),
        "groups given on a user must not create memberships:\n{group_after}"
    );
}

#[tokio::test]
async fn password_is_accepted_and_never_returned() {
    let (stack, tenant) = setup().await;
    let mut body = scim::user(&unique("pw"));
    body["password"] = json!("t1meMa$heen-very-secret");
    let created = tenant.post("/Users", body).await;
    created.expect(201);
    assert!(
        created.body.get("password").is_none(),
        "password returned:\n{created}"
    );
    assert!(
        !created.raw.contains("t1meMa$heen"),
        "password echoed:\n{created}"
    );
    let id = created.id();
    for path in [
        format!("/Users/{id}"),
        format!("/Users/{id}?attributes=password"),
        format!("/Users/{id}?attributes=userName,password"),
    ] {
        let fetched = tenant.get(&path).await;
        fetched.expect(200);
        assert!(
            fetched.body.get("password").is_none(),
            "{path} returned password:\n{fetched}"
        );
    }
    // it was stored (as a hash): the core says so without revealing it
    let user = stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: id,
            ..Default::default()
        })
        .await
        .expect("GetUser")
        .into_inner()
        .user
        .unwrap();
    assert!(user.has_password);
}

#[tokio::test]
async fn unmodelled_core_attributes_and_custom_extensions_are_kept_verbatim() {
    let (_stack, tenant) = setup().await;
    let acme = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let addresses = json!([{
        "type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
        "region": "CA", "postalCode": "91608", "country": "US", "primary": true
    }]);
    let entitlements = json!([{ "value": "license-a" }]);
    let mut body = scim::user(&unique("verbatim"));
    body["schemas"] = json!([USER_SCHEMA, acme]);
    body["addresses"] = addresses.clone();
    body["entitlements"] = entitlements.clone();
    body["profileUrl"] = json!("https://example.com/profile/1");
    body[acme] = json!({ "badge": "42", "floors": [1, 2] });
    let created = tenant.post("/Users", body).await;
    created.expect(201);
    let fetched = tenant.get(&format!("/Users/{}", created.id())).await;
    fetched.expect(200);
    for response in [&created, &fetched] {
        assert_eq!(response.body["addresses"], addresses, "{response}");
        assert_eq!(response.body["entitlements"], entitlements, "{response}");
        assert_eq!(
            response.body["profileUrl"],
            json!("https://example.com/profile/1")
        );
        assert_eq!(
            response.body[acme],
            json!({ "badge": "42", "floors": [1, 2] })
        );
        assert!(
            response.body["schemas"]
                .as_array()
                .unwrap()
                .contains(&json!(acme))
        );
    }
}

#[tokio::test]
async fn unknown_attributes_are_400_invalid_value_naming_them() {
    let (_stack, tenant) = setup().await;
    let mut body = scim::user(&unique("unknown"));
    body["favouriteColour"] = json!("green");
    let response = tenant.post("/Users", body).await;
    response.expect_error(400, Some("invalidValue"));
    let detail = response.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("favouriteColour"),
        "detail must name the attribute:\n{response}"
    );

    // an extension's attributes are only accepted when its URN is declared in `schemas`
    let undeclared = "urn:example:params:scim:schemas:extension:undeclared:2.0:User";
    let mut body = scim::user(&unique("undeclared"));
    body[undeclared] = json!({ "x": "y" });
    tenant
        .post("/Users", body)
        .await
        .expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn enterprise_extension_is_stored_and_returned() {
    let (_stack, tenant) = setup().await;
    let manager = tenant.create_user(&unique("manager")).await;
    let mut body = scim::user(&unique("enterprise"));
    body["schemas"] = json!([USER_SCHEMA, ENTERPRISE_SCHEMA]);
    body[ENTERPRISE_SCHEMA] = json!({
        "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
        "division": "Theme Park", "department": "Tour Operations",
        "manager": { "value": manager["id"] }
    });
    let created = tenant.post("/Users", body).await;
    created.expect(201);
    let fetched = tenant.get(&format!("/Users/{}", created.id())).await;
    fetched.expect(200);
    let ext = &fetched.body[ENTERPRISE_SCHEMA];
    assert_eq!(ext["employeeNumber"], json!("701984"));
    assert_eq!(ext["costCenter"], json!("4130"));
    assert_eq!(ext["organization"], json!("Universal Studios"));
    assert_eq!(ext["division"], json!("Theme Park"));
    assert_eq!(ext["department"], json!("Tour Operations"));
    assert_eq!(ext["manager"]["value"], manager["id"]);
    assert!(
        fetched.body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE_SCHEMA))
    );
}

#[tokio::test]
async fn new_scim_users_join_the_default_role() {
    let (_stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("joiner")).await;
    let id = created["id"].as_str().unwrap();
    let role = tenant
        .get(&format!("/Groups/{}", tenant.default_role_id))
        .await;
    role.expect(200);
    assert!(
        scim::member_ids(&role.body).contains(&id.to_owned()),
        "{role}"
    );
    // groups is computed from the user's roles
    let user = tenant.get(&format!("/Users/{id}")).await;
    let groups: Vec<&str> = user.body["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(groups, vec![tenant.default_role_id.as_str()], "{user}");
}

async fn create_platform_user(
    stack: &identity_tests::Stack,
    org_id: &str,
    user_name: &str,
    email: &str,
) -> pb::User {
    stack
        .users()
        .create_user(pb::CreateUserRequest {
            organization_id: org_id.to_owned(),
            user: Some(pb::User {
                user_name: user_name.to_owned(),
                emails: vec![pb::ContactValue {
                    value: email.to_owned(),
                    r#type: "work".into(),
                    primary: true,
                    display: String::new(),
                }],
                active: true,
                managed_by: pb::ManagedBy::Platform as i32,
                ..Default::default()
            }),
            password: String::new(),
            adopt_existing: false,
            ..Default::default()
        })
        .await
        .expect("CreateUser (platform)")
        .into_inner()
        .user
        .unwrap()
}

#[tokio::test]
async fn post_for_an_existing_member_is_409_and_changes_nothing() {
    let (stack, tenant) = setup().await;
    let user_name = unique("platform-bob");
    let platform = create_platform_user(
        &stack,
        &tenant.org_id,
        &user_name,
        &format!("{}@example.com", unique("bob")),
    )
    .await;
    // user names are unique whatever their case: the provider must link (query, then PUT/PATCH)
    tenant
        .post("/Users", scim::user(&user_name.to_uppercase()))
        .await
        .expect_error(409, Some("uniqueness"));
    let after = stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: platform.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(
        after.version, platform.version,
        "the refused POST changed nothing"
    );
    assert_eq!(after.managed_by, pb::ManagedBy::Platform as i32);
}

#[tokio::test]
async fn a_matching_email_alone_never_takes_an_account_over() {
    let (stack, tenant) = setup().await;
    let email = format!("{}@example.com", unique("existing"));
    let platform =
        create_platform_user(&stack, &tenant.org_id, &unique("platform-name"), &email).await;
    // another userName with the same email is another person to SCIM (emails are not unique,
    // RFC 7643 §4.1.2); claiming an account by email alone would let a provider take it over
    let mut body = scim::user(&unique("idp-name"));
    body["emails"] = json!([{ "value": email.to_uppercase(), "type": "work", "primary": true }]);
    let response = tenant.post("/Users", body).await;
    response.expect(201);
    assert_ne!(response.id(), platform.id);
    let untouched = stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: platform.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(untouched.managed_by, pb::ManagedBy::Platform as i32);
}
