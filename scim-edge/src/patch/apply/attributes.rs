//! Attributes of the schema table, applied by their definition: simple, complex, multi-valued,
//! and multi-valued with a value filter.

use super::*;

pub(super) fn apply_known(
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

pub(super) fn apply_simple(
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
        if def.name == "active" {
            // unassigned, `active` would read as its default (active): removing it must not
            // reactivate a deactivated user, nor be silently ignored
            return Err(ScimError::mutability(
                "active cannot be removed: replace it with false to deactivate the user or \
                 true to activate it",
            ));
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

pub(super) fn apply_complex(
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

pub(super) fn apply_multi(
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
pub(super) fn apply_filtered(
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
pub(super) fn equality_seed(filter: &FilterExpr) -> Option<Map<String, Value>> {
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
