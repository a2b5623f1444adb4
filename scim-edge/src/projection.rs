//! Attribute projection of returned resources: the `attributes` and `excludedAttributes`
//! parameters (RFC 7644 §3.4.2.5, §3.9) combined with the `returned` characteristic of each
//! attribute (RFC 7643 §7).
//!
//! Rules: `returned: never` attributes (password) are always removed; `returned: request`
//! attributes only appear when named in `attributes` (none exist in our schemas, the rule is
//! implemented for completeness); `id`, `schemas` and — our choice, so clients can always read
//! `meta.version` for their next `If-Match` — `meta` are returned whatever the parameters say.
//! When `attributes` is non-empty it wins and `excludedAttributes` is ignored (RFC 7644 §3.9
//! says the two are mutually exclusive in intent). Extension attributes are projected inside
//! their URN object, which disappears when nothing of it is left. `schemas` is not rewritten.
//! [`wants_attribute`] lets the HTTP layer skip expensive work (loading group members) when the
//! projection would drop the attribute anyway.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::filter::{AttrPath, parse_attr_path};
use crate::resource::is_urn;
use crate::schema::{self, AttributeDef, ResourceKind, Returned};

/// Attributes returned whatever the request says (see the module documentation for `meta`).
const ALWAYS_RETURNED: [&str; 3] = ["id", "schemas", "meta"];

/// Parses a comma-separated `attributes` / `excludedAttributes` value. Blank items are
/// ignored; a malformed item is `400 invalidPath`.
pub(crate) fn parse_attribute_list(input: &str) -> ScimResult<Vec<AttrPath>> {
    input
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            parse_attr_path(item)
                .map_err(|_| ScimError::invalid_path(format!("invalid attribute name {item:?}")))
        })
        .collect()
}

fn is_always(key: &str) -> bool {
    ALWAYS_RETURNED.iter().any(|a| a.eq_ignore_ascii_case(key))
}

/// Whether `path` designates the top-level key `key` of the container `urn` (`None` for the
/// resource's top level).
fn names(kind: ResourceKind, path: &AttrPath, urn: Option<&str>, key: &str) -> bool {
    if !path.attribute.eq_ignore_ascii_case(key) {
        return false;
    }
    match (urn, &path.schema) {
        (None, None) => true,
        (None, Some(schema)) => schema.eq_ignore_ascii_case(kind.core_schema()),
        (Some(urn), Some(schema)) => schema.eq_ignore_ascii_case(urn),
        // A bare name reaches into a known extension when the schema table puts it there.
        (Some(urn), None) => schema::resolve(kind, path)
            .and_then(|resolved| resolved.schema)
            .is_some_and(|schema| schema.id.eq_ignore_ascii_case(urn)),
    }
}

/// Whether `path` names the whole extension object `urn`.
fn names_extension(path: &AttrPath, urn: &str) -> bool {
    path.schema.is_none()
        && path.sub_attribute.is_none()
        && path.attribute.eq_ignore_ascii_case(urn)
}

/// The definition of attribute `key` in container `urn`, if the schema table has it.
fn definition(kind: ResourceKind, urn: Option<&str>, key: &str) -> Option<&'static AttributeDef> {
    let path = AttrPath {
        schema: urn.map(str::to_owned),
        attribute: key.to_owned(),
        sub_attribute: None,
    };
    schema::attribute(kind, &path)
}

/// Applies `attributes` / `excludedAttributes` and the `returned` characteristics to a
/// resource's SCIM JSON in place.
pub(crate) fn project(
    resource: &mut Value,
    kind: ResourceKind,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) {
    let Some(root) = resource.as_object_mut() else {
        return;
    };
    project_container(root, kind, None, attributes, excluded);
    let extension_keys: Vec<String> = root.keys().filter(|k| is_urn(k)).cloned().collect();
    for key in extension_keys {
        let whole_requested = attributes.iter().any(|p| names_extension(p, &key));
        let whole_excluded = excluded.iter().any(|p| names_extension(p, &key));
        if attributes.is_empty() && whole_excluded {
            root.remove(&key);
            continue;
        }
        let Some(Value::Object(container)) = root.get_mut(&key) else {
            // A non-object under a URN key is not an extension; keep it only by default.
            if !attributes.is_empty() && !whole_requested {
                root.remove(&key);
            }
            continue;
        };
        let requested = if whole_requested { &[][..] } else { attributes };
        project_container(container, kind, Some(&key), requested, excluded);
        if container.is_empty() {
            root.remove(&key);
        }
    }
}

