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

// === schema-driven attributes ===

fn apply_known(
    resource: &mut Value,
    kind: ResourceKind,
    op: PatchOpKind,
    resolved: &ResolvedAttr,
    filter: Option<&FilterExpr>,
    value: Option<&Value>,
) -> ScimResult<()> {
    let def = resolved.attribute;
    let urn = resolved
        .is_extension(kind)
        .then(|| resolved.schema.map(|s| s.id))
        .flatten();

    // RFC 7643 §7 readOnly: a client may echo the current value (Okta sends `id` back), but
    // never change it.
    if def.mutability == Mutability::ReadOnly {
        let current = container_ref(resource, urn).and_then(|c| get_ci_map(c, def.name));
        let unchanged = op != PatchOpKind::Remove
            && filter.is_none()
            && resolved.sub_attribute.is_none()
            && current == value;
        if unchanged {
            Quirk::ReadOnlyEchoed.seen();
            return Ok(());
        }
        return Err(ScimError::mutability(format!("{} is read-only", def.name)));
    }
    if let Some(sub) = resolved.sub_attribute
        && sub.mutability == Mutability::ReadOnly
    {
        return Err(ScimError::mutability(format!(
            "{}.{} is read-only",
            def.name, sub.name
        )));
    }
    if filter.is_some() && !(def.multi_valued && def.is_complex()) {
        return Err(ScimError::invalid_path(format!(
            "a value filter needs a multi-valued complex attribute, {} is not",
            def.name
        )));
    }

    let create = op != PatchOpKind::Remove;
    let Some(container) = container_mut(resource, urn, create) else {
        // Removing from an extension object that does not exist.
        return match filter {
            Some(_) => Err(no_match(def)),
            None => Ok(()),
        };
    };
    let key = existing_key(container, def.name).unwrap_or_else(|| def.name.to_owned());
    let value = value.unwrap_or(&Value::Null);
    match filter {
        Some(filter) => apply_filtered(
            container,
            &key,
            kind,
            def,
            resolved.sub_attribute,
            filter,
            op,
            value,
        ),
        None if def.multi_valued => {
            apply_multi(container, &key, def, resolved.sub_attribute, op, value)
        }
        None if def.is_complex() => {
            apply_complex(container, &key, def, resolved.sub_attribute, op, value)
        }
        None => apply_simple(container, &key, def, op, value),
    }
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

fn apply_simple(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    op: PatchOpKind,
    value: &Value,
) -> ScimResult<()> {
    let new = match op {
        PatchOpKind::Remove => Value::Null,
        PatchOpKind::Add | PatchOpKind::Replace => coerce_simple(def, value, def.name)?,
    };
    if new.is_null() {
        if def.required {
            return Err(required_error(def));
        }
        if def.mutability == Mutability::Immutable && is_assigned(container.get(key)) {
            return Err(immutable_error(def));
        }
        container.remove(key);
        return Ok(());
    }
    if def.mutability == Mutability::Immutable
        && is_assigned(container.get(key))
        && container.get(key) != Some(&new)
    {
        return Err(immutable_error(def));
    }
    container.insert(key.to_owned(), new);
    Ok(())
}

fn apply_complex(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    sub: Option<&'static AttributeDef>,
    op: PatchOpKind,
    value: &Value,
) -> ScimResult<()> {
    match (op, sub) {
        (PatchOpKind::Remove, None) => {
            if def.required {
                return Err(required_error(def));
            }
            container.remove(key);
        }
        (PatchOpKind::Remove, Some(sub)) => {
            if let Some(Value::Object(object)) = container.get_mut(key) {
                remove_ci(object, sub.name);
                if object.is_empty() {
                    container.remove(key);
                }
            }
        }
        (_, Some(sub)) => {
            let new = coerce_simple(sub, value, &format!("{}.{}", def.name, sub.name))?;
            let slot = container
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(object) = slot.as_object_mut() {
                set_sub(object, sub, new);
            }
        }
        (_, None) => {
            let new = coerce_element(def, value)?;
            let Value::Object(new) = new else {
                // Null: unassign (RFC 7643 §2.5).
                if def.required {
                    return Err(required_error(def));
                }
                container.remove(key);
                return Ok(());
            };
            // RFC 7644 §3.5.2.1/3: sub-attributes in the value replace or add; the others are
            // left unchanged.
            let slot = container
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(object) = slot.as_object_mut() {
                for (name, nested) in new {
                    if nested.is_null() {
                        remove_ci(object, &name);
                    } else {
                        set_ci(object, &name, nested);
                    }
                }
            }
            if container
                .get(key)
                .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
            {
                container.remove(key);
            }
        }
    }
    Ok(())
}

fn apply_multi(
    container: &mut Map<String, Value>,
    key: &str,
    def: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
    op: PatchOpKind,
    value: &Value,
) -> ScimResult<()> {
    if let Some(sub) = sub {
        // `emails.value` without a filter addresses the sub-attribute of every element.
        let items = array_slot(container, key);
        match op {
            PatchOpKind::Remove => {
                if matches!(sub.mutability, Mutability::Immutable) && !items.is_empty() {
                    return Err(immutable_error(sub));
                }
                for item in items.iter_mut() {
                    if let Some(object) = item.as_object_mut() {
                        remove_ci(object, sub.name);
                    }
                }
            }
            PatchOpKind::Add | PatchOpKind::Replace => {
                let new = coerce_simple(sub, value, &format!("{}.{}", def.name, sub.name))?;
                if items.is_empty() {
                    let mut element = Map::new();
                    set_sub(&mut element, sub, new);
                    items.push(Value::Object(element));
                } else {
                    for item in items.iter_mut() {
                        set_element_sub(item, sub, new.clone())?;
                    }
                }
            }
        }
        drop_if_empty(container, key);
        return Ok(());
    }
    match op {
        PatchOpKind::Add => {
            let new = coerce_multi(def, value)?;
            let items = array_slot(container, key);
            let mut known = ElementIndex::new(def, items);
            let mut winner = None;
            for element in new {
                let index = known.add(items, element);
                if is_primary(&items[index]) {
                    winner = Some(index);
                }
            }
            enforce_single_primary(items, winner);
        }
        PatchOpKind::Replace => {
            let mut new = coerce_multi(def, value)?;
            if new.is_empty() {
                if def.required {
                    return Err(required_error(def));
                }
                container.remove(key);
                return Ok(());
            }
            dedupe(def, &mut new);
            enforce_single_primary(&mut new, None);
            container.insert(key.to_owned(), Value::Array(new));
        }
        PatchOpKind::Remove => {
            if def.required {
                return Err(required_error(def));
            }
            match value {
                // Entra removes listed members: {"op":"Remove","path":"members","value":[…]}.
                Value::Null => {
                    container.remove(key);
                }
                listed => {
                    Quirk::RemoveListedValues.seen();
                    let listed = coerce_multi(def, listed)?;
                    let gone = ElementIndex::new(def, &listed);
                    array_slot(container, key).retain(|item| !gone.contains(item));
                }
            }
        }
    }
    drop_if_empty(container, key);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_filtered(
    container: &mut Map<String, Value>,
    key: &str,
    kind: ResourceKind,
    def: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
    filter: &FilterExpr,
    op: PatchOpKind,
    value: &Value,
) -> ScimResult<()> {
    let items = array_slot(container, key);
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| matches_element(filter, item, kind, def))
        .map(|(index, _)| index)
        .collect();
    let label = |sub: &AttributeDef| format!("{}.{}", def.name, sub.name);
    match op {
        PatchOpKind::Remove => {
            if matched.is_empty() {
                return Err(no_match(def));
            }
            match sub {
                Some(sub) => {
                    if sub.mutability == Mutability::Immutable {
                        return Err(immutable_error(sub));
                    }
                    for &index in &matched {
                        if let Some(object) = items[index].as_object_mut() {
                            remove_ci(object, sub.name);
                        }
                    }
                }
                None => {
                    // `matched` is ascending: a binary search keeps this O(n log n).
                    let mut index = 0;
                    items.retain(|_| {
                        let keep = matched.binary_search(&index).is_err();
                        index += 1;
                        keep
                    });
                }
            }
        }
        PatchOpKind::Replace | PatchOpKind::Add => {
            let mut winner = None;
            if matched.is_empty() {
                if op == PatchOpKind::Replace {
                    return Err(no_match(def));
                }
                // Entra adds `emails[type eq "work"].value` when there is no work email yet:
                // create the element the filter describes.
                let Some(seed) = equality_seed(filter) else {
                    return Err(no_match(def));
                };
                Quirk::AddCreatesFilteredElement.seen();
                let mut element = seed;
                match sub {
                    Some(sub) => {
                        let new = coerce_simple(sub, value, &label(sub))?;
                        set_sub(&mut element, sub, new);
                    }
                    None => {
                        if let Value::Object(new) = coerce_element(def, value)? {
                            for (name, nested) in new {
                                set_ci(&mut element, &name, nested);
                            }
                        }
                    }
                }
                let element = coerce_element(def, &Value::Object(element))?;
                items.push(element);
                if is_primary(&items[items.len() - 1]) {
                    winner = Some(items.len() - 1);
                }
            } else {
                match sub {
                    Some(sub) => {
                        let new = coerce_simple(sub, value, &label(sub))?;
                        for &index in &matched {
                            set_element_sub(&mut items[index], sub, new.clone())?;
                        }
                    }
                    None => {
                        let new = coerce_element(def, value)?;
                        if !new.is_object() {
                            return Err(ScimError::invalid_value(format!(
                                "{} elements must be objects",
                                def.name
                            )));
                        }
                        for &index in &matched {
                            if op == PatchOpKind::Replace {
                                check_immutable_subs(def, &items[index], &new)?;
                                items[index] = new.clone();
                            } else {
                                merge_element(def, &mut items[index], new.clone());
                            }
                        }
                    }
                }
                winner = matched
                    .iter()
                    .rev()
                    .copied()
                    .find(|&index| is_primary(&items[index]));
            }
            enforce_single_primary(items, winner);
        }
    }
    drop_if_empty(container, key);
    Ok(())
}

/// The element a filter of `eq` comparisons joined by `and` describes, e.g. `{"type":"work"}`
/// for `type eq "work"`; `None` for any other filter.
fn equality_seed(filter: &FilterExpr) -> Option<Map<String, Value>> {
    fn collect(filter: &FilterExpr, into: &mut Map<String, Value>) -> bool {
        match filter {
            FilterExpr::And(left, right) => collect(left, into) && collect(right, into),
            FilterExpr::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.schema.is_none() && path.sub_attribute.is_none() => {
                let value = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return false,
                };
                into.insert(path.attribute.clone(), value);
                true
            }
            _ => false,
        }
    }
    let mut seed = Map::new();
    collect(filter, &mut seed).then_some(seed)
}

