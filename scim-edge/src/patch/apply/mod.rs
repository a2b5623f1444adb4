//! The PATCH engine: applies [`PatchOperation`]s to a resource's SCIM JSON
//! (RFC 7644 §3.5.2.1 add, §3.5.2.2 remove, §3.5.2.3 replace).
//!
//! The resource is the representation the edge returns: core attributes at the top level,
//! extension attributes under their schema URN key, listed in `schemas`. Attributes of the
//! schema table are handled by their definition (multi-valued, complex, type, mutability);
//! attributes under an unknown extension URN are kept verbatim and patched generically.
//! Invariants after every operation: at most one `primary: true` per multi-valued attribute (a
//! new primary clears the others), read-only attributes unchanged, extension URNs in `schemas`
//! exactly for the extension objects present.

use std::collections::{HashMap, VecDeque};

use crate::quirks::Quirk;
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::filter::{AttrPath, CompValue, CompareOp, FilterExpr, matches_element};
use crate::schema::{
    self, AttrType, AttributeDef, Mutability, ResolvedAttr, ResourceKind, SchemaDef,
};

use super::path::parse_patch_path;
use super::{PatchOpKind, PatchOperation};

mod attributes;
mod coerce;
mod json;
mod multi;

use attributes::*;
use coerce::*;
use json::*;
use multi::*;

/// Applies `ops` in order to `resource` (a JSON object). On error `resource` is unchanged.
pub fn apply_patch(
    resource: &mut Value,
    ops: &[PatchOperation],
    kind: ResourceKind,
) -> ScimResult<()> {
    if !resource.is_object() {
        return Err(ScimError::internal());
    }
    // Work on a copy so that a failure in operation n leaves no trace of operations 1..n-1.
    let mut work = resource.clone();
    for operation in ops {
        apply_operation(&mut work, operation, kind)?;
        normalize(&mut work, kind);
    }
    *resource = work;
    Ok(())
}

/// What a path designates.
#[derive(Debug, Clone)]
enum Target {
    /// An attribute of the schema table.
    Known(ResolvedAttr),
    /// A whole known extension object (`urn:…:enterprise:2.0:User`).
    Extension(&'static SchemaDef),
    /// An attribute under an extension URN we do not know; kept verbatim.
    Foreign {
        urn: String,
        attribute: String,
        sub_attribute: Option<String>,
    },
}

fn target_of(kind: ResourceKind, path: &AttrPath) -> ScimResult<Target> {
    let unknown =
        || ScimError::invalid_path(format!("{path} is not an attribute of {}", kind.name()));
    if path.schema.is_none() && schema::is_known_schema(&path.attribute) {
        return match schema::schema_for(kind, &path.attribute) {
            Some(def) if def.id != kind.core_schema() && path.sub_attribute.is_none() => {
                Ok(Target::Extension(def))
            }
            _ => Err(unknown()),
        };
    }
    if let Some(resolved) = schema::resolve(kind, path) {
        return Ok(Target::Known(resolved));
    }
    match &path.schema {
        Some(urn) if !schema::is_known_schema(urn) => Ok(Target::Foreign {
            urn: urn.clone(),
            attribute: path.attribute.clone(),
            sub_attribute: path.sub_attribute.clone(),
        }),
        _ => Err(unknown()),
    }
}

fn apply_operation(
    resource: &mut Value,
    operation: &PatchOperation,
    kind: ResourceKind,
) -> ScimResult<()> {
    let value = operation.value.as_ref();
    let Some(path) = &operation.path else {
        // RFC 7644 §3.5.2.1/3: without a path the value is an object whose keys are
        // attribute paths (Entra sends `name.givenName` and valuePath keys here).
        let Some(Value::Object(object)) = value else {
            return Err(ScimError::invalid_value(format!(
                "{} without a path needs an object value",
                operation.op
            )));
        };
        for (key, nested) in object {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let parsed = parse_patch_path(key)?;
            if parsed.filter.is_some()
                || parsed.path.sub_attribute.is_some()
                || parsed.path.schema.is_some()
            {
                Quirk::AttributePathKeysInValue.seen();
            }
            let target = target_of(kind, &parsed.path)
                .map_err(|_| ScimError::invalid_value(format!("unknown attribute {key:?}")))?;
            apply_at(
                resource,
                kind,
                operation.op,
                &target,
                parsed.filter.as_ref(),
                Some(nested),
            )?;
        }
        return Ok(());
    };
    let target = target_of(kind, &path.path)?;
    apply_at(
        resource,
        kind,
        operation.op,
        &target,
        path.filter.as_ref(),
        value,
    )
}

fn apply_at(
    resource: &mut Value,
    kind: ResourceKind,
    op: PatchOpKind,
    target: &Target,
    filter: Option<&FilterExpr>,
    value: Option<&Value>,
) -> ScimResult<()> {
    match target {
        Target::Extension(def) => {
            if filter.is_some() {
                return Err(ScimError::invalid_path(
                    "a value filter needs a multi-valued attribute",
                ));
            }
            apply_whole_extension(resource, kind, op, def, value)
        }
        Target::Foreign {
            urn,
            attribute,
            sub_attribute,
        } => {
            if filter.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "value filters are not supported on {urn}:{attribute}"
                )));
            }
            apply_foreign(
                resource,
                op,
                urn,
                attribute,
                sub_attribute.as_deref(),
                value,
            )
        }
        Target::Known(resolved) => apply_known(resource, kind, op, resolved, filter, value),
    }
}

