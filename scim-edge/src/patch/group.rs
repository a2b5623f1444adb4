//! Group PATCH planning: turns SCIM operations on a Group into the fields of the core's
//! `ModifyRole` (`proto/identity/v1/role_service.proto`) without reading the member list.
//!
//! Membership operations are folded in request order so that later operations win for the
//! same user id: once a replacement list exists, adds and removes edit that list; otherwise
//! adds and removes are kept disjoint (an add cancels an earlier remove of the same id and
//! vice versa), which makes the core's fixed application order (replace, remove, add)
//! irrelevant. Supported forms: `add members [...]`, `remove members[value eq "x"]` (also `or`
//! chains), `remove members` with a value array (Entra), `remove members` (all),
//! `replace members [...]`, and add/replace without a path carrying `members` and attributes.
//! Every other operation is kept in `attribute_ops`, to be applied to the group's JSON
//! (without members) by [`GroupPatchPlan::apply_attributes`].

use crate::quirks::Quirk;
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::filter::{AttrPath, CompValue, CompareOp, FilterExpr};
use crate::schema::{self, ResourceKind};

use super::path::PatchPath;
use super::{PatchOpKind, PatchOperation, apply_patch};

/// The effect of a Group PATCH, in the shape of `ModifyRoleRequest`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupPatchPlan {
    /// Operations on attributes other than `members`, in request order.
    pub attribute_ops: Vec<PatchOperation>,
    /// The complete new member list (`replace_members = true`), when the request replaces it.
    pub replace_members: Option<Vec<String>>,
    /// Users to add (`add_user_ids`); empty when `replace_members` is set.
    pub add: Vec<String>,
    /// Users to remove (`remove_user_ids`); empty when `replace_members` is set.
    pub remove: Vec<String>,
}

impl GroupPatchPlan {
    /// Whether the plan changes membership.
    pub fn changes_members(&self) -> bool {
        self.replace_members.is_some() || !self.add.is_empty() || !self.remove.is_empty()
    }

