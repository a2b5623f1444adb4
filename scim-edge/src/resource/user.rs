//! User resources (RFC 7643 §4.1, Enterprise extension §4.3) ⇄ the core's `User`.
//!
//! Input rules (the contract's): `userName` is required; readOnly attributes (`id`, `meta`,
//! `groups`) are ignored; `password` is taken out for the core's password field and never
//! returned; attributes of the core User schema the core does not model (addresses, ims,
//! photos, entitlements, roles, x509Certificates, profileUrl) and the data of any extension
//! listed in `schemas` other than the enterprise one are kept verbatim in `extra_attributes`;
//! every other attribute is refused with `400 invalidValue` naming it.

use identity_proto::identity::v1 as pb;
use identity_proto::json::{struct_from_json, struct_to_json};
use serde_json::{Map, Value, json};

use super::{
    InputMode, as_object, bool_value, check_extension_listed, is_urn, meta, put_str, schemas_of,
    string_value,
};
use crate::error::{ScimError, ScimResult};
use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use crate::state::Settings;

/// Core User schema attributes the core keeps verbatim, in their canonical case.
const VERBATIM_ATTRIBUTES: [&str; 7] = [
    "addresses",
    "ims",
    "photos",
    "entitlements",
    "roles",
    "x509Certificates",
    "profileUrl",
];

/// A validated user from a request.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub user: pb::User,
    /// The new password, when the body carries one.
    pub password: Option<String>,
}

/// The SCIM JSON of `user`, with `groups` (from `user.roles`, which the core fills when asked for
/// USER_VIEW_WITH_ROLES) when `with_groups`.
pub fn user_to_scim(user: &pb::User, settings: &Settings, with_groups: bool) -> Value {
    let mut object = Map::new();
    let mut schemas = vec![json!(USER_SCHEMA)];
    object.insert("id".into(), json!(user.id));
    put_str(&mut object, "externalId", &user.external_id);
    object.insert("userName".into(), json!(user.user_name));
    if let Some(name) = &user.name {
        let mut parts = Map::new();
        put_str(&mut parts, "formatted", &name.formatted);
        put_str(&mut parts, "familyName", &name.family_name);
        put_str(&mut parts, "givenName", &name.given_name);
        put_str(&mut parts, "middleName", &name.middle_name);
        put_str(&mut parts, "honorificPrefix", &name.honorific_prefix);
        put_str(&mut parts, "honorificSuffix", &name.honorific_suffix);
        if !parts.is_empty() {
            object.insert("name".into(), Value::Object(parts));
        }
    }
    put_str(&mut object, "displayName", &user.display_name);
    put_str(&mut object, "nickName", &user.nick_name);
    put_str(&mut object, "title", &user.title);
    put_str(&mut object, "userType", &user.user_type);
    put_str(&mut object, "preferredLanguage", &user.preferred_language);
    put_str(&mut object, "locale", &user.locale);
    put_str(&mut object, "timezone", &user.timezone);
    object.insert("active".into(), json!(user.active));
    if !user.emails.is_empty() {
        object.insert("emails".into(), contacts_to_scim(&user.emails));
    }
    if !user.phone_numbers.is_empty() {
        object.insert("phoneNumbers".into(), contacts_to_scim(&user.phone_numbers));
    }
    if let Some(extra) = &user.extra_attributes {
        for (key, value) in struct_to_json(extra) {
            if is_urn(&key) {
                schemas.push(json!(key));
            }
            object.insert(key, value);
        }
    }
    if let Some(enterprise) = &user.enterprise {
        let mut ext = Map::new();
        put_str(&mut ext, "employeeNumber", &enterprise.employee_number);
        put_str(&mut ext, "costCenter", &enterprise.cost_center);
        put_str(&mut ext, "organization", &enterprise.organization);
        put_str(&mut ext, "division", &enterprise.division);
        put_str(&mut ext, "department", &enterprise.department);
        if !enterprise.manager_id.is_empty() {
            let mut manager = Map::new();
            manager.insert("value".into(), json!(enterprise.manager_id));
            manager.insert(
                "$ref".into(),
                json!(settings.location("/Users", &enterprise.manager_id)),
            );
            put_str(
                &mut manager,
                "displayName",
                &enterprise.manager_display_name,
            );
            ext.insert("manager".into(), Value::Object(manager));
        }
        if !ext.is_empty() {
            schemas.insert(1, json!(ENTERPRISE_USER_SCHEMA));
            object.insert(ENTERPRISE_USER_SCHEMA.into(), Value::Object(ext));
        }
    }
    if with_groups {
        let groups: Vec<Value> = user
            .roles
            .iter()
            .map(|role| {
                json!({
                    "value": role.role_id,
                    "$ref": settings.location("/Groups", &role.role_id),
                    "display": role.display_name,
                    "type": "direct",
                })
            })
            .collect();
        if !groups.is_empty() {
            object.insert("groups".into(), Value::Array(groups));
        }
    }
    object.insert(
        "meta".into(),
        meta(
            "User",
            settings.location("/Users", &user.id),
            user.version,
            user.create_time.as_ref(),
            user.update_time.as_ref(),
        ),
    );
    object.insert("schemas".into(), Value::Array(schemas));
    Value::Object(object)
}