// === value coercion (RFC 7643 §2.3 types, with IdP quirks) ===

fn type_error(label: &str, expected: &str) -> ScimError {
    ScimError::invalid_value(format!("{label} must be {expected}"))
}

/// Checks and coerces a value for a simple (non-complex) attribute. `null` stays `null`.
fn coerce_simple(def: &AttributeDef, value: &Value, label: &str) -> ScimResult<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match def.attr_type {
        // the same reading as resource bodies, "True"/"False" included
        AttrType::Boolean => {
            Ok(crate::resource::bool_value(label, value)?.map_or(Value::Null, Value::Bool))
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => Ok(value.clone()),
            // Some IdPs send numeric employee numbers and the like unquoted.
            Value::Number(n) => {
                Quirk::NumberForString.seen();
                Ok(Value::String(n.to_string()))
            }
            _ => Err(type_error(label, "a string")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
                Ok(value.clone())
            }
            _ => Err(type_error(label, "an RFC 3339 dateTime string")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            _ => Err(type_error(label, "an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(type_error(label, "a number")),
        },
        AttrType::Complex => Err(type_error(label, "an object")),
    }
}

/// Checks and coerces one value of a complex attribute (or one element of a multi-valued
/// complex attribute): sub-attribute names canonicalised, values typed, read-only
/// sub-attributes dropped (RFC 7644 §3.5.1 ignores them on input), a bare string taken as
/// `{"value": s}` (Entra sends `manager` and members that way).
fn coerce_element(def: &AttributeDef, value: &Value) -> ScimResult<Value> {
    if !def.is_complex() {
        return coerce_simple(def, value, def.name);
    }
    let object = match value {
        Value::Null => return Ok(Value::Null),
        Value::Object(object) => object.clone(),
        Value::String(_) | Value::Number(_) if def.sub_attribute("value").is_some() => {
            Quirk::BareStringForComplexValue.seen();
            let mut object = Map::new();
            object.insert("value".to_owned(), value.clone());
            object
        }
        _ => return Err(type_error(def.name, "an object")),
    };
    let mut out = Map::new();
    for (name, nested) in object {
        let Some(sub) = def.sub_attribute(&name) else {
            return Err(ScimError::invalid_value(format!(
                "unknown attribute {}.{name}",
                def.name
            )));
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        let nested = coerce_simple(sub, &nested, &format!("{}.{}", def.name, sub.name))?;
        if !nested.is_null() {
            out.insert(sub.name.to_owned(), nested);
        }
    }
    Ok(Value::Object(out))
}

/// The elements of a value for a multi-valued attribute; a single value is one element.
fn coerce_multi(def: &AttributeDef, value: &Value) -> ScimResult<Vec<Value>> {
    let elements: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(elements.len());
    for element in elements {
        let element = coerce_element(def, element)?;
        let empty = element.is_null() || element.as_object().is_some_and(Map::is_empty);
        if !empty {
            out.push(element);
        }
    }
    Ok(out)
}

// === multi-valued helpers ===

/// A value as `def` compares it, as a hashable key: strings lower-cased unless caseExact, other
/// values as they are. (Strings equal ignoring ASCII case also have equal `to_lowercase`.)
fn fold(def: Option<&AttributeDef>, value: &Value) -> Value {
    match value {
        Value::String(s) if !def.is_some_and(|d| d.case_exact) => Value::String(s.to_lowercase()),
        other => other.clone(),
    }
}

/// The identity of an element (RFC 7644 §3.5.2.1: adding an existing value changes nothing).
#[derive(PartialEq, Eq, Hash)]
enum ElementKey {
    /// Its `value`, folded as the `value` sub-attribute says.
    Value(Value),
    /// The whole element, for elements without a `value` (addresses, simple values).
    Whole(Value),
}

/// An element's key and its `type` folded case-insensitively. Two elements are the same value
/// when their keys are equal and, if both have a `type`, their types are too. That last part
/// is not an equivalence (an untyped element equals a "work" one and a "home" one), so
/// [`ElementIndex`] keeps types beside the key rather than in it; no element needs a scan.
fn element_key(def: &AttributeDef, element: &Value) -> (ElementKey, Option<Value>) {
    match get_ci(element, "value") {
        Some(value) => (
            ElementKey::Value(fold(def.sub_attribute("value"), value)),
            get_ci(element, "type").map(|kind| fold(None, kind)),
        ),
        None => (ElementKey::Whole(element.clone()), None),
    }
}

/// The elements of one key: the first, the untyped ones in order, the first of each type.
#[derive(Default)]
struct Slot {
    first: Option<usize>,
    untyped: VecDeque<usize>,
    typed: HashMap<Value, usize>,
}

impl Slot {
    fn record(&mut self, position: usize, kind: Option<Value>) {
        self.first.get_or_insert(position);
        match kind {
            None => self.untyped.push_back(position),
            Some(kind) => {
                self.typed.entry(kind).or_insert(position);
            }
        }
    }

    /// The first element equal to one of this key with type `kind`.
    fn first_match(&self, kind: Option<&Value>) -> Option<usize> {
        match kind {
            None => self.first,
            Some(kind) => self
                .untyped
                .front()
                .into_iter()
                .chain(self.typed.get(kind))
                .min()
                .copied(),
        }
    }
}

/// The elements of a multi-valued attribute by identity. Bounded work per request: a PATCH
/// with n values costs O(n) expected, not O(n²) pairwise comparisons.
struct ElementIndex<'d> {
    def: &'d AttributeDef,
    slots: HashMap<ElementKey, Slot>,
}

impl<'d> ElementIndex<'d> {
    fn new(def: &'d AttributeDef, items: &[Value]) -> Self {
        let mut index = Self {
            def,
            slots: HashMap::new(),
        };
        for (position, item) in items.iter().enumerate() {
            let (key, kind) = element_key(def, item);
            index.slots.entry(key).or_default().record(position, kind);
        }
        index
    }

    /// Whether some indexed element is the same value as `element`.
    fn contains(&self, element: &Value) -> bool {
        let (key, kind) = element_key(self.def, element);
        self.slots
            .get(&key)
            .is_some_and(|slot| slot.first_match(kind.as_ref()).is_some())
    }

    /// Merges `element` into the first equal element of `items` (indexed by `self`), or appends
    /// it; returns its position.
    fn add(&mut self, items: &mut Vec<Value>, element: Value) -> usize {
        let (key, kind) = element_key(self.def, &element);
        let slot = self.slots.entry(key).or_default();
        if let Some(position) = slot.first_match(kind.as_ref()) {
            merge_element(self.def, &mut items[position], element);
            // Merging keeps the key (equal values; a whole element merged with itself). An
            // untyped element merged with a typed one takes its type; the first untyped element
            // is the only one a typed element can match before the first of its type.
            if let Some(kind) = kind
                && slot.untyped.front() == Some(&position)
            {
                slot.untyped.pop_front();
                slot.typed.insert(kind, position);
            }
            return position;
        }
        slot.record(items.len(), kind);
        items.push(element);
        items.len() - 1
    }
}

/// Merges `new` into an equal element; immutable sub-attributes already set are kept.
fn merge_element(def: &AttributeDef, existing: &mut Value, new: Value) {
    let (Some(existing), Value::Object(new)) = (existing.as_object_mut(), new) else {
        return;
    };
    for (name, nested) in new {
        let immutable = def
            .sub_attribute(&name)
            .is_some_and(|sub| sub.mutability == Mutability::Immutable);
        if immutable && get_ci_map(existing, &name).is_some() {
            continue;
        }
        set_ci(existing, &name, nested);
    }
}

fn dedupe(def: &AttributeDef, items: &mut Vec<Value>) {
    let mut kept: Vec<Value> = Vec::with_capacity(items.len());
    let mut known = ElementIndex::new(def, &kept);
    for item in items.drain(..) {
        known.add(&mut kept, item);
    }
    *items = kept;
}

fn check_immutable_subs(def: &AttributeDef, existing: &Value, new: &Value) -> ScimResult<()> {
    for sub in def.sub_attributes {
        if sub.mutability != Mutability::Immutable {
            continue;
        }
        if let (Some(old), Some(new)) = (get_ci(existing, sub.name), get_ci(new, sub.name))
            && old != new
        {
            return Err(immutable_error(sub));
        }
    }
    Ok(())
}

fn set_element_sub(item: &mut Value, sub: &'static AttributeDef, new: Value) -> ScimResult<()> {
    if !item.is_object() {
        *item = Value::Object(Map::new());
    }
    let Some(object) = item.as_object_mut() else {
        return Ok(());
    };
    if sub.mutability == Mutability::Immutable
        && get_ci_map(object, sub.name).is_some_and(|old| *old != new)
    {
        return Err(immutable_error(sub));
    }
    set_sub(object, sub, new);
    Ok(())
}

fn set_sub(object: &mut Map<String, Value>, sub: &AttributeDef, new: Value) {
    if new.is_null() {
        remove_ci(object, sub.name);
    } else {
        set_ci(object, sub.name, new);
    }
}

fn is_primary(item: &Value) -> bool {
    get_ci(item, "primary") == Some(&Value::Bool(true))
}

/// RFC 7643 §2.4: "primary" true appears at most once. The element that just became primary
/// (`winner`) keeps it; otherwise the last one does.
fn enforce_single_primary(items: &mut [Value], winner: Option<usize>) {
    let primaries: Vec<usize> = (0..items.len())
        .filter(|&i| is_primary(&items[i]))
        .collect();
    if primaries.len() <= 1 {
        return;
    }
    let keep = winner
        .filter(|w| primaries.contains(w))
        .or(primaries.last().copied());
    for index in primaries {
        if Some(index) != keep
            && let Some(object) = items[index].as_object_mut()
        {
            set_ci(object, "primary", Value::Bool(false));
        }
    }
}

fn array_slot<'m>(container: &'m mut Map<String, Value>, key: &str) -> &'m mut Vec<Value> {
    let slot = container
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let previous = std::mem::take(slot);
        *slot = Value::Array(if previous.is_null() {
            Vec::new()
        } else {
            vec![previous]
        });
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("slot was just made an array"),
    }
}

