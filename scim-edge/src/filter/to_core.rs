//! Translation of SCIM filters and `sortBy` into the core's structured `Filter` and attribute
//! paths (`proto/identity/v1/filter.proto`, Comparison).
//!
//! Only what the core models can be filtered: attributes the core keeps verbatim in
//! `extra_attributes` (addresses, ims, …), write-only or computed attributes (password, groups)
//! and unknown extensions are refused with `invalidFilter` naming the attribute, so a client
//! never gets a silently wrong result. Values are typed here: dateTimes become timestamps,
//! booleans accept `"true"`/`"false"` strings (IdPs send them), and operators that make no
//! sense for the type (ordering on booleans, substring on dates) are refused.

use identity_proto::identity::v1 as pb;

use crate::error::{ScimError, ScimResult};
use crate::schema::{self, ENTERPRISE_USER_SCHEMA, ResourceKind};

use super::parser::parse_attr_path;
use super::{AttrPath, CompValue, CompareOp, FilterExpr};

/// How the core compares an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CoreType {
    String,
    Bool,
    Timestamp,
    /// The resource version; SCIM shows it as `W/"n"`.
    Version,
}

/// A core attribute path with its type.
#[derive(Debug, Clone, Copy)]
struct CoreAttr {
    path: &'static str,
    core_type: CoreType,
    /// Multi-valued attributes cannot be sorted on.
    multi_valued: bool,
}

const fn attr(path: &'static str, core_type: CoreType) -> CoreAttr {
    CoreAttr {
        path,
        core_type,
        multi_valued: false,
    }
}

const fn multi(path: &'static str, core_type: CoreType) -> CoreAttr {
    CoreAttr {
        path,
        core_type,
        multi_valued: true,
    }
}

fn unsupported(path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!("filtering on {path} is not supported"))
}

/// Maps a SCIM attribute path of `kind` to the core's name.
fn core_attribute(kind: ResourceKind, path: &AttrPath) -> ScimResult<CoreAttr> {
    let Some(resolved) = schema::resolve(kind, path) else {
        return Err(ScimError::invalid_filter(format!(
            "unknown attribute {path} for {}",
            kind.name()
        )));
    };
    let schema_id = resolved.schema.map(|s| s.id);
    let attribute = resolved.attribute.name;
    let sub = resolved.sub_attribute.map(|s| s.name);
    use CoreType::{Bool, String as Str, Timestamp, Version};
    let mapped = match (schema_id, attribute, sub) {
        (None, "id", None) => Some(attr("id", Str)),
        (None, "externalId", None) => Some(attr("external_id", Str)),
        (None, "meta", Some("created")) => Some(attr("create_time", Timestamp)),
        (None, "meta", Some("lastModified")) => Some(attr("update_time", Timestamp)),
        (None, "meta", Some("version")) => Some(attr("version", Version)),
        (Some(schema::USER_SCHEMA), name, sub) => match (name, sub) {
            ("userName", None) => Some(attr("user_name", Str)),
            ("displayName", None) => Some(attr("display_name", Str)),
            ("nickName", None) => Some(attr("nick_name", Str)),
            ("title", None) => Some(attr("title", Str)),
            ("userType", None) => Some(attr("user_type", Str)),
            ("preferredLanguage", None) => Some(attr("preferred_language", Str)),
            ("locale", None) => Some(attr("locale", Str)),
            ("timezone", None) => Some(attr("timezone", Str)),
            ("active", None) => Some(attr("active", Bool)),
            ("name", Some("formatted")) => Some(attr("name.formatted", Str)),
            ("name", Some("familyName")) => Some(attr("name.family_name", Str)),
            ("name", Some("givenName")) => Some(attr("name.given_name", Str)),
            ("name", Some("middleName")) => Some(attr("name.middle_name", Str)),
            ("name", Some("honorificPrefix")) => Some(attr("name.honorific_prefix", Str)),
            ("name", Some("honorificSuffix")) => Some(attr("name.honorific_suffix", Str)),
            ("emails", None | Some("value")) => Some(multi("emails.value", Str)),
            ("emails", Some("type")) => Some(multi("emails.type", Str)),
            ("emails", Some("display")) => Some(multi("emails.display", Str)),
            ("emails", Some("primary")) => Some(multi("emails.primary", Bool)),
            ("phoneNumbers", None | Some("value")) => Some(multi("phone_numbers.value", Str)),
            ("phoneNumbers", Some("type")) => Some(multi("phone_numbers.type", Str)),
            ("phoneNumbers", Some("display")) => Some(multi("phone_numbers.display", Str)),
            ("phoneNumbers", Some("primary")) => Some(multi("phone_numbers.primary", Bool)),
            _ => None,
        },
        (Some(ENTERPRISE_USER_SCHEMA), name, sub) => match (name, sub) {
            ("employeeNumber", None) => Some(attr("enterprise.employee_number", Str)),
            ("costCenter", None) => Some(attr("enterprise.cost_center", Str)),
            ("organization", None) => Some(attr("enterprise.organization", Str)),
            ("division", None) => Some(attr("enterprise.division", Str)),
            ("department", None) => Some(attr("enterprise.department", Str)),
            ("manager", None | Some("value")) => Some(attr("enterprise.manager_id", Str)),
            ("manager", Some("displayName")) => Some(attr("enterprise.manager_display_name", Str)),
            _ => None,
        },
        (Some(schema::GROUP_SCHEMA), name, sub) => match (name, sub) {
            ("displayName", None) => Some(attr("display_name", Str)),
            ("members", None | Some("value")) => Some(multi("members.user_id", Str)),
            _ => None,
        },
        _ => None,
    };
    mapped.ok_or_else(|| unsupported(path))
}

