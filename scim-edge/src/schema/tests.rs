use super::*;

fn path(schema: Option<&str>, attribute: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        schema: schema.map(str::to_owned),
        attribute: attribute.to_owned(),
        sub_attribute: sub.map(str::to_owned),
    }
}

// RFC 7643 §2.1: attribute names are case-insensitive.
#[test]
fn lookup_is_case_insensitive() {
    let def = attribute(ResourceKind::User, &path(None, "USERNAME", None)).unwrap();
    assert_eq!(def.name, "userName");
    assert!(def.required);
    let def = attribute(ResourceKind::User, &path(None, "name", Some("GIVENNAME"))).unwrap();
    assert_eq!(def.name, "givenName");
}

// RFC 7644 §3.10: fully qualified paths carry the schema URN.
#[test]
fn lookup_accepts_urn_prefixes() {
    let resolved = resolve(
        ResourceKind::User,
        &path(Some(ENTERPRISE_USER_SCHEMA), "manager", Some("value")),
    )
    .unwrap();
    assert_eq!(resolved.schema.unwrap().id, ENTERPRISE_USER_SCHEMA);
    assert_eq!(resolved.target().name, "value");
    assert!(resolved.is_extension(ResourceKind::User));

    let resolved = resolve(
        ResourceKind::User,
        &path(Some(&USER_SCHEMA.to_uppercase()), "emails", None),
    )
    .unwrap();
    assert!(resolved.attribute.multi_valued);
    assert!(!resolved.is_extension(ResourceKind::User));

    // Bare extension names resolve to the extension.
    let resolved = resolve(ResourceKind::User, &path(None, "employeeNumber", None)).unwrap();
    assert_eq!(resolved.schema.unwrap().id, ENTERPRISE_USER_SCHEMA);
}

#[test]
fn lookup_rejects_unknown_names_and_foreign_schemas() {
    assert!(attribute(ResourceKind::User, &path(None, "nope", None)).is_none());
    assert!(attribute(ResourceKind::User, &path(None, "userName", Some("x"))).is_none());
    assert!(attribute(ResourceKind::Group, &path(None, "employeeNumber", None)).is_none());
    assert!(
        attribute(
            ResourceKind::Group,
            &path(Some(USER_SCHEMA), "displayName", None)
        )
        .is_none()
    );
}

// RFC 7643 §3.1: id, externalId and meta belong to every resource.
#[test]
fn common_attributes_resolve_for_both_kinds() {
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let id = resolve(kind, &path(None, "id", None)).unwrap();
        assert!(id.schema.is_none());
        assert_eq!(id.attribute.mutability, Mutability::ReadOnly);
        assert_eq!(id.attribute.returned, Returned::Always);
        let created = attribute(kind, &path(None, "meta", Some("created"))).unwrap();
        assert_eq!(created.attr_type, AttrType::DateTime);
    }
    let id = resolve(ResourceKind::Group, &path(Some(GROUP_SCHEMA), "id", None)).unwrap();
    assert!(id.schema.is_none());
}

// RFC 7643 §4.1: every core User attribute is in the table.
#[test]
fn user_schema_lists_every_attribute() {
    let names: Vec<&str> = USER_SCHEMA_DEF.attributes.iter().map(|a| a.name).collect();
    for expected in [
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    let password = USER_SCHEMA_DEF.attribute("password").unwrap();
    assert_eq!(password.returned, Returned::Never);
    assert_eq!(password.mutability, Mutability::WriteOnly);
    let groups = USER_SCHEMA_DEF.attribute("groups").unwrap();
    assert_eq!(groups.mutability, Mutability::ReadOnly);
}

// RFC 7643 §7: schema representation.
#[test]
fn schema_json_has_characteristics_and_location() {
    let schemas = schemas_json("https://example.com/scim/v2/");
    assert_eq!(schemas.len(), 3);
    let user = &schemas[0];
    assert_eq!(user["id"], USER_SCHEMA);
    assert_eq!(
        user["meta"]["location"],
        format!("https://example.com/scim/v2/Schemas/{USER_SCHEMA}")
    );
    let emails = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "emails")
        .unwrap();
    assert_eq!(emails["multiValued"], true);
    assert_eq!(emails["type"], "complex");
    let email_type = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "type")
        .unwrap();
    assert_eq!(
        email_type["canonicalValues"],
        json!(["work", "home", "other"])
    );
    assert_eq!(email_type["caseExact"], false);
    assert_eq!(email_type["uniqueness"], "none");

    let found = schema_json(&ENTERPRISE_USER_SCHEMA.to_lowercase(), "http://x").unwrap();
    assert_eq!(found["id"], ENTERPRISE_USER_SCHEMA);
    assert!(schema_json("urn:nope", "http://x").is_none());
}

// RFC 7643 §6: resource types.
#[test]
fn resource_types_describe_users_and_groups() {
    let types = resource_types_json("http://h/scim/v2");
    assert_eq!(types[0]["endpoint"], "/Users");
    assert_eq!(
        types[0]["schemaExtensions"][0]["schema"],
        ENTERPRISE_USER_SCHEMA
    );
    assert_eq!(types[0]["schemaExtensions"][0]["required"], false);
    assert_eq!(types[1]["id"], "Group");
    assert_eq!(
        types[1]["meta"]["location"],
        "http://h/scim/v2/ResourceTypes/Group"
    );
    assert!(types[1].get("schemaExtensions").is_none());
}

// RFC 7643 §5 and RFC 9865 §4.
#[test]
fn service_provider_config_tells_the_truth() {
    let limits = Limits {
        max_payload_size: 1234,
        ..Limits::default()
    };
    let config = service_provider_config_json("http://h/scim/v2", &limits);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["maxOperations"], 1000);
    assert_eq!(config["bulk"]["maxPayloadSize"], 1234);
    assert_eq!(config["filter"]["maxResults"], 1000);
    assert_eq!(config["changePassword"]["supported"], true);
    assert_eq!(config["sort"]["supported"], true);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    assert_eq!(config["pagination"]["cursor"], true);
    assert_eq!(config["pagination"]["index"], true);
    assert_eq!(config["pagination"]["defaultPaginationMethod"], "index");
    assert_eq!(config["pagination"]["defaultPageSize"], 100);
    assert_eq!(config["pagination"]["maxPageSize"], 1000);
    assert_eq!(config["pagination"]["cursorTimeout"], 3600);
    assert_eq!(
        config["meta"]["location"],
        "http://h/scim/v2/ServiceProviderConfig"
    );
}