    /// Applies `attribute_ops` to `group` (the Group's SCIM JSON; `members` may be absent) and
    /// returns the `ModifyRoleRequest.update_mask` paths whose value changed:
    /// `display_name`, `external_id`, `extra_attributes`.
    pub fn apply_attributes(&self, group: &mut Value) -> ScimResult<Vec<&'static str>> {
        if self.attribute_ops.is_empty() {
            return Ok(Vec::new());
        }
        let before = group.clone();
        apply_patch(group, &self.attribute_ops, ResourceKind::Group)?;
        let field = |value: &Value, name: &str| value.get(name).cloned();
        let mut mask = Vec::new();
        if field(&before, "displayName") != field(group, "displayName") {
            mask.push("display_name");
        }
        if field(&before, "externalId") != field(group, "externalId") {
            mask.push("external_id");
        }
        let extras = |value: &Value| -> Map<String, Value> {
            value
                .as_object()
                .map(|object| {
                    object
                        .iter()
                        .filter(|(key, _)| !is_modelled_group_key(key))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        if extras(&before) != extras(group) {
            mask.push("extra_attributes");
        }
        Ok(mask)
    }
}

/// Keys of the Group JSON that map to a `Role` field (or are output only).
fn is_modelled_group_key(key: &str) -> bool {
    [
        "schemas",
        "id",
        "externalId",
        "displayName",
        "members",
        "meta",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(key))
}

/// The net member change of a PATCH's operations. Every step is O(1) (a PATCH may name tens of
/// thousands of members), the lists keep the order ids were first given.
#[derive(Debug, Default)]
struct Members {
    replace: Option<IdSet>,
    add: IdSet,
    remove: IdSet,
}

impl Members {
    fn replace_all(&mut self, ids: Vec<String>) {
        let mut list = IdSet::default();
        ids.into_iter().for_each(|id| list.insert(id));
        self.replace = Some(list);
        self.add = IdSet::default();
        self.remove = IdSet::default();
    }

    fn add(&mut self, id: String) {
        match &mut self.replace {
            Some(list) => list.insert(id),
            None => {
                self.remove.remove(&id);
                self.add.insert(id);
            }
        }
    }

    fn remove(&mut self, id: String) {
        match &mut self.replace {
            Some(list) => list.remove(&id),
            None => {
                self.add.remove(&id);
                self.remove.insert(id);
            }
        }
    }
}

/// Ids without repeats, in the order first given, with O(1) insert, remove and lookup: removal
/// only forgets membership, and [`IdSet::into_vec`] skips what is no longer a member.
#[derive(Debug, Default)]
struct IdSet {
    order: Vec<String>,
    members: std::collections::HashSet<String>,
}

impl IdSet {
    fn insert(&mut self, id: String) {
        if self.members.insert(id.clone()) {
            self.order.push(id);
        }
    }

    fn remove(&mut self, id: &str) {
        self.members.remove(id);
    }

    fn into_vec(mut self) -> Vec<String> {
        // `remove` from the set as each id is taken: an id removed and added again appears
        // in `order` twice but is taken once
        self.order
            .into_iter()
            .filter(|id| self.members.remove(id))
            .collect()
    }
}

fn is_members(path: &AttrPath) -> bool {
    schema::resolve(ResourceKind::Group, path).is_some_and(|r| r.attribute.name == "members")
}

/// Member ids from a value: `[{"value": id}, …]`, `[id, …]`, or one of those alone.
fn member_ids(value: &Value) -> ScimResult<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let id = match item {
                Value::String(id) => {
                    Quirk::BareStringForComplexValue.seen();
                    Some(id.as_str())
                }
                Value::Object(object) => object
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                    .and_then(|(_, v)| v.as_str()),
                _ => None,
            };
            match id.map(str::trim) {
                Some(id) if !id.is_empty() => Ok(id.to_owned()),
                _ => Err(ScimError::invalid_value(
                    "each member must be an object with a non-empty string value",
                )),
            }
        })
        .collect()
}

/// Ids named by a member filter: `value eq "x"`, possibly joined with `or`.
fn filter_ids(filter: &FilterExpr, into: &mut Vec<String>) -> ScimResult<()> {
    match filter {
        FilterExpr::Or(left, right) => {
            filter_ids(left, into)?;
            filter_ids(right, into)
        }
        FilterExpr::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.schema.is_none()
            && path.sub_attribute.is_none()
            && path.attribute.eq_ignore_ascii_case("value") =>
        {
            into.push(id.clone());
            Ok(())
        }
        _ => Err(ScimError::invalid_path(format!(
            "unsupported members filter {filter}: use value eq \"id\""
        ))),
    }
}