/// The element-relative core name of `sub` inside the multi-valued attribute `parent`
/// (`emails`, `phone_numbers` or `members`).
fn core_element_attribute(parent: &str, path: &AttrPath) -> ScimResult<CoreAttr> {
    use CoreType::{Bool, String as Str};
    if path.schema.is_some() || path.sub_attribute.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "{path} is not a sub-attribute of {parent}"
        )));
    }
    let name = path.attribute.to_ascii_lowercase();
    let mapped = match (parent, name.as_str()) {
        ("members", "value") => Some(attr("user_id", Str)),
        ("members", _) => None,
        (_, "value") => Some(attr("value", Str)),
        (_, "type") => Some(attr("type", Str)),
        (_, "display") => Some(attr("display", Str)),
        (_, "primary") => Some(attr("primary", Bool)),
        _ => None,
    };
    mapped.ok_or_else(|| {
        ScimError::invalid_filter(format!("filtering on {parent}.{path} is not supported"))
    })
}

/// Translates a parsed SCIM filter for `kind` into the core's filter. `and`/`or` chains are
/// flattened into one list so the core's depth bound is spent on real nesting only.
pub fn to_core_filter(expr: &FilterExpr, kind: ResourceKind) -> ScimResult<pb::Filter> {
    translate(expr, kind, None)
}

/// `element_of`: the core name of the multi-valued attribute when translating a valuePath's
/// inner filter.
fn translate(
    expr: &FilterExpr,
    kind: ResourceKind,
    element_of: Option<&str>,
) -> ScimResult<pb::Filter> {
    use pb::filter::Kind;
    let kind_of = |kind| pb::Filter { kind: Some(kind) };
    Ok(match expr {
        FilterExpr::And(..) => {
            let mut filters = Vec::new();
            flatten(expr, true, &mut |e| {
                filters.push(translate(e, kind, element_of)?);
                Ok(())
            })?;
            kind_of(Kind::And(pb::FilterList { filters }))
        }
        FilterExpr::Or(..) => {
            let mut filters = Vec::new();
            flatten(expr, false, &mut |e| {
                filters.push(translate(e, kind, element_of)?);
                Ok(())
            })?;
            kind_of(Kind::Or(pb::FilterList { filters }))
        }
        FilterExpr::Not(inner) => kind_of(Kind::Not(Box::new(translate(inner, kind, element_of)?))),
        FilterExpr::Present(path) => {
            let target = resolve_target(kind, element_of, path)?;
            kind_of(Kind::Comparison(pb::Comparison {
                attribute: target.path.to_owned(),
                operator: pb::Operator::Pr as i32,
                value: None,
            }))
        }
        FilterExpr::Compare { path, op, value } => {
            let target = resolve_target(kind, element_of, path)?;
            let value = core_value(path, target.core_type, *op, value)?;
            kind_of(Kind::Comparison(pb::Comparison {
                attribute: target.path.to_owned(),
                operator: core_operator(*op) as i32,
                value: Some(value),
            }))
        }
        FilterExpr::ValuePath { path, filter } => {
            if element_of.is_some() {
                return Err(ScimError::invalid_filter(
                    "nested value filters are not allowed",
                ));
            }
            let target = core_attribute(kind, path)?;
            if !target.multi_valued {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is not a multi-valued attribute"
                )));
            }
            // "emails.value" → "emails"; the element filter uses element-relative names.
            let parent = target.path.split('.').next().unwrap_or(target.path);
            let inner = translate(filter, kind, Some(parent))?;
            kind_of(Kind::ElementMatch(Box::new(pb::ElementMatch {
                attribute: parent.to_owned(),
                filter: Some(Box::new(inner)),
            })))
        }
    })
}