fn contacts_to_scim(values: &[pb::ContactValue]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|contact| {
                let mut object = Map::new();
                object.insert("value".into(), json!(contact.value));
                put_str(&mut object, "type", &contact.r#type);
                // always present: the core stores a boolean, so a `false` sent is a `false`
                // stored and shown (RFC 7643 §2.4 makes absent and false mean the same)
                object.insert("primary".into(), json!(contact.primary));
                put_str(&mut object, "display", &contact.display);
                Value::Object(object)
            })
            .collect(),
    )
}

/// Validates a User body and converts it for the core (managed by SCIM, active unless told
/// otherwise).
pub fn user_from_scim(body: &Value, mode: InputMode) -> ScimResult<UserInput> {
    let object = as_object(body, "user")?;
    let schemas = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .map(|(_, value)| schemas_of(value))
        .transpose()?
        .unwrap_or_default();
    let mut user = pb::User {
        active: true,
        managed_by: pb::ManagedBy::Scim as i32,
        ..pb::User::default()
    };
    let mut password = None;
    let mut extra = Map::new();
    for (key, value) in object {
        match key.to_ascii_lowercase().as_str() {
            // readOnly (RFC 7643 §7): ignored when sent
            "schemas" | "id" | "meta" | "groups" => {}
            "externalid" => user.external_id = string_value("externalId", value)?,
            "username" => user.user_name = string_value("userName", value)?,
            "displayname" => user.display_name = string_value("displayName", value)?,
            "nickname" => user.nick_name = string_value("nickName", value)?,
            "title" => user.title = string_value("title", value)?,
            "usertype" => user.user_type = string_value("userType", value)?,
            "preferredlanguage" => {
                user.preferred_language = string_value("preferredLanguage", value)?;
            }
            "locale" => user.locale = string_value("locale", value)?,
            "timezone" => user.timezone = string_value("timezone", value)?,
            "active" => user.active = bool_value("active", value)?.unwrap_or(true),
            "password" => {
                let text = string_value("password", value)?;
                password = (!text.is_empty()).then_some(text);
            }
            "name" => user.name = name_from_scim(value)?,
            "emails" => user.emails = contacts_from_scim("emails", value)?,
            "phonenumbers" => user.phone_numbers = contacts_from_scim("phoneNumbers", value)?,
            lower => {
                if let Some(canonical) = VERBATIM_ATTRIBUTES
                    .iter()
                    .find(|name| name.eq_ignore_ascii_case(lower))
                {
                    if !value.is_null() {
                        extra.insert((*canonical).to_owned(), value.clone());
                    }
                } else if key.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
                    user.enterprise = enterprise_from_scim(value)?;
                } else if key.eq_ignore_ascii_case(USER_SCHEMA) {
                    return Err(ScimError::invalid_value(format!(
                        "attribute {key} is not supported: send core attributes at the top level"
                    )));
                } else if is_urn(key) {
                    check_extension_listed(key, &schemas, mode)?;
                    if !value.is_null() {
                        extra.insert(key.clone(), value.clone());
                    }
                } else {
                    return Err(ScimError::invalid_value(format!("unknown attribute {key}")));
                }
            }
        }
    }
    if user.user_name.trim().is_empty() && mode != InputMode::Partial {
        return Err(ScimError::invalid_value("userName is required"));
    }
    if user.display_name.trim().is_empty() {
        user.display_name = fallback_display_name(user.name.as_ref());
    }
    if !extra.is_empty() {
        user.extra_attributes = Some(struct_from_json(&extra));
    }
    Ok(UserInput { user, password })
}