/// Plans a Group PATCH (see the module documentation).
pub fn plan_group_patch(ops: &[PatchOperation]) -> ScimResult<GroupPatchPlan> {
    let mut members = Members::default();
    let mut attribute_ops = Vec::new();
    for operation in ops {
        let value = operation.value.as_ref().unwrap_or(&Value::Null);
        match &operation.path {
            None => {
                let Value::Object(object) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "{} without a path needs an object value",
                        operation.op
                    )));
                };
                let mut rest = Map::new();
                for (key, nested) in object {
                    let is_members_key = crate::filter::parse_attr_path(key)
                        .map(|path| is_members(&path))
                        .unwrap_or(false);
                    if !is_members_key {
                        rest.insert(key.clone(), nested.clone());
                        continue;
                    }
                    let ids = member_ids(nested)?;
                    match operation.op {
                        PatchOpKind::Replace => members.replace_all(ids),
                        _ => ids.into_iter().for_each(|id| members.add(id)),
                    }
                }
                if !rest.is_empty() {
                    attribute_ops.push(PatchOperation {
                        op: operation.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    });
                }
            }
            Some(PatchPath { path, filter }) if is_members(path) => {
                if path.sub_attribute.is_some() {
                    return Err(ScimError::invalid_path(format!(
                        "{path}: members can only be changed as whole values"
                    )));
                }
                match (operation.op, filter) {
                    (PatchOpKind::Add, None) => {
                        member_ids(value)?
                            .into_iter()
                            .for_each(|id| members.add(id));
                    }
                    (PatchOpKind::Replace, None) => members.replace_all(member_ids(value)?),
                    (PatchOpKind::Remove, None) => match value {
                        // Without a value every member goes (RFC 7644 §3.5.2.2).
                        Value::Null => members.replace_all(Vec::new()),
                        listed => {
                            Quirk::RemoveListedValues.seen();
                            member_ids(listed)?
                                .into_iter()
                                .for_each(|id| members.remove(id));
                        }
                    },
                    (PatchOpKind::Remove, Some(filter)) => {
                        let mut ids = Vec::new();
                        filter_ids(filter, &mut ids)?;
                        ids.into_iter().for_each(|id| members.remove(id));
                    }
                    (PatchOpKind::Add | PatchOpKind::Replace, Some(_)) => {
                        // members.value is immutable: a member element cannot be rewritten.
                        return Err(ScimError::mutability(
                            "members cannot be changed in place: remove and add them",
                        ));
                    }
                }
            }
            Some(_) => attribute_ops.push(operation.clone()),
        }
    }
    Ok(GroupPatchPlan {
        attribute_ops,
        replace_members: members.replace.map(IdSet::into_vec),
        add: members.add.into_vec(),
        remove: members.remove.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::patch::parse_patch_request;
    use crate::schema::PATCH_OP_SCHEMA;
    use serde_json::json;

    fn plan(operations: Value) -> ScimResult<GroupPatchPlan> {
        let ops = parse_patch_request(
            &json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": operations }),
        )?;
        plan_group_patch(&ops)
    }
    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    // Okta: add members, remove members[value eq "id"].
    #[test]
    fn okta_member_operations() {
        let p = plan(json!([
            { "op": "add", "path": "members", "value": [{ "value": "u1", "display": "A" }, { "value": "u2" }] },
            { "op": "remove", "path": "members[value eq \"u3\"]" },
        ]))
        .unwrap();
        assert_eq!(p.add, ids(&["u1", "u2"]));
        assert_eq!(p.remove, ids(&["u3"]));
        assert!(p.replace_members.is_none());
        assert!(p.attribute_ops.is_empty());
        assert!(p.changes_members());
    }

    // Entra: {"op":"Remove","path":"members","value":[{"value":"<id>"}]}.
    #[test]
    fn entra_remove_with_value_list() {
        let p = plan(json!([
            { "op": "Remove", "path": "members", "value": [{ "value": "u1" }, { "value": "u2" }] },
            { "op": "Add", "path": "members", "value": [{ "value": "u3" }] },
        ]))
        .unwrap();
        assert_eq!(p.remove, ids(&["u1", "u2"]));
        assert_eq!(p.add, ids(&["u3"]));
    }

    // RFC 7644 §3.5.2.2: remove members without value removes all.
    #[test]
    fn remove_all_then_add() {
        let p = plan(json!([
            { "op": "add", "path": "members", "value": [{ "value": "u9" }] },
            { "op": "remove", "path": "members" },
            { "op": "add", "path": "members", "value": [{ "value": "u1" }] },
        ]))
        .unwrap();
        assert_eq!(p.replace_members, Some(ids(&["u1"])));
        assert!(p.add.is_empty() && p.remove.is_empty());
    }

    // Later operations win for the same id.
    #[test]
    fn later_operations_win() {
        let p = plan(json!([
            { "op": "add", "path": "members", "value": [{ "value": "u1" }] },
            { "op": "remove", "path": "members[value eq \"u1\"]" },
            { "op": "remove", "path": "members[value eq \"u2\"]" },
            { "op": "add", "path": "members", "value": [{ "value": "u2" }] },
        ]))
        .unwrap();
        assert_eq!(p.add, ids(&["u2"]));
        assert_eq!(p.remove, ids(&["u1"]));

        let p = plan(json!([
            { "op": "replace", "path": "members", "value": [{ "value": "a" }, { "value": "b" }, { "value": "a" }] },
            { "op": "remove", "path": "members[value eq \"b\" or value eq \"c\"]" },
            { "op": "add", "path": "members", "value": [{ "value": "c" }] },
        ]))
        .unwrap();
        assert_eq!(p.replace_members, Some(ids(&["a", "c"])));
    }

    // Replace without path: {displayName, members}; op names in any case.
    #[test]
    fn replace_without_path() {
        let p = plan(json!([
            { "op": "REPLACE", "value": { "id": "g1", "displayName": "New", "members": [{ "value": "u1" }] } },
        ]))
        .unwrap();
        assert_eq!(p.replace_members, Some(ids(&["u1"])));
        assert_eq!(p.attribute_ops.len(), 1);
        assert_eq!(
            p.attribute_ops[0].value,
            Some(json!({ "id": "g1", "displayName": "New" }))
        );
        let mut group = json!({
            "schemas": [schema::GROUP_SCHEMA], "id": "g1", "displayName": "Old", "externalId": "e"
        });
        let mask = p.apply_attributes(&mut group).unwrap();
        assert_eq!(mask, ["display_name"]);
        assert_eq!(group["displayName"], "New");
    }

    #[test]
    fn attribute_changes_produce_the_update_mask() {
        let p = plan(json!([
            { "op": "replace", "path": "externalId", "value": "ext-2" },
            { "op": "add", "path": "urn:example:ext:1.0:Group:cost", "value": "42" },
        ]))
        .unwrap();
        assert!(!p.changes_members());
        let mut group =
            json!({ "schemas": [schema::GROUP_SCHEMA], "id": "g1", "displayName": "G" });
        let mask = p.apply_attributes(&mut group).unwrap();
        assert_eq!(mask, ["external_id", "extra_attributes"]);
        assert_eq!(group["urn:example:ext:1.0:Group"]["cost"], "42");

        let p = plan(json!([{ "op": "replace", "path": "id", "value": "other" }])).unwrap();
        let mut group = json!({ "id": "g1", "displayName": "G" });
        let error = p.apply_attributes(&mut group).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::Mutability));
    }

    #[test]
    fn rejects_unsupported_member_operations() {
        let error =
            plan(json!([{ "op": "remove", "path": "members[display eq \"x\"]" }])).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidPath));
        let error = plan(json!([{ "op": "replace", "path": "members[value eq \"x\"]", "value": { "value": "y" } }])).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::Mutability));
        let error =
            plan(json!([{ "op": "add", "path": "members", "value": [{ "display": "x" }] }]))
                .unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        let error =
            plan(json!([{ "op": "add", "path": "members.value", "value": "x" }])).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidPath));
    }

    #[test]
    fn urn_qualified_members_path() {
        let p = plan(json!([
            { "op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": ["u1"] },
        ]))
        .unwrap();
        assert_eq!(p.add, ids(&["u1"]));
    }

    #[test]
    fn members_removed_and_added_again_are_added_once() {
        let p = plan(json!([
            { "op": "add", "path": "members", "value": [{ "value": "u1" }, { "value": "u2" }, { "value": "u3" }] },
            { "op": "remove", "path": "members[value eq \"u2\"]" },
            { "op": "add", "path": "members", "value": [{ "value": "u2" }, { "value": "u1" }] },
        ]))
        .unwrap();
        assert_eq!(p.add, ids(&["u1", "u2", "u3"]));
        assert!(p.remove.is_empty());
    }
}
