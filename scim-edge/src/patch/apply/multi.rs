//! Multi-valued helpers: element identity, merging, deduplication, the single `primary`.

use super::*;

/// A value as `def` compares it, as a hashable key: strings lower-cased unless caseExact, other
/// values as they are. (Strings equal ignoring ASCII case also have equal `to_lowercase`.)
pub(super) fn fold(def: Option<&AttributeDef>, value: &Value) -> Value {
    match value {
        Value::String(s) if !def.is_some_and(|d| d.case_exact) => Value::String(s.to_lowercase()),
        other => other.clone(),
    }
}

/// The identity of an element (RFC 7644 §3.5.2.1: adding an existing value changes nothing).
#[derive(PartialEq, Eq, Hash)]
pub(super) enum ElementKey {
    /// Its `value`, folded as the `value` sub-attribute says.
    Value(Value),
    /// The whole element, for elements without a `value` (addresses, simple values).
    Whole(Value),
}

/// An element's key and its `type` folded case-insensitively. Two elements are the same value
/// when their keys are equal and, if both have a `type`, their types are too. That last part
/// is not an equivalence (an untyped element equals a "work" one and a "home" one), so
/// [`ElementIndex`] keeps types beside the key rather than in it; no element needs a scan.
pub(super) fn element_key(def: &AttributeDef, element: &Value) -> (ElementKey, Option<Value>) {
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
pub(super) struct Slot {
    first: Option<usize>,
    untyped: VecDeque<usize>,
    typed: HashMap<Value, usize>,
}

impl Slot {
    pub(super) fn record(&mut self, position: usize, kind: Option<Value>) {
        self.first.get_or_insert(position);
        match kind {
            None => self.untyped.push_back(position),
            Some(kind) => {
                self.typed.entry(kind).or_insert(position);
            }
        }
    }

    /// The first element equal to one of this key with type `kind`.
    pub(super) fn first_match(&self, kind: Option<&Value>) -> Option<usize> {
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
pub(super) struct ElementIndex<'d> {
    def: &'d AttributeDef,
    slots: HashMap<ElementKey, Slot>,
}

impl<'d> ElementIndex<'d> {
    pub(super) fn new(def: &'d AttributeDef, items: &[Value]) -> Self {
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
    pub(super) fn contains(&self, element: &Value) -> bool {
        let (key, kind) = element_key(self.def, element);
        self.slots
            .get(&key)
            .is_some_and(|slot| slot.first_match(kind.as_ref()).is_some())
    }

    /// Merges `element` into the first equal element of `items` (indexed by `self`), or appends
    /// it; returns its position.
    pub(super) fn add(&mut self, items: &mut Vec<Value>, element: Value) -> usize {
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
pub(super) fn merge_element(def: &AttributeDef, existing: &mut Value, new: Value) {
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

pub(super) fn dedupe(def: &AttributeDef, items: &mut Vec<Value>) {
    let mut kept: Vec<Value> = Vec::with_capacity(items.len());
    let mut known = ElementIndex::new(def, &kept);
    for item in items.drain(..) {
        known.add(&mut kept, item);
    }
    *items = kept;
}

pub(super) fn check_immutable_subs(
    def: &AttributeDef,
    existing: &Value,
    new: &Value,
) -> ScimResult<()> {
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

pub(super) fn set_element_sub(
    item: &mut Value,
    sub: &'static AttributeDef,
    new: Value,
) -> ScimResult<()> {
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

pub(super) fn set_sub(object: &mut Map<String, Value>, sub: &AttributeDef, new: Value) {
    if new.is_null() {
        remove_ci(object, sub.name);
    } else {
        set_ci(object, sub.name, new);
    }
}

pub(super) fn is_primary(item: &Value) -> bool {
    get_ci(item, "primary") == Some(&Value::Bool(true))
}

/// RFC 7643 §2.4: "primary" true appears at most once. The element that just became primary
/// (`winner`) keeps it; otherwise the last one does.
pub(super) fn enforce_single_primary(items: &mut [Value], winner: Option<usize>) {
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

pub(super) fn array_slot<'m>(
    container: &'m mut Map<String, Value>,
    key: &str,
) -> &'m mut Vec<Value> {
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

pub(super) fn drop_if_empty(container: &mut Map<String, Value>, key: &str) {
    if container
        .get(key)
        .is_some_and(|v| v.as_array().is_some_and(Vec::is_empty))
    {
        container.remove(key);
    }
}

pub(super) fn is_assigned(value: Option<&Value>) -> bool {
    value.is_some_and(|v| !v.is_null())
}
