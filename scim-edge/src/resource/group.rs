//! Group resources (RFC 7643 §4.2) ⇄ the core's `Role` and `RoleMember`s.
//!
//! Members are users only (`type` "User"; nested groups are refused with `400 invalidValue`).
//! `displayName` is required. Extension data under a URN listed in `schemas` is kept verbatim
//! in `extra_attributes`; any other unknown attribute is refused naming it.

use identity_proto::identity::v1 as pb;
use identity_proto::json::{struct_from_json, struct_to_json};
use serde_json::{Map, Value, json};

use super::{
    InputMode, as_object, check_extension_listed, is_urn, meta, put_str, schemas_of, string_value,
};
use crate::error::{ScimError, ScimResult};
use crate::schema::GROUP_SCHEMA;
use crate::state::Settings;

/// A validated group from a request.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInput {
    pub role: pb::Role,
    /// The member user ids, when the body has a `members` attribute.
    pub members: Option<Vec<String>>,
}

/// The SCIM JSON of `role`, with `members` when given.
pub fn group_to_scim(
    role: &pb::Role,
    settings: &Settings,
    members: Option<&[pb::RoleMember]>,
) -> Value {
    let mut object = Map::new();
    let mut schemas = vec![json!(GROUP_SCHEMA)];
    object.insert("id".into(), json!(role.id));
    put_str(&mut object, "externalId", &role.external_id);
    object.insert("displayName".into(), json!(role.display_name));
    if let Some(extra) = &role.extra_attributes {
        for (key, value) in struct_to_json(extra) {
            if is_urn(&key) {
                schemas.push(json!(key));
            }
            object.insert(key, value);
        }
    }
    if let Some(members) = members {
        object.insert(
            "members".into(),
            Value::Array(
                members
                    .iter()
                    .map(|m| member_to_scim(m, settings))
                    .collect(),
            ),
        );
    }
    object.insert(
        "meta".into(),
        meta(
            "Group",
            settings.location("/Groups", &role.id),
            role.version,
            role.create_time.as_ref(),
            role.update_time.as_ref(),
        ),
    );
    object.insert("schemas".into(), Value::Array(schemas));
    Value::Object(object)
}

/// One element of `members`.
pub fn member_to_scim(member: &pb::RoleMember, settings: &Settings) -> Value {
    let display = if member.display_name.is_empty() {
        &member.user_name
    } else {
        &member.display_name
    };
    let mut object = Map::new();
    object.insert("value".into(), json!(member.user_id));
    object.insert(
        "$ref".into(),
        json!(settings.location("/Users", &member.user_id)),
    );
    put_str(&mut object, "display", display);
    object.insert("type".into(), json!("User"));
    Value::Object(object)
}

/// Validates a Group body and converts it for the core.
pub fn group_from_scim(body: &Value, mode: InputMode) -> ScimResult<GroupInput> {
    let object = as_object(body, "group")?;
    let schemas = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .map(|(_, value)| schemas_of(value))
        .transpose()?
        .unwrap_or_default();
    let mut role = pb::Role {
        managed_by: pb::ManagedBy::Scim as i32,
        ..pb::Role::default()
    };
    let mut members = None;
    let mut extra = Map::new();
    for (key, value) in object {
        match key.to_ascii_lowercase().as_str() {
            "schemas" | "id" | "meta" => {}
            "displayname" => role.display_name = string_value("displayName", value)?,
            "externalid" => role.external_id = string_value("externalId", value)?,
            "members" => members = Some(member_ids(value)?),
            _ if key.eq_ignore_ascii_case(GROUP_SCHEMA) => {
                return Err(ScimError::invalid_value(format!(
                    "attribute {key} is not supported: send core attributes at the top level"
                )));
            }
            _ if is_urn(key) => {
                check_extension_listed(key, &schemas, mode)?;
                if !value.is_null() {
                    extra.insert(key.clone(), value.clone());
                }
            }
            _ => return Err(ScimError::invalid_value(format!("unknown attribute {key}"))),
        }
    }
    if role.display_name.trim().is_empty() {
        return Err(ScimError::invalid_value("displayName is required"));
    }
    if !extra.is_empty() {
        role.extra_attributes = Some(struct_from_json(&extra));
    }
    Ok(GroupInput { role, members })
}

/// The user ids of a `members` value (`[{"value": id}, ...]`), without duplicates.
pub fn member_ids(value: &Value) -> ScimResult<Vec<String>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(ScimError::invalid_value("members must be an array")),
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    // repeats are dropped; a set keeps that linear for groups of tens of thousands
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for item in items {
        let Some(object) = item.as_object() else {
            return Err(ScimError::invalid_value(
                "members must be an array of objects",
            ));
        };
        let mut id = None;
        for (key, value) in object {
            match key.to_ascii_lowercase().as_str() {
                "value" => id = Some(string_value("members.value", value)?),
                "type" => {
                    let kind = string_value("members.type", value)?;
                    if !kind.is_empty() && !kind.eq_ignore_ascii_case("User") {
                        return Err(ScimError::invalid_value(format!(
                            "members of type {kind:?} are not supported: only users can be members"
                        )));
                    }
                }
                "display" | "$ref" => {}
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "unknown attribute members.{key}"
                    )));
                }
            }
        }
        match id {
            Some(id) if !id.trim().is_empty() => {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
            _ => return Err(ScimError::invalid_value("members.value is required")),
        }
    }
    Ok(ids)
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
    fn group_round_trips() {
        let input = group_from_scim(
            &json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Eng",
                "members": [{ "value": "u1", "display": "x" }, { "value": "u2", "type": "User" }, { "value": "u1" }]
            }),
            InputMode::Request,
        )
        .unwrap();
        assert_eq!(input.members, Some(vec!["u1".to_owned(), "u2".to_owned()]));
        let mut role = input.role;
        role.id = "g1".to_owned();
        role.version = 2;
        let member = pb::RoleMember {
            user_id: "u1".to_owned(),
            user_name: "alice".to_owned(),
            ..pb::RoleMember::default()
        };
        let json = group_to_scim(&role, &settings(), Some(&[member]));
        assert_eq!(json["members"][0]["display"], "alice");
        assert_eq!(json["members"][0]["$ref"], "https://h/scim/v2/Users/u1");
        assert_eq!(json["meta"]["location"], "https://h/scim/v2/Groups/g1");
        let slim = group_to_scim(&role, &settings(), None);
        assert!(slim.get("members").is_none());
    }

    #[test]
    fn bad_groups_are_refused() {
        for body in [
            json!({ "members": [] }),
            json!({ "displayName": "x", "members": [{ "value": "g", "type": "Group" }] }),
            json!({ "displayName": "x", "members": [{ "display": "no id" }] }),
            json!({ "displayName": "x", "owner": "me" }),
        ] {
            let error = group_from_scim(&body, InputMode::Request).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{body}");
        }
    }
}