fn project_container(
    container: &mut Map<String, Value>,
    kind: ResourceKind,
    urn: Option<&str>,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) {
    let keys: Vec<String> = container
        .keys()
        .filter(|k| urn.is_some() || !is_urn(k))
        .cloned()
        .collect();
    for key in keys {
        if urn.is_none() && is_always(&key) {
            continue;
        }
        let def = definition(kind, urn, &key);
        match def.map(|d| d.returned) {
            Some(Returned::Never) => {
                container.remove(&key);
                continue;
            }
            Some(Returned::Always) => continue,
            _ => {}
        }
        let is_request_only = def.is_some_and(|d| d.returned == Returned::Request);
        if !attributes.is_empty() {
            let named: Vec<&AttrPath> = attributes
                .iter()
                .filter(|p| names(kind, p, urn, &key))
                .collect();
            if named.is_empty() {
                container.remove(&key);
            } else if named.iter().all(|p| p.sub_attribute.is_some()) {
                let subs: Vec<&str> = named
                    .iter()
                    .filter_map(|p| p.sub_attribute.as_deref())
                    .collect();
                if let Some(value) = container.get_mut(&key) {
                    keep_subs(value, &subs);
                }
            }
            continue;
        }
        if is_request_only {
            container.remove(&key);
            continue;
        }
        for path in excluded.iter().filter(|p| names(kind, p, urn, &key)) {
            match &path.sub_attribute {
                None => {
                    container.remove(&key);
                }
                Some(sub) => {
                    if let Some(value) = container.get_mut(&key) {
                        drop_sub(value, sub);
                    }
                }
            }
        }
    }
}

/// Keeps only the sub-attributes `subs` of a complex value (or of each element).
fn keep_subs(value: &mut Value, subs: &[&str]) {
    match value {
        Value::Object(object) => {
            object.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                keep_subs(item, subs);
            }
            items.retain(|item| !item.as_object().is_some_and(Map::is_empty));
        }
        _ => {}
    }
}

fn drop_sub(value: &mut Value, sub: &str) {
    match value {
        Value::Object(object) => object.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(items) => {
            for item in items.iter_mut() {
                drop_sub(item, sub);
            }
        }
        _ => {}
    }
}

