//! Value coercion to the attribute's RFC 7643 §2.3 type, with the identity providers' quirks.

use super::*;

pub(super) fn type_error(label: &str, expected: &str) -> ScimError {
    ScimError::invalid_value(format!("{label} must be {expected}"))
}

/// Checks and coerces a value for a simple (non-complex) attribute. `null` stays `null`.
pub(super) fn coerce_simple(def: &AttributeDef, value: &Value, label: &str) -> ScimResult<Value> {
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
pub(super) fn coerce_element(def: &AttributeDef, value: &Value) -> ScimResult<Value> {
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
pub(super) fn coerce_multi(def: &AttributeDef, value: &Value) -> ScimResult<Vec<Value>> {
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