/// "givenName familyName" for providers that map no display name (the seed integrations
/// promise it); empty when neither part is known.
fn fallback_display_name(name: Option<&pb::PersonName>) -> String {
    let Some(name) = name else {
        return String::new();
    };
    let parts: Vec<&str> = [name.given_name.trim(), name.family_name.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        name.formatted.trim().to_owned()
    } else {
        parts.join(" ")
    }
}

fn name_from_scim(value: &Value) -> ScimResult<Option<pb::PersonName>> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        _ => return Err(ScimError::invalid_value("name must be an object")),
    };
    let mut name = pb::PersonName::default();
    for (key, value) in object {
        let field = match key.to_ascii_lowercase().as_str() {
            "formatted" => &mut name.formatted,
            "familyname" => &mut name.family_name,
            "givenname" => &mut name.given_name,
            "middlename" => &mut name.middle_name,
            "honorificprefix" => &mut name.honorific_prefix,
            "honorificsuffix" => &mut name.honorific_suffix,
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "unknown attribute name.{key}"
                )));
            }
        };
        *field = string_value(&format!("name.{key}"), value)?;
    }
    Ok(Some(name))
}

fn contacts_from_scim(attribute: &str, value: &Value) -> ScimResult<Vec<pb::ContactValue>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{attribute} must be an array"
            )));
        }
    };
    let mut contacts = Vec::with_capacity(items.len());
    for item in items {
        let Some(object) = item.as_object() else {
            return Err(ScimError::invalid_value(format!(
                "{attribute} must be an array of objects"
            )));
        };
        let mut contact = pb::ContactValue::default();
        for (key, value) in object {
            match key.to_ascii_lowercase().as_str() {
                "value" => contact.value = string_value(&format!("{attribute}.value"), value)?,
                "type" => contact.r#type = string_value(&format!("{attribute}.type"), value)?,
                "display" => {
                    contact.display = string_value(&format!("{attribute}.display"), value)?;
                }
                "primary" => {
                    contact.primary =
                        bool_value(&format!("{attribute}.primary"), value)?.unwrap_or(false);
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "unknown attribute {attribute}.{key}"
                    )));
                }
            }
        }
        if contact.value.trim().is_empty() {
            return Err(ScimError::invalid_value(format!(
                "{attribute}.value is required"
            )));
        }
        contacts.push(contact);
    }
    Ok(contacts)
}