fn resolve_target(
    kind: ResourceKind,
    element_of: Option<&str>,
    path: &AttrPath,
) -> ScimResult<CoreAttr> {
    match element_of {
        Some(parent) => core_element_attribute(parent, path),
        None => core_attribute(kind, path),
    }
}

/// Visits the operands of a chain of the same operator, left to right.
fn flatten(
    expr: &FilterExpr,
    is_and: bool,
    visit: &mut dyn FnMut(&FilterExpr) -> ScimResult<()>,
) -> ScimResult<()> {
    match (expr, is_and) {
        (FilterExpr::And(left, right), true) | (FilterExpr::Or(left, right), false) => {
            flatten(left, is_and, visit)?;
            flatten(right, is_and, visit)
        }
        _ => visit(expr),
    }
}

fn core_operator(op: CompareOp) -> pb::Operator {
    match op {
        CompareOp::Eq => pb::Operator::Eq,
        CompareOp::Ne => pb::Operator::Ne,
        CompareOp::Co => pb::Operator::Co,
        CompareOp::Sw => pb::Operator::Sw,
        CompareOp::Ew => pb::Operator::Ew,
        CompareOp::Gt => pb::Operator::Gt,
        CompareOp::Ge => pb::Operator::Ge,
        CompareOp::Lt => pb::Operator::Lt,
        CompareOp::Le => pb::Operator::Le,
    }
}

fn core_value(
    path: &AttrPath,
    core_type: CoreType,
    op: CompareOp,
    value: &CompValue,
) -> ScimResult<pb::FilterValue> {
    use pb::filter_value::Kind;
    let make = |kind| pb::FilterValue { kind: Some(kind) };
    if *value == CompValue::Null {
        // RFC 7644 §3.4.2.2 only gives null a meaning for eq ("not present") and ne.
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(make(Kind::NullValue(true))),
            _ => Err(ScimError::invalid_filter(format!(
                "operator {} cannot compare {path} with null",
                op.as_str()
            ))),
        };
    }
    let wrong_type = |expected: &str| {
        ScimError::invalid_filter(format!("{path} {} expects {expected}", op.as_str()))
    };
    match core_type {
        CoreType::String => match value {
            CompValue::String(s) => Ok(make(Kind::StringValue(s.clone()))),
            _ => Err(wrong_type("a string")),
        },
        CoreType::Bool => {
            if op != CompareOp::Eq && op != CompareOp::Ne {
                return Err(ScimError::invalid_filter(format!(
                    "operator {} is not defined for boolean attribute {path}",
                    op.as_str()
                )));
            }
            match value {
                CompValue::Bool(b) => Ok(make(Kind::BoolValue(*b))),
                // Some IdPs quote booleans.
                CompValue::String(s) if s.eq_ignore_ascii_case("true") => {
                    Ok(make(Kind::BoolValue(true)))
                }
                CompValue::String(s) if s.eq_ignore_ascii_case("false") => {
                    Ok(make(Kind::BoolValue(false)))
                }
                _ => Err(wrong_type("true or false")),
            }
        }
        CoreType::Timestamp => {
            if op.is_substring() {
                return Err(ScimError::invalid_filter(format!(
                    "operator {} is not defined for dateTime attribute {path}",
                    op.as_str()
                )));
            }
            let CompValue::String(s) = value else {
                return Err(wrong_type("an RFC 3339 dateTime string"));
            };
            let parsed = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| wrong_type("an RFC 3339 dateTime string"))?;
            Ok(make(Kind::TimestampValue(
                identity_proto::prost_types::Timestamp {
                    seconds: parsed.timestamp(),
                    nanos: i32::try_from(parsed.timestamp_subsec_nanos()).unwrap_or(0),
                },
            )))
        }
        CoreType::Version => {
            if op.is_substring() {
                return Err(ScimError::invalid_filter(format!(
                    "operator {} is not defined for {path}",
                    op.as_str()
                )));
            }
            let number = match value {
                CompValue::Number(n) => n.as_i64(),
                // meta.version is shown as W/"n".
                CompValue::String(s) => s
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<i64>()
                    .ok(),
                _ => None,
            };
            number
                .map(|n| make(Kind::IntValue(n)))
                .ok_or_else(|| wrong_type("a version such as W/\"3\""))
        }
    }
}