fn drop_if_empty(container: &mut Map<String, Value>, key: &str) {
    if container
        .get(key)
        .is_some_and(|v| v.as_array().is_some_and(Vec::is_empty))
    {
        container.remove(key);
    }
}

fn is_assigned(value: Option<&Value>) -> bool {
    value.is_some_and(|v| !v.is_null())
}

// === JSON helpers (attribute names are case-insensitive, RFC 7643 §2.1) ===

fn get_ci<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    get_ci_map(value.as_object()?, key)
}

fn get_ci_map<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn existing_key(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Sets `key` in its canonical spelling, dropping any differently-cased duplicate.
fn set_ci(object: &mut Map<String, Value>, key: &str, value: Value) {
    remove_ci(object, key);
    object.insert(key.to_owned(), value);
}

fn remove_ci(object: &mut Map<String, Value>, key: &str) {
    object.retain(|k, _| !k.eq_ignore_ascii_case(key));
}

fn container_ref<'v>(resource: &'v Value, urn: Option<&str>) -> Option<&'v Map<String, Value>> {
    match urn {
        None => resource.as_object(),
        Some(urn) => get_ci(resource, urn)?.as_object(),
    }
}

/// The object holding the attribute: the resource itself, or the extension object under
/// `urn` (created, and listed in `schemas`, when `create`).
fn container_mut<'v>(
    resource: &'v mut Value,
    urn: Option<&str>,
    create: bool,
) -> Option<&'v mut Map<String, Value>> {
    let Some(urn) = urn else {
        return resource.as_object_mut();
    };
    let root = resource.as_object_mut()?;
    let key = match existing_key(root, urn) {
        Some(key) => key,
        None if create => {
            root.insert(urn.to_owned(), Value::Object(Map::new()));
            urn.to_owned()
        }
        None => return None,
    };
    let slot = root.get_mut(&key)?;
    if !slot.is_object() {
        if !create {
            return None;
        }
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Post-operation invariants: one primary per multi-valued attribute, extension objects
/// present exactly when non-empty and listed in `schemas` exactly then.
fn normalize(resource: &mut Value, kind: ResourceKind) {
    let Some(root) = resource.as_object_mut() else {
        return;
    };
    let mut containers: Vec<(Option<&'static str>, &'static SchemaDef)> =
        vec![(None, kind.core_schema_def())];
    containers.extend(kind.extensions().iter().map(|s| (Some(s.id), *s)));
    for (urn, schema_def) in containers {
        let container = match urn {
            None => Some(&mut *root),
            Some(urn) => existing_key(root, urn)
                .and_then(|key| root.get_mut(&key))
                .and_then(Value::as_object_mut),
        };
        let Some(container) = container else {
            continue;
        };
        for def in schema_def.attributes.iter().filter(|d| d.multi_valued) {
            if let Some(key) = existing_key(container, def.name)
                && let Some(Value::Array(items)) = container.get_mut(&key)
            {
                enforce_single_primary(items, None);
            }
        }
    }

    let extension_keys: Vec<String> = root
        .keys()
        .filter(|k| crate::resource::is_urn(k))
        .cloned()
        .collect();
    let mut present = Vec::new();
    for key in extension_keys {
        let empty = match root.get(&key) {
            Some(Value::Object(object)) => object.is_empty(),
            Some(Value::Null) | None => true,
            Some(_) => false,
        };
        if empty {
            root.remove(&key);
        } else {
            present.push(key);
        }
    }
    let schemas = root
        .entry("schemas")
        .or_insert_with(|| Value::Array(vec![Value::String(kind.core_schema().to_owned())]));
    if let Value::Array(schemas) = schemas {
        schemas.retain(|s| {
            let Some(s) = s.as_str() else { return false };
            s.eq_ignore_ascii_case(kind.core_schema())
                || present.iter().any(|p| p.eq_ignore_ascii_case(s))
        });
        for key in present {
            if !schemas
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&key)))
            {
                schemas.push(Value::String(key));
            }
        }
    }
}

#[cfg(test)]
mod tests;
