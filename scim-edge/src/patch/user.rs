//! User PATCH without a read: a PATCH whose every operation sets a single-valued attribute to a
//! value that does not depend on the stored one (Okta's and Entra ID's deactivation, profile
//! updates of names and titles) is compiled into the core's `UpdateUser` field mask, which the
//! core applies in its own transaction. Anything else (multi-valued attributes, filters,
//! `remove`, extensions) returns `None` and goes through the general read-apply-replace path.

use serde_json::{Map, Value};

use super::{PatchOpKind, PatchOperation};

/// A compiled user PATCH: the values as a partial SCIM User (for the usual input parsing) and
/// the core field paths they set.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPatchPlan {
    /// The new values, keyed by SCIM attribute names.
    pub values: Value,
    /// `UpdateUserRequest.update_mask` paths, one per value.
    pub mask: Vec<&'static str>,
}

/// The single-valued top-level attributes a plan may set, with their core field paths.
const SIMPLE: &[(&str, &str)] = &[
    ("active", "active"),
    ("displayName", "display_name"),
    ("externalId", "external_id"),
    ("locale", "locale"),
    ("nickName", "nick_name"),
    ("preferredLanguage", "preferred_language"),
    ("timezone", "timezone"),
    ("title", "title"),
    ("userName", "user_name"),
    ("userType", "user_type"),
];

/// The sub-attributes of `name`, with their core field paths.
const NAME_PARTS: &[(&str, &str)] = &[
    ("formatted", "name.formatted"),
    ("familyName", "name.family_name"),
    ("givenName", "name.given_name"),
    ("middleName", "name.middle_name"),
    ("honorificPrefix", "name.honorific_prefix"),
    ("honorificSuffix", "name.honorific_suffix"),
];

fn lookup(
    table: &[(&'static str, &'static str)],
    key: &str,
) -> Option<(&'static str, &'static str)> {
    table
        .iter()
        .copied()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
}

/// A value a plan can carry: a string, or a boolean for `active` (Entra ID's `"False"` is
/// accepted by the input parser like everywhere else). `null` means removal: not planned.
fn plannable(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Bool(_))
}

/// Adds `attribute` (or `attribute.sub`) = `value` to the plan; false when it cannot be planned.
fn set(plan: &mut UserPatchPlan, attribute: &str, sub: Option<&str>, value: &Value) -> bool {
    if !plannable(value) {
        return false;
    }
    let object = plan
        .values
        .as_object_mut()
        .expect("the plan's values are an object");
    match sub {
        None => {
            let Some((name, path)) = lookup(SIMPLE, attribute) else {
                return false;
            };
            object.insert(name.to_owned(), value.clone());
            plan.mask.push(path);
        }
        Some(sub) if attribute.eq_ignore_ascii_case("name") => {
            let Some((name, path)) = lookup(NAME_PARTS, sub) else {
                return false;
            };
            let Value::Object(parts) = object
                .entry("name")
                .or_insert_with(|| Value::Object(Map::new()))
            else {
                return false;
            };
            parts.insert(name.to_owned(), value.clone());
            plan.mask.push(path);
        }
        Some(_) => return false,
    }
    true
}

/// Compiles `operations` into an [`UserPatchPlan`], or `None` when any of them needs the
/// stored user.
pub fn plan_user_patch(operations: &[PatchOperation]) -> Option<UserPatchPlan> {
    let mut plan = UserPatchPlan {
        values: Value::Object(Map::new()),
        mask: Vec::new(),
    };
    for operation in operations {
        if operation.op == PatchOpKind::Remove {
            return None;
        }
        let value = operation.value.as_ref()?;
        match &operation.path {
            Some(path) => {
                if path.filter.is_some() || path.path.schema.is_some() {
                    return None;
                }
                let sub = path.path.sub_attribute.as_deref();
                if !set(&mut plan, &path.path.attribute, sub, value) {
                    return None;
                }
            }
            None => {
                // add/replace without a path: an object of attributes
                for (key, value) in value.as_object()? {
                    let planned = match value {
                        Value::Object(parts) if key.eq_ignore_ascii_case("name") => parts
                            .iter()
                            .all(|(sub, value)| set(&mut plan, "name", Some(sub), value)),
                        _ if key.contains('.') || key.contains(':') => false,
                        _ => set(&mut plan, key, None, value),
                    };
                    if !planned {
                        return None;
                    }
                }
            }
        }
    }
    plan.mask.sort_unstable();
    plan.mask.dedup();
    (!plan.mask.is_empty()).then_some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::parse_patch_request;
    use serde_json::json;

    fn plan(operations: Value) -> Option<UserPatchPlan> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        });
        plan_user_patch(&parse_patch_request(&body).unwrap())
    }

    #[test]
    fn deactivation_by_okta_and_entra_is_planned() {
        let okta = plan(json!([{"op": "replace", "value": {"active": false}}])).unwrap();
        assert_eq!(okta.values, json!({"active": false}));
        assert_eq!(okta.mask, vec!["active"]);
        let entra = plan(json!([{"op": "Replace", "path": "active", "value": "False"}])).unwrap();
        assert_eq!(entra.values, json!({"active": "False"}));
        assert_eq!(entra.mask, vec!["active"]);
    }

    #[test]
    fn names_and_titles_are_planned_together() {
        let planned = plan(json!([
            {"op": "replace", "path": "name.givenName", "value": "Ada"},
            {"op": "add", "path": "title", "value": "Countess"},
            {"op": "replace", "value": {"name": {"familyName": "Lovelace"}, "displayName": "Ada L"}},
        ]))
        .unwrap();
        assert_eq!(
            planned.values,
            json!({"name": {"givenName": "Ada", "familyName": "Lovelace"}, "title": "Countess", "displayName": "Ada L"})
        );
        assert_eq!(
            planned.mask,
            vec![
                "display_name",
                "name.family_name",
                "name.given_name",
                "title"
            ]
        );
    }

    #[test]
    fn anything_that_needs_the_stored_user_is_not_planned() {
        for operations in [
            json!([{"op": "remove", "path": "title"}]),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@example.com"}]),
            json!([{"op": "add", "path": "emails", "value": [{"value": "a@example.com"}]}]),
            json!([{"op": "replace", "path": "title", "value": null}]),
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"}]),
            json!([{"op": "replace", "value": {"name.givenName": "Ada"}}]),
            json!([{"op": "replace", "path": "name", "value": {"givenName": "Ada"}}]),
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "remove", "path": "title"}]),
        ] {
            assert_eq!(plan(operations.clone()), None, "{operations}");
        }
    }
}