/// The core attribute path to sort by for SCIM `sortBy` (RFC 7644 §3.4.2.3). Only
/// single-valued attributes the core models can be sorted on; anything else is
/// `400 invalidValue`. An empty `sort_by` gives an empty path (the core's default order).
pub fn core_sort_path(kind: ResourceKind, sort_by: &str) -> ScimResult<String> {
    if sort_by.trim().is_empty() {
        return Ok(String::new());
    }
    let invalid = || ScimError::invalid_value(format!("sortBy {sort_by:?} is not supported"));
    let path = parse_attr_path(sort_by).map_err(|_| invalid())?;
    let target = core_attribute(kind, &path).map_err(|_| invalid())?;
    if target.multi_valued {
        return Err(invalid());
    }
    Ok(target.path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::filter::parse_filter;
    use pb::filter::Kind;
    use pb::filter_value::Kind as ValueKind;

    fn translate_user(filter: &str) -> ScimResult<pb::Filter> {
        to_core_filter(&parse_filter(filter).unwrap(), ResourceKind::User)
    }
    fn translate_group(filter: &str) -> ScimResult<pb::Filter> {
        to_core_filter(&parse_filter(filter).unwrap(), ResourceKind::Group)
    }
    fn comparison(filter: pb::Filter) -> pb::Comparison {
        match filter.kind {
            Some(Kind::Comparison(c)) => c,
            other => panic!("not a comparison: {other:?}"),
        }
    }
    fn string_value(c: &pb::Comparison) -> &str {
        match c.value.as_ref().and_then(|v| v.kind.as_ref()) {
            Some(ValueKind::StringValue(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn assert_invalid(result: ScimResult<pb::Filter>) -> String {
        let error = result.expect_err("expected invalidFilter");
        assert_eq!(error.scim_type, Some(ScimType::InvalidFilter));
        error.detail
    }

    // The matching filters Okta and Entra send (RFC 7644 §3.4.2.2 examples).
    #[test]
    fn maps_idp_matching_filters() {
        let c = comparison(translate_user(r#"userName eq "bjensen""#).unwrap());
        assert_eq!(c.attribute, "user_name");
        assert_eq!(c.operator, pb::Operator::Eq as i32);
        assert_eq!(string_value(&c), "bjensen");
        assert_eq!(
            comparison(translate_user(r#"externalId eq "x""#).unwrap()).attribute,
            "external_id"
        );
        assert_eq!(
            comparison(translate_group(r#"displayName eq "Admins""#).unwrap()).attribute,
            "display_name"
        );
        assert_eq!(
            comparison(translate_user(r#"name.GIVENNAME sw "b""#).unwrap()).attribute,
            "name.given_name"
        );
    }

    #[test]
    fn maps_multi_valued_and_extension_paths() {
        for (filter, expected) in [
            (r#"emails eq "a@b.c""#, "emails.value"),
            (r#"emails.value eq "a@b.c""#, "emails.value"),
            (r#"phoneNumbers.type eq "work""#, "phone_numbers.type"),
            (r#"employeeNumber eq "1""#, "enterprise.employee_number"),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
                "enterprise.employee_number",
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#,
                "enterprise.manager_id",
            ),
            (
                r#"manager.displayName eq "m""#,
                "enterprise.manager_display_name",
            ),
            (r#"id eq "x""#, "id"),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
                "user_name",
            ),
        ] {
            assert_eq!(
                comparison(translate_user(filter).unwrap()).attribute,
                expected,
                "{filter}"
            );
        }
        assert_eq!(
            comparison(translate_group(r#"members.value eq "u1""#).unwrap()).attribute,
            "members.user_id"
        );
        assert_eq!(
            comparison(translate_group(r#"members eq "u1""#).unwrap()).attribute,
            "members.user_id"
        );
    }

    // valuePath → ElementMatch with element-relative names.
    #[test]
    fn maps_value_paths_to_element_match() {
        let filter =
            translate_user(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
        let Some(Kind::ElementMatch(element)) = filter.kind else {
            panic!("not an element match")
        };
        assert_eq!(element.attribute, "emails");
        let Some(Kind::And(list)) = element.filter.unwrap().kind else {
            panic!("not an and")
        };
        let names: Vec<String> = list
            .filters
            .into_iter()
            .map(|f| comparison(f).attribute)
            .collect();
        assert_eq!(names, ["type", "value"]);

        let filter = translate_group(r#"members[value eq "u1"]"#).unwrap();
        let Some(Kind::ElementMatch(element)) = filter.kind else {
            panic!("not an element match")
        };
        assert_eq!(element.attribute, "members");
        assert_eq!(comparison(*element.filter.unwrap()).attribute, "user_id");

        assert_invalid(translate_user(r#"name[givenName eq "x"]"#));
        assert_invalid(translate_group(r#"members[display eq "x"]"#));
    }

    // meta.created / meta.lastModified → timestamps (RFC 3339).
    #[test]
    fn maps_date_times() {
        let c =
            comparison(translate_user(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#).unwrap());
        assert_eq!(c.attribute, "update_time");
        assert_eq!(c.operator, pb::Operator::Gt as i32);
        let Some(ValueKind::TimestampValue(ts)) = c.value.unwrap().kind else {
            panic!("not a timestamp")
        };
        assert_eq!(ts.seconds, 1_305_261_754);
        let c = comparison(
            translate_group(r#"meta.created le "2011-05-13T04:42:34.5+01:00""#).unwrap(),
        );
        assert_eq!(c.attribute, "create_time");
        assert_invalid(translate_user(r#"meta.created gt "yesterday""#));
        assert_invalid(translate_user(r#"meta.created co "2011""#));
        assert_invalid(translate_user("meta.created gt 5"));
    }

    #[test]
    fn booleans_accept_quoted_values_but_not_ordering() {
        let c = comparison(translate_user(r#"active eq "False""#).unwrap());
        assert_eq!(c.value.unwrap().kind, Some(ValueKind::BoolValue(false)));
        let c = comparison(translate_user("emails.primary eq true").unwrap());
        assert_eq!(c.attribute, "emails.primary");
        assert_invalid(translate_user("active gt false"));
        assert_invalid(translate_user(r#"active co "t""#));
        assert_invalid(translate_user(r#"active eq "maybe""#));
        assert_invalid(translate_user("userName eq 5"));
    }

    #[test]
    fn present_null_and_version() {
        let c = comparison(translate_user("title pr").unwrap());
        assert_eq!(c.operator, pb::Operator::Pr as i32);
        assert!(c.value.is_none());
        let c = comparison(translate_user("title eq null").unwrap());
        assert_eq!(c.value.unwrap().kind, Some(ValueKind::NullValue(true)));
        assert_invalid(translate_user("title gt null"));
        let c = comparison(translate_user(r#"meta.version eq "W/\"7\"""#).unwrap());
        assert_eq!(c.attribute, "version");
        assert_eq!(c.value.unwrap().kind, Some(ValueKind::IntValue(7)));
    }

    #[test]
    fn refuses_attributes_the_core_does_not_model() {
        for filter in [
            r#"addresses.locality eq "x""#,
            r#"ims eq "x""#,
            "x509Certificates pr",
            r#"groups.value eq "g""#,
            r#"password eq "secret""#,
            r#"profileUrl eq "x""#,
            r#"nosuch eq "x""#,
            r#"urn:example:ext:1.0:User:badge eq "x""#,
            "name pr",
            r#"meta.resourceType eq "User""#,
        ] {
            let detail = assert_invalid(translate_user(filter));
            assert!(!detail.is_empty(), "{filter}");
        }
        assert!(
            assert_invalid(translate_user(r#"addresses.locality eq "x""#)).contains("addresses")
        );
        assert_invalid(translate_group(r#"userName eq "x""#));
        assert_invalid(translate_group(r#"members.display eq "x""#));
    }

    // and/or chains become one list; not stays a node.
    #[test]
    fn flattens_logical_chains() {
        let filter = translate_user(
            r#"userName eq "a" or userName eq "b" or userName eq "c" and not (active eq true)"#,
        )
        .unwrap();
        let Some(Kind::Or(list)) = filter.kind else {
            panic!("not an or")
        };
        assert_eq!(list.filters.len(), 3);
        let Some(Kind::And(and)) = &list.filters[2].kind else {
            panic!("not an and")
        };
        assert!(matches!(and.filters[1].kind, Some(Kind::Not(_))));
    }

    // RFC 7644 §3.4.2.3 sortBy.
    #[test]
    fn sort_paths() {
        assert_eq!(
            core_sort_path(ResourceKind::User, "userName").unwrap(),
            "user_name"
        );
        assert_eq!(
            core_sort_path(ResourceKind::User, "meta.created").unwrap(),
            "create_time"
        );
        assert_eq!(
            core_sort_path(ResourceKind::User, "name.familyName").unwrap(),
            "name.family_name"
        );
        assert_eq!(
            core_sort_path(ResourceKind::Group, "displayName").unwrap(),
            "display_name"
        );
        assert_eq!(core_sort_path(ResourceKind::Group, "").unwrap(), "");
        for bad in ["emails.value", "addresses", "nope", "a b"] {
            let error = core_sort_path(ResourceKind::User, bad).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{bad}");
        }
    }
}