fn enterprise_from_scim(value: &Value) -> ScimResult<Option<pb::EnterpriseAttributes>> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{ENTERPRISE_USER_SCHEMA} must be an object"
            )));
        }
    };
    let mut enterprise = pb::EnterpriseAttributes::default();
    for (key, value) in object {
        match key.to_ascii_lowercase().as_str() {
            "schemas" => crate::quirks::Quirk::SchemasInsideExtension.seen(),
            "employeenumber" => enterprise.employee_number = string_value("employeeNumber", value)?,
            "costcenter" => enterprise.cost_center = string_value("costCenter", value)?,
            "organization" => enterprise.organization = string_value("organization", value)?,
            "division" => enterprise.division = string_value("division", value)?,
            "department" => enterprise.department = string_value("department", value)?,
            "manager" => match value {
                Value::Null => {}
                // Entra and Okta PATCH send the manager as a bare id
                Value::String(id) => enterprise.manager_id = id.clone(),
                Value::Object(manager) => {
                    for (key, value) in manager {
                        match key.to_ascii_lowercase().as_str() {
                            "value" => {
                                enterprise.manager_id = string_value("manager.value", value)?
                            }
                            "displayname" => {
                                enterprise.manager_display_name =
                                    string_value("manager.displayName", value)?;
                            }
                            // derived from value on output
                            "$ref" => {}
                            _ => {
                                return Err(ScimError::invalid_value(format!(
                                    "unknown attribute manager.{key}"
                                )));
                            }
                        }
                    }
                }
                _ => return Err(ScimError::invalid_value("manager must be an object")),
            },
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "unknown attribute {ENTERPRISE_USER_SCHEMA}:{key}"
                )));
            }
        }
    }
    Ok(Some(enterprise))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::Limits;

    fn settings() -> Settings {
        Settings {
            base_url: "https://h/scim/v2".to_owned(),
            limits: Limits::default(),
            request_timeout: std::time::Duration::from_secs(1),
            max_concurrent_requests: 1,
            client_address_header: None,
        }
    }

    #[test]
    fn full_user_round_trips() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, "urn:example:ext:1.0"],
            "id": "ignored",
            "userName": "bjensen",
            "externalId": "e1",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "emails": [{ "value": "b@example.com", "type": "work", "primary": "True" }],
            "phoneNumbers": [{ "value": "+1 555", "type": "mobile" }],
            "active": "False",
            "password": "s3cret!",
            "addresses": [{ "type": "work", "postalCode": "12345" }],
            "urn:example:ext:1.0": { "badge": 7 },
            ENTERPRISE_USER_SCHEMA: {
                "employeeNumber": "42",
                "manager": { "value": "m1", "displayName": "Boss" }
            }
        });
        let input = user_from_scim(&body, InputMode::Request).unwrap();
        assert_eq!(input.password.as_deref(), Some("s3cret!"));
        assert!(!input.user.active);
        assert!(input.user.emails[0].primary);
        assert_eq!(input.user.enterprise.as_ref().unwrap().manager_id, "m1");
        let mut user = input.user;
        user.id = "u1".to_owned();
        user.version = 3;
        let json = user_to_scim(&user, &settings(), false);
        assert_eq!(json["meta"]["version"], "W/\"3\"");
        assert_eq!(json["meta"]["location"], "https://h/scim/v2/Users/u1");
        assert_eq!(json["addresses"][0]["postalCode"], "12345");
        assert_eq!(json["urn:example:ext:1.0"]["badge"], 7);
        assert_eq!(
            json[ENTERPRISE_USER_SCHEMA]["manager"]["$ref"],
            "https://h/scim/v2/Users/m1"
        );
        assert!(json.get("password").is_none());
        let schemas = json["schemas"].as_array().unwrap();
        assert!(schemas.contains(&json!(ENTERPRISE_USER_SCHEMA)));
        assert!(schemas.contains(&json!("urn:example:ext:1.0")));
        // what we return is accepted back unchanged (GET then PUT)
        let again = user_from_scim(&json, InputMode::Request).unwrap();
        assert_eq!(again.user.extra_attributes, user.extra_attributes);
        assert_eq!(again.user.enterprise, user.enterprise);
    }

    #[test]
    fn enterprise_urn_only_with_enterprise_data() {
        let input = user_from_scim(&json!({ "userName": "a" }), InputMode::Request).unwrap();
        let json = user_to_scim(&input.user, &settings(), false);
        assert_eq!(json["schemas"], json!([USER_SCHEMA]));
        assert!(json["active"].as_bool().unwrap());
    }

    #[test]
    fn unknown_and_unlisted_attributes_are_refused() {
        for body in [
            json!({ "userName": "a", "shoeSize": 9 }),
            json!({ "userName": "a", "urn:example:ext:1.0": { "x": 1 } }),
            json!({ "userName": "a", "name": { "nick": "x" } }),
            json!({ "userName": "a", "emails": "a@b.c" }),
            json!({ "userName": 5 }),
            json!({ "displayName": "no user name" }),
        ] {
            let error = user_from_scim(&body, InputMode::Request).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{body}");
        }
        let error = user_from_scim(&json!([1]), InputMode::Request).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidSyntax));
        // after a PATCH the URN need not be listed
        user_from_scim(
            &json!({ "userName": "a", "urn:example:ext:1.0": { "x": 1 } }),
            InputMode::Patched,
        )
        .unwrap();
    }

    #[test]
    fn primary_false_is_shown_and_an_inner_extension_schemas_key_is_ignored() {
        let input = user_from_scim(
            &json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "a",
                "phoneNumbers": [{ "value": "+1 555", "type": "work", "primary": false }],
                ENTERPRISE_USER_SCHEMA: {
                    "schemas": [ENTERPRISE_USER_SCHEMA],
                    "department": "Tours"
                }
            }),
            InputMode::Request,
        )
        .unwrap();
        assert_eq!(input.user.enterprise.as_ref().unwrap().department, "Tours");
        let json = user_to_scim(&input.user, &settings(), false);
        assert_eq!(json["phoneNumbers"][0]["primary"], json!(false));
        assert!(json[ENTERPRISE_USER_SCHEMA].get("schemas").is_none());
    }

    #[test]
    fn manager_may_be_a_bare_id() {
        let input = user_from_scim(
            &json!({ "userName": "a", ENTERPRISE_USER_SCHEMA: { "manager": "m2" } }),
            InputMode::Request,
        )
        .unwrap();
        assert_eq!(input.user.enterprise.unwrap().manager_id, "m2");
    }
}