// === whole extension objects and unknown extensions ===

fn apply_whole_extension(
    resource: &mut Value,
    kind: ResourceKind,
    op: PatchOpKind,
    def: &'static SchemaDef,
    value: Option<&Value>,
) -> ScimResult<()> {
    if op == PatchOpKind::Remove {
        if let Some(object) = resource.as_object_mut() {
            remove_ci(object, def.id);
        }
        return Ok(());
    }
    let Some(Value::Object(object)) = value else {
        return Err(ScimError::invalid_value(format!(
            "{} must be an object",
            def.id
        )));
    };
    for (key, nested) in object {
        if key.eq_ignore_ascii_case("schemas") {
            Quirk::SchemasInsideExtension.seen();
            continue;
        }
        let (attribute, sub) = match key.split_once('.') {
            Some((attribute, sub)) => (attribute, Some(sub.to_owned())),
            None => (key.as_str(), None),
        };
        let path = AttrPath {
            schema: Some(def.id.to_owned()),
            attribute: attribute.to_owned(),
            sub_attribute: sub,
        };
        let resolved = schema::resolve(kind, &path).ok_or_else(|| {
            ScimError::invalid_value(format!("unknown attribute {key:?} in {}", def.id))
        })?;
        apply_known(resource, kind, op, &resolved, None, Some(nested))?;
    }
    Ok(())
}

fn apply_foreign(
    resource: &mut Value,
    op: PatchOpKind,
    urn: &str,
    attribute: &str,
    sub: Option<&str>,
    value: Option<&Value>,
) -> ScimResult<()> {
    let create = op != PatchOpKind::Remove;
    let Some(container) = container_mut(resource, Some(urn), create) else {
        return Ok(());
    };
    let key = existing_key(container, attribute).unwrap_or_else(|| attribute.to_owned());
    let value = value.cloned().unwrap_or(Value::Null);
    match (op, sub) {
        (PatchOpKind::Remove, None) => {
            container.remove(&key);
        }
        (PatchOpKind::Remove, Some(sub)) => {
            if let Some(Value::Object(object)) = container.get_mut(&key) {
                remove_ci(object, sub);
            }
        }
        (_, Some(sub)) => {
            let slot = container
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(object) = slot.as_object_mut() {
                set_ci(object, sub, value);
            }
        }
        (PatchOpKind::Add, None) => match (container.get_mut(&key), value) {
            (Some(Value::Array(items)), Value::Array(new)) => {
                for item in new {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
            }
            (Some(Value::Object(existing)), Value::Object(new)) => {
                for (k, v) in new {
                    set_ci(existing, &k, v);
                }
            }
            (_, value) => {
                container.insert(key, value);
            }
        },
        (_, None) => {
            container.insert(key, value);
        }
    }
    Ok(())
}

fn no_match(def: &AttributeDef) -> ScimError {
    ScimError::no_target(format!("no {} value matches the filter", def.name))
}

fn required_error(def: &AttributeDef) -> ScimError {
    ScimError::mutability(format!("{} is required and cannot be removed", def.name))
}

fn immutable_error(def: &AttributeDef) -> ScimError {
    ScimError::mutability(format!("{} is immutable", def.name))
}

#[cfg(test)]
mod tests;