/// Whether the projection would return (any part of) the top-level attribute `name` — e.g.
/// `wants_attribute(Group, &attrs, &excluded, "members")` is false for
/// `excludedAttributes=members`, so the group's members need not be loaded.
pub(crate) fn wants_attribute(
    kind: ResourceKind,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
    name: &str,
) -> bool {
    if is_always(name) {
        return true;
    }
    let def = definition(kind, None, name);
    match def.map(|d| d.returned) {
        Some(Returned::Never) => return false,
        Some(Returned::Always) => return true,
        _ => {}
    }
    if !attributes.is_empty() {
        return attributes.iter().any(|p| names(kind, p, None, name));
    }
    if def.is_some_and(|d| d.returned == Returned::Request) {
        return false;
    }
    !excluded
        .iter()
        .any(|p| p.sub_attribute.is_none() && names(kind, p, None, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "u1",
            "userName": "bjensen",
            "password": "hunter2",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "emails": [{ "value": "a@x.com", "type": "work" }, { "value": "b@x.com", "type": "home" }],
            "meta": { "resourceType": "User", "version": "W/\"1\"" },
            ENTERPRISE_USER_SCHEMA: { "employeeNumber": "7", "manager": { "value": "m" } },
            "urn:example:ext:1.0:User": { "badge": 3 }
        })
    }

    fn projected(attributes: &str, excluded: &str) -> Value {
        let mut resource = user();
        project(
            &mut resource,
            ResourceKind::User,
            &parse_attribute_list(attributes).unwrap(),
            &parse_attribute_list(excluded).unwrap(),
        );
        resource
    }

    // RFC 7643 §7 returned: never; id, schemas and meta always.
    #[test]
    fn defaults_drop_never_returned_attributes() {
        let r = projected("", "");
        assert!(r.get("password").is_none());
        let mut expected = user();
        expected.as_object_mut().unwrap().remove("password");
        assert_eq!(r, expected);
    }

    // RFC 7644 §3.4.2.5 attributes.
    #[test]
    fn attributes_select_and_keep_always_returned() {
        let r = projected("userName,name.givenName,emails.value,employeeNumber", "");
        assert_eq!(
            r,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "id": "u1",
                "userName": "bjensen",
                "name": { "givenName": "Barbara" },
                "emails": [{ "value": "a@x.com" }, { "value": "b@x.com" }],
                "meta": { "resourceType": "User", "version": "W/\"1\"" },
                ENTERPRISE_USER_SCHEMA: { "employeeNumber": "7" }
            })
        );
        let r = projected(
            &format!("{ENTERPRISE_USER_SCHEMA}:manager.value,urn:example:ext:1.0:User:badge"),
            "",
        );
        assert_eq!(
            r[ENTERPRISE_USER_SCHEMA],
            json!({ "manager": { "value": "m" } })
        );
        assert_eq!(r["urn:example:ext:1.0:User"], json!({ "badge": 3 }));
        assert!(r.get("userName").is_none());
        let r = projected(ENTERPRISE_USER_SCHEMA, "");
        assert_eq!(r[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "7");
        assert!(r.get("urn:example:ext:1.0:User").is_none());
        let r = projected("password,USERNAME", "");
        assert!(r.get("password").is_none());
        assert_eq!(r["userName"], "bjensen");
    }

    // RFC 7644 §3.4.2.5 excludedAttributes.
    #[test]
    fn excluded_attributes_are_removed_but_not_always_returned_ones() {
        let r = projected(
            "",
            "emails,name.familyName,id,meta,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        );
        assert!(r.get("emails").is_none());
        assert_eq!(r["name"], json!({ "givenName": "Barbara" }));
        assert_eq!(r["id"], "u1");
        assert!(r.get("meta").is_some());
        assert_eq!(r[ENTERPRISE_USER_SCHEMA], json!({ "employeeNumber": "7" }));
        let r = projected("", &format!("{ENTERPRISE_USER_SCHEMA},emails.type"));
        assert!(r.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(r["emails"][0], json!({ "value": "a@x.com" }));
    }

    #[test]
    fn members_loading_decision() {
        let none: Vec<AttrPath> = Vec::new();
        let members = parse_attribute_list("members").unwrap();
        let display = parse_attribute_list("displayName").unwrap();
        let sub = parse_attribute_list("members.display").unwrap();
        assert!(wants_attribute(
            ResourceKind::Group,
            &none,
            &none,
            "members"
        ));
        assert!(!wants_attribute(
            ResourceKind::Group,
            &none,
            &members,
            "members"
        ));
        assert!(wants_attribute(ResourceKind::Group, &none, &sub, "members"));
        assert!(!wants_attribute(
            ResourceKind::Group,
            &display,
            &none,
            "members"
        ));
        assert!(wants_attribute(ResourceKind::Group, &sub, &none, "members"));
        assert!(wants_attribute(ResourceKind::Group, &display, &none, "id"));
        assert!(!wants_attribute(
            ResourceKind::User,
            &none,
            &none,
            "password"
        ));
    }

    #[test]
    fn attribute_list_parsing() {
        let list = parse_attribute_list(" userName , ,name.givenName").unwrap();
        assert_eq!(
            list,
            vec![
                AttrPath::simple("userName"),
                AttrPath::sub("name", "givenName")
            ]
        );
        assert!(parse_attribute_list("").unwrap().is_empty());
        let error = parse_attribute_list("userName,emails[type eq \"work\"]").unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidPath));
    }
}
