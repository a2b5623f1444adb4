//! RFC 7643 §5–§7 and RFC 7644 §4 — discovery: `/ServiceProviderConfig`, `/ResourceTypes` and
//! `/Schemas` tell the truth about what the service does, and every attribute definition
//! carries every characteristic.

use crate::setup;
use identity_tests::scim::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, USER_SCHEMA};
use serde_json::{Value, json};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

#[tokio::test]
async fn service_provider_config_is_truthful() {
    let (_stack, tenant) = setup().await;
    let response = tenant.get("/ServiceProviderConfig").await;
    response.expect(200);
    let config = &response.body;
    assert_eq!(config["schemas"], json!([SPC_SCHEMA]));
    assert_eq!(config["patch"]["supported"], json!(true));
    assert_eq!(config["bulk"]["supported"], json!(true));
    assert_eq!(config["bulk"]["maxOperations"], json!(1000));
    assert_eq!(config["bulk"]["maxPayloadSize"], json!(4_194_304));
    assert_eq!(config["filter"]["supported"], json!(true));
    assert_eq!(config["filter"]["maxResults"], json!(1000));
    assert_eq!(config["sort"]["supported"], json!(true));
    assert_eq!(config["etag"]["supported"], json!(true));
    assert!(config["changePassword"]["supported"].is_boolean());
    let schemes = config["authenticationSchemes"]
        .as_array()
        .expect("authenticationSchemes");
    assert!(
        schemes
            .iter()
            .any(|s| s["type"] == json!("oauthbearertoken")),
        "bearer tokens are the scheme in use:\n{response}"
    );
    for scheme in schemes {
        assert!(
            scheme["name"].is_string() && scheme["description"].is_string(),
            "{scheme}"
        );
    }
    assert_eq!(
        config["meta"]["resourceType"],
        json!("ServiceProviderConfig")
    );
}

#[tokio::test]
async fn resource_types_list_users_and_groups() {
    let (_stack, tenant) = setup().await;
    let response = tenant.get("/ResourceTypes").await;
    response.expect(200);
    assert_eq!(response.body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(response.total(), 2);
    let resources = response.resources();
    let user = resources
        .iter()
        .find(|r| r["name"] == json!("User"))
        .expect("User type");
    assert_eq!(user["endpoint"], json!("/Users"));
    assert_eq!(user["schema"], json!(USER_SCHEMA));
    assert_eq!(
        user["schemaExtensions"],
        json!([{ "schema": ENTERPRISE_SCHEMA, "required": false }])
    );
    let group = resources
        .iter()
        .find(|r| r["name"] == json!("Group"))
        .expect("Group type");
    assert_eq!(group["endpoint"], json!("/Groups"));
    assert_eq!(group["schema"], json!(GROUP_SCHEMA));

    let one = tenant.get("/ResourceTypes/User").await;
    one.expect(200);
    assert_eq!(one.body["endpoint"], json!("/Users"));
    tenant
        .get("/ResourceTypes/Printer")
        .await
        .expect_error(404, None);
}

fn attribute<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .unwrap_or_else(|| panic!("attribute {name} in {}", schema["id"]))
}

fn sub_attribute<'a>(attribute: &'a Value, name: &str) -> &'a Value {
    attribute["subAttributes"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has subAttributes", attribute["name"]))
        .iter()
        .find(|a| a["name"] == json!(name))
        .unwrap_or_else(|| panic!("sub-attribute {name} of {}", attribute["name"]))
}

