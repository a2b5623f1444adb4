//! SCIM PATCH (RFC 7644 §3.5.2): request parsing, the JSON patch engine for users and the
//! member-list planner for groups.
//!
//! - [`parse_patch_request`] validates the PatchOp message (schema URN, non-empty
//!   `Operations`, `op` in any case, path grammar `attrPath / valuePath [subAttr]`) and yields
//!   typed [`PatchOperation`]s. `remove` without a path is `400 noTarget`; a bad path is
//!   `400 invalidPath`.
//! - [`apply_patch`] applies operations to a resource's SCIM JSON (extension attributes under
//!   their URN key) with the add/replace/remove semantics of §3.5.2.1–3, schema-driven
//!   mutability and type checks, and the IdP quirks we must accept (`"True"` for booleans, a
//!   bare string for `manager`). It works on a copy: a failed request changes nothing.
//! - [`plan_group_patch`] turns group operations into the fields of the core's `ModifyRole`
//!   (attribute operations, `replace_members`, `add`, `remove`) without reading the current
//!   member list, which can be huge.

mod apply;
mod group;
mod path;
mod user;

use crate::quirks::Quirk;
use std::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimResult};
use crate::schema::PATCH_OP_SCHEMA;

pub use apply::apply_patch;
pub use group::{GroupPatchPlan, plan_group_patch};
pub use path::{PatchPath, parse_patch_path};
pub use user::{UserPatchPlan, plan_user_patch};

/// Most operations accepted in one PATCH request; beyond this the request is refused rather
/// than processed for an unbounded time.
pub const MAX_PATCH_OPERATIONS: usize = 10_000;

/// The `op` of a patch operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// RFC 7644 §3.5.2.1.
    Add,
    /// RFC 7644 §3.5.2.2.
    Remove,
    /// RFC 7644 §3.5.2.3.
    Replace,
}

impl PatchOpKind {
    /// The lowercase keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        }
    }
}

impl fmt::Display for PatchOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated patch operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// add, remove or replace.
    pub op: PatchOpKind,
    /// The target; `None` only for add/replace, whose value is then an object of paths.
    pub path: Option<PatchPath>,
    /// The value; always present for add/replace (possibly `null`), optional for remove.
    pub value: Option<Value>,
}

/// Parses and validates a PATCH request body (RFC 7644 §3.5.2).
pub fn parse_patch_request(body: &Value) -> ScimResult<Vec<PatchOperation>> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "patch request must be a json object",
        ));
    };
    let schemas = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .map(|(_, value)| value);
    let has_patch_schema = schemas.and_then(Value::as_array).is_some_and(|schemas| {
        schemas.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
        })
    });
    if !has_patch_schema {
        return Err(ScimError::invalid_syntax(format!(
            "patch request schemas must contain {PATCH_OP_SCHEMA}"
        )));
    }
    let operations = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("Operations"))
        .map(|(_, value)| value);
    let Some(Value::Array(operations)) = operations else {
        return Err(ScimError::invalid_syntax(
            "patch request needs an Operations array",
        ));
    };
    if operations.is_empty() {
        return Err(ScimError::invalid_syntax(
            "patch request Operations is empty",
        ));
    }
    if operations.len() > MAX_PATCH_OPERATIONS {
        return Err(ScimError::too_many(format!(
            "patch request has more than {MAX_PATCH_OPERATIONS} operations"
        )));
    }
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| parse_operation(index, operation))
        .collect()
}

