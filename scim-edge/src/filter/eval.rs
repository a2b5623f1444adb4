//! In-memory evaluation of a filter against SCIM JSON (RFC 7644 §3.4.2.2), used by PATCH
//! valuePaths (§3.5.2) to pick the elements of a multi-valued attribute.
//!
//! Semantics: attribute names are matched case-insensitively; a multi-valued attribute matches
//! when any of its values does; comparing a multi-valued complex attribute without a
//! sub-attribute compares its `value` sub-attribute; strings compare case-insensitively unless
//! the schema says `caseExact`; dateTime attributes compare as instants; `eq null` means "not
//! present"; ordering and substring operators on booleans are false rather than errors (the
//! errors are raised where filters reach the core, in `to_core`).

use std::cmp::Ordering;

use serde_json::Value;

use crate::schema::{self, AttrType, AttributeDef, ResourceKind};

use super::{AttrPath, CompValue, CompareOp, FilterExpr};

/// Evaluates `expr` against `value` without schema knowledge: every string comparison is
/// case-insensitive (the RFC 7643 default for `caseExact`).
pub fn matches(expr: &FilterExpr, value: &Value) -> bool {
    eval(expr, value, Context::default())
}

/// Evaluates `expr` against a whole resource of kind `kind`, with `caseExact` and types from
/// the schema.
pub fn matches_resource(expr: &FilterExpr, resource: &Value, kind: ResourceKind) -> bool {
    eval(
        expr,
        resource,
        Context {
            kind: Some(kind),
            parent: None,
        },
    )
}

/// Evaluates `expr` against one element of the multi-valued attribute `parent` (paths in
/// `expr` name the element's sub-attributes).
pub fn matches_element(
    expr: &FilterExpr,
    element: &Value,
    kind: ResourceKind,
    parent: &'static AttributeDef,
) -> bool {
    eval(
        expr,
        element,
        Context {
            kind: Some(kind),
            parent: Some(parent),
        },
    )
}

#[derive(Debug, Clone, Copy, Default)]
struct Context {
    kind: Option<ResourceKind>,
    /// Set when evaluating inside one element of this attribute.
    parent: Option<&'static AttributeDef>,
}

/// Case-insensitive key lookup (RFC 7643 §2.1).
pub(crate) fn get_ci<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn eval(expr: &FilterExpr, value: &Value, ctx: Context) -> bool {
    match expr {
        FilterExpr::And(left, right) => eval(left, value, ctx) && eval(right, value, ctx),
        FilterExpr::Or(left, right) => eval(left, value, ctx) || eval(right, value, ctx),
        FilterExpr::Not(inner) => !eval(inner, value, ctx),
        FilterExpr::Present(path) => {
            let (values, _) = resolve_values(value, path, ctx);
            values.into_iter().any(is_present)
        }
        FilterExpr::Compare {
            path,
            op,
            value: literal,
        } => {
            let (values, def) = resolve_values(value, path, ctx);
            let values: Vec<&Value> = values
                .into_iter()
                .filter_map(|v| match v {
                    // `emails eq "x"` compares each element's `value`.
                    Value::Object(_) => get_ci(v, "value"),
                    other => Some(other),
                })
                .filter(|v| !v.is_null())
                .collect();
            if *literal == CompValue::Null {
                return match op {
                    CompareOp::Eq => values.iter().all(|v| !is_present(v)),
                    CompareOp::Ne => values.iter().any(|v| is_present(v)),
                    _ => false,
                };
            }
            let case_exact = def.is_some_and(|d| d.case_exact);
            let date_time = def.is_some_and(|d| d.attr_type == AttrType::DateTime);
            values
                .into_iter()
                .any(|candidate| compare(candidate, *op, literal, case_exact, date_time))
        }
        FilterExpr::ValuePath { path, filter } => {
            let (values, def) = resolve_values(value, path, ctx);
            let element_ctx = Context {
                kind: ctx.kind,
                parent: def.filter(|d| d.is_complex()),
            };
            values
                .into_iter()
                .any(|element| eval(filter, element, element_ctx))
        }
    }
}

