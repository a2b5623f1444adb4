//! JSON helpers: attribute names are case-insensitive (RFC 7643 §2.1).

use super::*;

pub(super) fn get_ci<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    get_ci_map(value.as_object()?, key)
}

pub(super) fn get_ci_map<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

pub(super) fn existing_key(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Sets `key` in its canonical spelling, dropping any differently-cased duplicate.
pub(super) fn set_ci(object: &mut Map<String, Value>, key: &str, value: Value) {
    remove_ci(object, key);
    object.insert(key.to_owned(), value);
}

pub(super) fn remove_ci(object: &mut Map<String, Value>, key: &str) {
    object.retain(|k, _| !k.eq_ignore_ascii_case(key));
}

pub(super) fn container_ref<'v>(
    resource: &'v Value,
    urn: Option<&str>,
) -> Option<&'v Map<String, Value>> {
    match urn {
        None => resource.as_object(),
        Some(urn) => get_ci(resource, urn)?.as_object(),
    }
}

/// The object holding the attribute: the resource itself, or the extension object under
/// `urn` (created, and listed in `schemas`, when `create`).
pub(super) fn container_mut<'v>(
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
pub(super) fn normalize(resource: &mut Value, kind: ResourceKind) {
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