/// RFC 7643 §7: every attribute definition states every characteristic.
fn assert_complete(attribute: &Value, path: &str) {
    for key in [
        "name",
        "type",
        "multiValued",
        "description",
        "required",
        "mutability",
        "returned",
        "uniqueness",
    ] {
        assert!(
            attribute.get(key).is_some(),
            "{path} lacks {key}: {attribute}"
        );
    }
    let kind = attribute["type"].as_str().unwrap();
    assert!(
        [
            "string",
            "boolean",
            "decimal",
            "integer",
            "dateTime",
            "reference",
            "complex",
            "binary"
        ]
        .contains(&kind),
        "{path} type {kind}"
    );
    if ["string", "reference", "binary"].contains(&kind) {
        assert!(
            attribute["caseExact"].is_boolean(),
            "{path} lacks caseExact: {attribute}"
        );
    }
    if kind == "reference" {
        assert!(
            attribute["referenceTypes"].is_array(),
            "{path} lacks referenceTypes: {attribute}"
        );
    }
    assert!(
        ["readOnly", "readWrite", "immutable", "writeOnly"]
            .contains(&attribute["mutability"].as_str().unwrap()),
        "{path}"
    );
    assert!(
        ["always", "never", "default", "request"]
            .contains(&attribute["returned"].as_str().unwrap()),
        "{path}"
    );
    assert!(
        ["none", "server", "global"].contains(&attribute["uniqueness"].as_str().unwrap()),
        "{path}"
    );
    if kind == "complex" {
        let subs = attribute["subAttributes"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} subAttributes"));
        assert!(!subs.is_empty(), "{path}");
        for sub in subs {
            assert_complete(
                sub,
                &format!("{path}.{}", sub["name"].as_str().unwrap_or("?")),
            );
        }
    }
}

#[tokio::test]
async fn schemas_are_complete_and_truthful() {
    let (_stack, tenant) = setup().await;
    let response = tenant.get("/Schemas").await;
    response.expect(200);
    assert_eq!(response.body["schemas"], json!([LIST_RESPONSE]));
    let schemas = response.resources();
    assert_eq!(response.total() as usize, schemas.len());
    for id in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA] {
        assert!(schemas.iter().any(|s| s["id"] == json!(id)), "{id} listed");
    }
    for schema in &schemas {
        assert!(schema["name"].is_string(), "{}", schema["id"]);
        for attr in schema["attributes"].as_array().expect("attributes") {
            assert_complete(
                attr,
                &format!(
                    "{}:{}",
                    schema["id"].as_str().unwrap(),
                    attr["name"].as_str().unwrap_or("?")
                ),
            );
        }
    }

    let user = schemas
        .iter()
        .find(|s| s["id"] == json!(USER_SCHEMA))
        .unwrap();
    let user_name = attribute(user, "userName");
    assert_eq!(user_name["required"], json!(true));
    assert_eq!(user_name["uniqueness"], json!("server"));
    assert_eq!(user_name["caseExact"], json!(false));
    let password = attribute(user, "password");
    assert_eq!(password["returned"], json!("never"));
    assert_eq!(password["mutability"], json!("writeOnly"));
    assert_eq!(attribute(user, "groups")["mutability"], json!("readOnly"));
    let emails = attribute(user, "emails");
    assert_eq!(emails["multiValued"], json!(true));
    sub_attribute(emails, "value");
    sub_attribute(emails, "primary");
    for kept in [
        "name",
        "displayName",
        "active",
        "phoneNumbers",
        "addresses",
        "entitlements",
        "x509Certificates",
    ] {
        attribute(user, kept);
    }
    let group = schemas
        .iter()
        .find(|s| s["id"] == json!(GROUP_SCHEMA))
        .unwrap();
    assert_eq!(attribute(group, "displayName")["required"], json!(true));
    let members = attribute(group, "members");
    assert_eq!(members["multiValued"], json!(true));
    sub_attribute(members, "value");
    let enterprise = schemas
        .iter()
        .find(|s| s["id"] == json!(ENTERPRISE_SCHEMA))
        .unwrap();
    let manager = attribute(enterprise, "manager");
    assert_eq!(manager["type"], json!("complex"));
    sub_attribute(manager, "value");
    for name in [
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
    ] {
        attribute(enterprise, name);
    }

    let one = tenant.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    one.expect(200);
    assert_eq!(one.body["id"], json!(USER_SCHEMA));
    assert_eq!(&one.body["attributes"], &user["attributes"]);
    tenant
        .get("/Schemas/urn:example:no:such:schema")
        .await
        .expect_error(404, None);
}