/// The values `path` designates in `value` (arrays flattened) and the schema definition of the
/// path's end when known.
fn resolve_values<'v>(
    value: &'v Value,
    path: &AttrPath,
    ctx: Context,
) -> (Vec<&'v Value>, Option<&'static AttributeDef>) {
    let def = match (ctx.parent, ctx.kind) {
        (Some(parent), _) => parent
            .sub_attribute(&path.attribute)
            .filter(|_| path.sub_attribute.is_none()),
        (None, Some(kind)) => schema::attribute(kind, path),
        (None, None) => None,
    };
    let container = match &path.schema {
        Some(urn) => get_ci(value, urn).unwrap_or(value),
        None => value,
    };
    let mut out = Vec::new();
    // A bare name may be an extension attribute, which lives under its schema URN key.
    let found = get_ci(container, &path.attribute).or_else(|| {
        if path.schema.is_some() || ctx.parent.is_some() {
            return None;
        }
        value.as_object()?.iter().find_map(|(key, nested)| {
            if crate::resource::is_urn(key) {
                get_ci(nested, &path.attribute)
            } else {
                None
            }
        })
    });
    let Some(attribute) = found else {
        return (out, def);
    };
    match &path.sub_attribute {
        None => flatten_into(attribute, &mut out),
        Some(sub) => {
            let mut parents = Vec::new();
            flatten_into(attribute, &mut parents);
            for parent in parents {
                if let Some(found) = get_ci(parent, sub) {
                    flatten_into(found, &mut out);
                }
            }
        }
    }
    (out, def)
}

fn flatten_into<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => out.extend(items.iter()),
        other => out.push(other),
    }
}

/// RFC 7644 §3.4.2.2 `pr`: the attribute has a non-empty value.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(object) => !object.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(
    candidate: &Value,
    op: CompareOp,
    literal: &CompValue,
    case_exact: bool,
    date_time: bool,
) -> bool {
    match (candidate, literal) {
        (Value::String(actual), CompValue::String(expected)) => {
            if date_time
                && let (Ok(a), Ok(b)) = (
                    chrono::DateTime::parse_from_rfc3339(actual),
                    chrono::DateTime::parse_from_rfc3339(expected),
                )
            {
                return apply_ordering(op, a.cmp(&b));
            }
            let (actual, expected) = if case_exact {
                (actual.clone(), expected.clone())
            } else {
                (actual.to_lowercase(), expected.to_lowercase())
            };
            match op {
                CompareOp::Co => actual.contains(&expected),
                CompareOp::Sw => actual.starts_with(&expected),
                CompareOp::Ew => actual.ends_with(&expected),
                _ => apply_ordering(op, actual.cmp(&expected)),
            }
        }
        (Value::Bool(actual), CompValue::Bool(expected)) => match op {
            CompareOp::Eq => actual == expected,
            CompareOp::Ne => actual != expected,
            _ => false,
        },
        (Value::Number(actual), CompValue::Number(expected)) => {
            let ordering = match (actual.as_i64(), expected.as_i64()) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => actual
                    .as_f64()
                    .zip(expected.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
            };
            match (op, ordering) {
                (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) | (_, None) => false,
                (_, Some(ordering)) => apply_ordering(op, ordering),
            }
        }
        // Different JSON types are never equal.
        _ => op == CompareOp::Ne,
    }
}