fn parse_operation(index: usize, operation: &Value) -> ScimResult<PatchOperation> {
    let Some(object) = operation.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "operation {index} must be a json object"
        )));
    };
    let field = |name: &str| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    // Okta and Entra capitalise op names ("Replace"); RFC 7644 keywords are case-insensitive.
    let op_text = field("op").and_then(Value::as_str);
    if op_text.is_some_and(|op| op.chars().any(|c| c.is_ascii_uppercase())) {
        Quirk::CapitalisedPatchOp.seen();
    }
    let op = match op_text {
        Some(op) if op.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(op) if op.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(op) if op.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {index} has unknown op {other:?}"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {index} needs an op"
            )));
        }
    };
    let path = match field("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) if path.trim().is_empty() => None,
        Some(Value::String(path)) => Some(parse_patch_path(path)?),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "operation {index} path must be a string"
            )));
        }
    };
    let value = field("value").cloned();
    match op {
        PatchOpKind::Remove if path.is_none() => {
            return Err(ScimError::no_target(format!(
                "operation {index}: remove needs a path"
            )));
        }
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            return Err(ScimError::invalid_value(format!(
                "operation {index}: {op} needs a value"
            )));
        }
        PatchOpKind::Add | PatchOpKind::Replace
            if path.is_none() && !matches!(value, Some(Value::Object(_))) =>
        {
            return Err(ScimError::invalid_value(format!(
                "operation {index}: {op} without a path needs an object value"
            )));
        }
        _ => {}
    }
    Ok(PatchOperation { op, path, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use serde_json::json;

    fn request(operations: Value) -> Value {
        json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": operations })
    }

    // RFC 7644 §3.5.2: the PatchOp message.
    #[test]
    fn parses_operations_in_any_case() {
        let ops = parse_patch_request(&request(json!([
            { "op": "Replace", "path": "active", "value": "False" },
            { "op": "ADD", "path": "emails[type eq \"work\"].value", "value": "a@b.c" },
            { "op": "remove", "path": "members[value eq \"u1\"]" },
            { "op": "add", "value": { "displayName": "x" } },
        ])))
        .unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[0].op, PatchOpKind::Replace);
        assert_eq!(ops[1].op, PatchOpKind::Add);
        assert_eq!(
            ops[1].path.as_ref().unwrap().to_string(),
            "emails[type eq \"work\"].value"
        );
        assert_eq!(ops[2].op, PatchOpKind::Remove);
        assert!(ops[3].path.is_none());
    }

    #[test]
    fn rejects_bad_messages() {
        let cases = [
            (json!([]), ScimType::InvalidSyntax),
            (json!("x"), ScimType::InvalidSyntax),
            (
                json!([{ "op": "move", "path": "a" }]),
                ScimType::InvalidSyntax,
            ),
            (json!([{ "path": "a" }]), ScimType::InvalidSyntax),
            (json!([{ "op": "remove" }]), ScimType::NoTarget),
            (json!([{ "op": "remove", "path": "" }]), ScimType::NoTarget),
            (
                json!([{ "op": "add", "path": "title" }]),
                ScimType::InvalidValue,
            ),
            (
                json!([{ "op": "replace", "value": "x" }]),
                ScimType::InvalidValue,
            ),
            (
                json!([{ "op": "add", "path": "emails[type eq]", "value": 1 }]),
                ScimType::InvalidPath,
            ),
            (
                json!([{ "op": "add", "path": 5, "value": 1 }]),
                ScimType::InvalidPath,
            ),
        ];
        for (operations, expected) in cases {
            let error = parse_patch_request(&request(operations.clone())).unwrap_err();
            assert_eq!(error.scim_type, Some(expected), "{operations}");
        }
        let error = parse_patch_request(&json!({ "Operations": [] })).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidSyntax));
        let error = parse_patch_request(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "Operations": [{ "op": "add", "path": "title", "value": "x" }]
        }))
        .unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn remove_may_carry_a_value() {
        // Entra: {"op":"Remove","path":"members","value":[{"value":"<id>"}]}
        let ops = parse_patch_request(&request(json!([
            { "op": "Remove", "path": "members", "value": [{ "value": "u1" }] }
        ])))
        .unwrap();
        assert_eq!(ops[0].value, Some(json!([{ "value": "u1" }])));
    }
}