fn apply_ordering(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        // Substring operators on non-strings (dateTimes compared as instants) never match.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA_DEF, USER_SCHEMA_DEF};
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Ext-1",
            "userName": "BJensen@example.com",
            "name": { "familyName": "Jensen", "givenName": "Barbara" },
            "active": true,
            "title": "",
            "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@jensen.org", "type": "home" }
            ],
            "meta": { "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z" },
            ENTERPRISE_USER_SCHEMA: { "employeeNumber": "701984", "manager": { "value": "26118915" } }
        })
    }

    fn check(filter: &str) -> bool {
        matches_resource(&parse_filter(filter).unwrap(), &user(), ResourceKind::User)
    }

    // RFC 7644 §3.4.2.2, Table 3: operators.
    #[test]
    fn string_operators_are_case_insensitive_by_default() {
        assert!(check(r#"userName eq "bjensen@EXAMPLE.com""#));
        assert!(check(r#"USERNAME sw "bjen""#));
        assert!(check(r#"userName ew "@example.com""#));
        assert!(check(r#"name.familyName co "ENS""#));
        assert!(!check(r#"userName ne "bjensen@example.com""#));
        assert!(check(r#"name.givenName gt "Alice""#));
        assert!(check(r#"name.givenName le "barbara""#));
    }

    // RFC 7643 §2.4 caseExact: id and externalId are case-exact.
    #[test]
    fn case_exact_attributes_compare_exactly() {
        assert!(check(r#"externalId eq "Ext-1""#));
        assert!(!check(r#"externalId eq "ext-1""#));
        // Without schema knowledge everything is case-insensitive.
        assert!(matches(
            &parse_filter(r#"externalId eq "ext-1""#).unwrap(),
            &user()
        ));
    }

    #[test]
    fn presence_booleans_and_null() {
        assert!(check("userName pr"));
        assert!(!check("title pr"), "empty strings are not present");
        assert!(!check("nickName pr"));
        assert!(check("active eq true"));
        assert!(!check("active eq false"));
        assert!(!check("active gt false"));
        assert!(check("nickName eq null"));
        assert!(!check("userName eq null"));
        assert!(check("userName ne null"));
        assert!(!check(r#"active eq "true""#), "types differ");
    }

    // dateTime attributes compare chronologically (RFC 7644 §3.4.2.2 "gt").
    #[test]
    fn date_times_compare_as_instants() {
        assert!(check(r#"meta.lastModified gt "2011-05-13T00:00:00Z""#));
        assert!(check(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#));
        assert!(!check(r#"meta.created ge "2011-01-01T00:00:00Z""#));
    }

    // Multi-valued attributes match when any value does; `emails eq` compares `value`.
    #[test]
    fn multi_valued_any_semantics() {
        assert!(check(r#"emails eq "babs@jensen.org""#));
        assert!(check(r#"emails.type eq "home""#));
        assert!(check(
            r#"emails[type eq "work" and value co "@example.com"]"#
        ));
        assert!(!check(
            r#"emails[type eq "home" and value co "@example.com"]"#
        ));
        assert!(check(r#"emails[not (primary pr)]"#));
        assert!(check(
            r#"emails[type eq "work"] and not (emails[type eq "other"])"#
        ));
    }

    // RFC 7644 §3.10: URN-qualified extension paths.
    #[test]
    fn extension_paths() {
        assert!(check(&format!(
            r#"{ENTERPRISE_USER_SCHEMA}:employeeNumber eq "701984""#
        )));
        assert!(check(&format!(
            "{ENTERPRISE_USER_SCHEMA}:manager.value sw \"2611\""
        )));
        // A bare extension attribute name is found under its URN key.
        assert!(check(r#"employeeNumber eq "701984""#));
        assert!(check("manager.value pr"));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#
        ));
    }

    #[test]
    fn numbers_compare_numerically() {
        let value = json!({ "n": 10, "f": 2.5 });
        assert!(matches(&parse_filter("n gt 9").unwrap(), &value));
        assert!(matches(&parse_filter("n eq 10.0").unwrap(), &value));
        assert!(matches(&parse_filter("f lt 3").unwrap(), &value));
        assert!(!matches(&parse_filter("n co 1").unwrap(), &value));
    }

    // Element evaluation as used by PATCH valuePaths.
    #[test]
    fn element_context_uses_sub_attribute_definitions() {
        let members = GROUP_SCHEMA_DEF.attribute("members").unwrap();
        let element = json!({ "value": "ABC", "display": "Babs" });
        let filter = parse_filter(r#"value eq "abc""#).unwrap();
        assert!(!matches_element(
            &filter,
            &element,
            ResourceKind::Group,
            members
        ));
        assert!(matches(&filter, &element));
        let emails = USER_SCHEMA_DEF.attribute("emails").unwrap();
        let element = json!({ "value": "A@x.com", "type": "Work" });
        let filter = parse_filter(r#"type eq "work" and value eq "a@X.com""#).unwrap();
        assert!(matches_element(
            &filter,
            &element,
            ResourceKind::User,
            emails
        ));
    }
}
