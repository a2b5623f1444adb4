//! Tests of the PATCH engine, by RFC 7644 section, plus property tests of its invariants.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::error::ScimType;
use crate::patch::parse_patch_request;
use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA};

fn user() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "ext-1",
        "userName": "bjensen",
        "name": { "familyName": "Jensen", "givenName": "Barbara" },
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "meta": { "resourceType": "User", "version": "W/\"3\"" },
        ENTERPRISE_USER_SCHEMA: { "employeeNumber": "701984", "manager": { "value": "m1", "displayName": "Boss" } }
    })
}

fn ops(operations: Value) -> Vec<PatchOperation> {
    parse_patch_request(&json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": operations })).unwrap()
}

fn patch(resource: &Value, operations: Value) -> ScimResult<Value> {
    let mut resource = resource.clone();
    apply_patch(&mut resource, &ops(operations), ResourceKind::User)?;
    Ok(resource)
}

fn patch_err(operations: Value) -> ScimType {
    let original = user();
    let mut resource = original.clone();
    let error = apply_patch(&mut resource, &ops(operations), ResourceKind::User).unwrap_err();
    assert_eq!(resource, original, "a failed patch must change nothing");
    error.scim_type.expect("scimType")
}

fn primaries(resource: &Value, attribute: &str) -> usize {
    resource[attribute]
        .as_array()
        .map(|items| items.iter().filter(|i| i["primary"] == json!(true)).count())
        .unwrap_or(0)
}

// === RFC 7644 §3.5.2.1 add ===

#[test]
fn add_simple_and_complex_attributes() {
    let r = patch(
        &user(),
        json!([
            { "op": "add", "path": "title", "value": "Tour Guide" },
            { "op": "add", "path": "name", "value": { "middleName": "J" } },
            { "op": "add", "path": "name.honorificPrefix", "value": "Ms." },
        ]),
    )
    .unwrap();
    assert_eq!(r["title"], "Tour Guide");
    assert_eq!(
        r["name"],
        json!({ "familyName": "Jensen", "givenName": "Barbara", "middleName": "J", "honorificPrefix": "Ms." })
    );
}

#[test]
fn add_to_multi_valued_appends_and_dedupes() {
    let r = patch(
        &user(),
        json!([
            { "op": "add", "path": "emails", "value": [
                { "value": "BJENSEN@example.com", "type": "work" },
                { "value": "new@example.com", "type": "other" }
            ] },
            { "op": "add", "path": "phoneNumbers", "value": { "value": "555", "type": "work" } },
        ]),
    )
    .unwrap();
    let emails = r["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3, "{emails:?}");
    assert_eq!(emails[2]["value"], "new@example.com");
    assert_eq!(
        r["phoneNumbers"],
        json!([{ "value": "555", "type": "work" }])
    );
}

#[test]
fn add_without_path_takes_paths_as_keys() {
    let r = patch(
        &user(),
        json!([{ "op": "add", "value": {
        "nickName": "Babs",
        "name.givenName": "Barb",
        "emails[type eq \"other\"].value": "o@example.com",
        ENTERPRISE_USER_SCHEMA: { "department": "Tour" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "4130",
    } }]),
    )
    .unwrap();
    assert_eq!(r["nickName"], "Babs");
    assert_eq!(r["name"]["givenName"], "Barb");
    assert_eq!(
        r["emails"][2],
        json!({ "type": "other", "value": "o@example.com" })
    );
    assert_eq!(r[ENTERPRISE_USER_SCHEMA]["department"], "Tour");
    assert_eq!(r[ENTERPRISE_USER_SCHEMA]["costCenter"], "4130");
}

// Entra adds a sub-attribute through a valuePath that matches nothing yet.
#[test]
fn add_with_filter_creates_the_described_element() {
    let r = patch(&user(), json!([
        { "op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St" },
        { "op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield" },
    ]))
    .unwrap();
    assert_eq!(
        r["addresses"],
        json!([{ "type": "work", "streetAddress": "1 Main St", "locality": "Springfield" }])
    );
    assert_eq!(
        patch_err(
            json!([{ "op": "add", "path": "emails[value co \"zzz\"].type", "value": "work" }])
        ),
        ScimType::NoTarget
    );
}

#[test]
fn add_enterprise_attribute_creates_the_extension_and_lists_it() {
    let mut resource = user();
    resource
        .as_object_mut()
        .unwrap()
        .remove(ENTERPRISE_USER_SCHEMA);
    resource["schemas"] = json!([USER_SCHEMA]);
    let r = patch(&resource, json!([{ "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division", "value": "West" }])).unwrap();
    assert_eq!(r[ENTERPRISE_USER_SCHEMA], json!({ "division": "West" }));
    assert_eq!(r["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
    // Removing the last attribute removes the extension from schemas.
    let r = patch(&r, json!([{ "op": "remove", "path": "division" }])).unwrap();
    assert!(r.get(ENTERPRISE_USER_SCHEMA).is_none());
    assert_eq!(r["schemas"], json!([USER_SCHEMA]));
}

// === RFC 7644 §3.5.2.3 replace ===

#[test]
fn a_whole_extension_object_may_carry_its_own_schemas_key() {
    // with a path, and keyed by its URN without one: the inner `schemas` is ignored
    let inner = json!({ "schemas": [ENTERPRISE_USER_SCHEMA], "department": "Tours" });
    for operations in [
        json!([{ "op": "replace", "path": ENTERPRISE_USER_SCHEMA, "value": inner }]),
        json!([{ "op": "add", "value": { ENTERPRISE_USER_SCHEMA: inner } }]),
    ] {
        let r = patch(&user(), operations).unwrap();
        assert_eq!(r[ENTERPRISE_USER_SCHEMA]["department"], "Tours");
        assert!(r[ENTERPRISE_USER_SCHEMA].get("schemas").is_none(), "{r}");
    }
}

#[test]
fn removing_active_is_refused_and_changes_nothing() {
    assert_eq!(
        patch_err(json!([{ "op": "remove", "path": "active" }])),
        ScimType::Mutability
    );
    assert_eq!(
        patch_err(json!([{ "op": "replace", "path": "active", "value": null }])),
        ScimType::Mutability
    );
}

#[test]
fn replace_semantics() {
    let r = patch(&user(), json!([
        { "op": "replace", "path": "userName", "value": "babs" },
        { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@work.com" },
        { "op": "replace", "path": "phoneNumbers", "value": [{ "value": "1" }, { "value": "2", "primary": true }] },
        { "op": "replace", "path": "name", "value": { "givenName": "B" } },
    ]))
    .unwrap();
    assert_eq!(r["userName"], "babs");
    assert_eq!(r["emails"][0]["value"], "b@work.com");
    assert_eq!(r["emails"][1]["value"], "babs@jensen.org");
    assert_eq!(r["phoneNumbers"].as_array().unwrap().len(), 2);
    // Complex replace leaves unspecified sub-attributes alone.
    assert_eq!(
        r["name"],
        json!({ "familyName": "Jensen", "givenName": "B" })
    );
    assert_eq!(
        patch_err(
            json!([{ "op": "replace", "path": "emails[type eq \"other\"].value", "value": "x" }])
        ),
        ScimType::NoTarget
    );
}

#[test]
fn replace_whole_element_through_filter() {
    let r = patch(&user(), json!([
        { "op": "replace", "path": "emails[type eq \"home\"]", "value": { "value": "h@x.org", "type": "home" } },
    ]))
    .unwrap();
    assert_eq!(
        r["emails"][1],
        json!({ "value": "h@x.org", "type": "home" })
    );
}

// Okta/Entra: replace without path, booleans as strings.
#[test]
fn idp_quirks() {
    let r = patch(&user(), json!([{ "op": "Replace", "value": { "active": "False", "id": "2819c223-7f76-453a-919d-413861904646" } }])).unwrap();
    assert_eq!(r["active"], false);
    let r = patch(
        &user(),
        json!([{ "op": "replace", "path": "active", "value": "TRUE" }]),
    )
    .unwrap();
    assert_eq!(r["active"], true);
    // Entra sends the manager as a bare id.
    let r = patch(&user(), json!([
        { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m2" },
    ]))
    .unwrap();
    assert_eq!(r[ENTERPRISE_USER_SCHEMA]["manager"]["value"], "m2");
    let r = patch(&user(), json!([{ "op": "add", "path": "manager", "value": { "value": "m3", "displayName": "ignored" } }])).unwrap();
    assert_eq!(
        r[ENTERPRISE_USER_SCHEMA]["manager"],
        json!({ "value": "m3", "displayName": "Boss" })
    );
}

// === RFC 7644 §3.5.2.2 remove ===

#[test]
fn remove_semantics() {
    let r = patch(&user(), json!([
        { "op": "remove", "path": "emails[type eq \"home\"]" },
        { "op": "remove", "path": "name.givenName" },
        { "op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" },
        { "op": "remove", "path": "nickName" },
    ]))
    .unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), 1);
    assert_eq!(r["name"], json!({ "familyName": "Jensen" }));
    assert!(r[ENTERPRISE_USER_SCHEMA].get("manager").is_none());
    let r = patch(&r, json!([{ "op": "remove", "path": "emails" }])).unwrap();
    assert!(r.get("emails").is_none());
    assert_eq!(
        patch_err(json!([{ "op": "remove", "path": "emails[type eq \"other\"]" }])),
        ScimType::NoTarget
    );
    // Entra-style listed values on a multi-valued attribute.
    let r = patch(
        &user(),
        json!([{ "op": "remove", "path": "emails", "value": [{ "value": "BABS@jensen.org" }] }]),
    )
    .unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), 1);
    // The whole extension.
    let r = patch(
        &user(),
        json!([{ "op": "remove", "path": ENTERPRISE_USER_SCHEMA }]),
    )
    .unwrap();
    assert!(r.get(ENTERPRISE_USER_SCHEMA).is_none());
    assert_eq!(r["schemas"], json!([USER_SCHEMA]));
}

// === mutability and types (RFC 7643 §7, RFC 7644 §3.5.2) ===

#[test]
fn mutability_errors() {
    for operations in [
        json!([{ "op": "replace", "path": "id", "value": "other" }]),
        json!([{ "op": "remove", "path": "id" }]),
        json!([{ "op": "replace", "path": "meta.version", "value": "x" }]),
        json!([{ "op": "add", "path": "groups", "value": [{ "value": "g" }] }]),
        json!([{ "op": "replace", "value": { "meta": { "version": "x" } } }]),
        json!([{ "op": "remove", "path": "userName" }]),
        json!([{ "op": "replace", "path": "userName", "value": null }]),
        json!([{ "op": "replace", "path": "manager.displayName", "value": "x" }]),
    ] {
        assert_eq!(
            patch_err(operations.clone()),
            ScimType::Mutability,
            "{operations}"
        );
    }
}

#[test]
fn immutable_member_values() {
    let group = json!({ "schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G", "members": [{ "value": "u1" }] });
    let mut resource = group.clone();
    let error = apply_patch(
        &mut resource,
        &ops(json!([
            { "op": "replace", "path": "members[value eq \"u1\"].value", "value": "u2" }
        ])),
        ResourceKind::Group,
    )
    .unwrap_err();
    assert_eq!(error.scim_type, Some(ScimType::Mutability));
    assert_eq!(resource, group);
    // Adding a member whose id differs only in case is a new member (caseExact).
    apply_patch(&mut resource, &ops(json!([
        { "op": "add", "path": "members", "value": [{ "value": "U1" }, { "value": "u1", "display": "dropped" }] }
    ])), ResourceKind::Group)
    .unwrap();
    assert_eq!(
        resource["members"],
        json!([{ "value": "u1" }, { "value": "U1" }])
    );
}

#[test]
fn type_errors_are_invalid_value() {
    for operations in [
        json!([{ "op": "replace", "path": "active", "value": "maybe" }]),
        json!([{ "op": "replace", "path": "userName", "value": true }]),
        json!([{ "op": "replace", "path": "name", "value": 5 }]),
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "a@b", "bogus": 1 }] }]),
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "a@b", "primary": "yes" }] }]),
        json!([{ "op": "replace", "value": { "shoeSize": 42 } }]),
    ] {
        assert_eq!(
            patch_err(operations.clone()),
            ScimType::InvalidValue,
            "{operations}"
        );
    }
}

#[test]
fn unknown_paths_are_invalid_path() {
    for operations in [
        json!([{ "op": "replace", "path": "shoeSize", "value": 42 }]),
        json!([{ "op": "replace", "path": "name.shoeSize", "value": 42 }]),
        json!([{ "op": "replace", "path": "title[value eq \"x\"]", "value": 42 }]),
        json!([{ "op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:displayName", "value": "x" }]),
    ] {
        assert_eq!(
            patch_err(operations.clone()),
            ScimType::InvalidPath,
            "{operations}"
        );
    }
}

// Unknown extension attributes are kept verbatim.
#[test]
fn foreign_extensions_are_generic() {
    let r = patch(
        &user(),
        json!([
            { "op": "add", "path": "urn:example:ext:1.0:User:badge", "value": { "id": 7 } },
            { "op": "add", "path": "urn:example:ext:1.0:User:tags", "value": ["a"] },
            { "op": "add", "path": "urn:example:ext:1.0:User:tags", "value": ["a", "b"] },
        ]),
    )
    .unwrap();
    assert_eq!(
        r["urn:example:ext:1.0:User"],
        json!({ "badge": { "id": 7 }, "tags": ["a", "b"] })
    );
    assert!(
        r["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:example:ext:1.0:User"))
    );
}

// A failed operation after successful ones leaves the resource untouched.
#[test]
fn failure_is_atomic() {
    assert_eq!(
        patch_err(json!([
            { "op": "replace", "path": "title", "value": "x" },
            { "op": "replace", "path": "id", "value": "y" },
        ])),
        ScimType::Mutability
    );
}

// RFC 7643 §2.4: at most one primary; a new primary clears the others.
#[test]
fn new_primary_clears_the_others() {
    let r = patch(&user(), json!([
        { "op": "add", "path": "emails", "value": [{ "value": "n@x.com", "type": "other", "primary": true }] },
    ]))
    .unwrap();
    assert_eq!(primaries(&r, "emails"), 1);
    assert_eq!(r["emails"][2]["primary"], true);
    let r = patch(
        &user(),
        json!([
            { "op": "replace", "path": "emails[type eq \"home\"].primary", "value": true },
        ]),
    )
    .unwrap();
    assert_eq!(primaries(&r, "emails"), 1);
    assert_eq!(r["emails"][1]["primary"], true);
    assert_eq!(r["emails"][0]["primary"], false);
}

// === multi-valued identity (the hash index behaves as the pairwise comparison it replaced) ===

#[test]
fn replace_merges_duplicates_differing_in_case() {
    let r = patch(
        &user(),
        json!([{ "op": "replace", "path": "emails", "value": [
        { "value": "A@x.com", "type": "work" },
        { "value": "b@x.com" },
        { "value": "a@x.com", "display": "A", "primary": true },
        { "value": "a@X.com", "type": "home" },
    ] }]),
    )
    .unwrap();
    // The first one stays in place and takes the later value's spelling and sub-attributes.
    assert_eq!(
        r["emails"],
        json!([
            { "value": "a@x.com", "type": "work", "display": "A", "primary": true },
            { "value": "b@x.com" },
            { "value": "a@X.com", "type": "home" },
        ])
    );
}

#[test]
fn add_merges_into_existing_elements() {
    let r = patch(
        &user(),
        json!([{ "op": "add", "path": "emails", "value": [
        { "value": "BJENSEN@EXAMPLE.COM", "display": "B" },
        { "value": "babs@jensen.org", "type": "HOME", "primary": true },
        { "value": "babs@jensen.org", "type": "other" },
    ] }]),
    )
    .unwrap();
    assert_eq!(
        r["emails"],
        json!([
            { "value": "BJENSEN@EXAMPLE.COM", "type": "work", "primary": false, "display": "B" },
            { "value": "babs@jensen.org", "type": "HOME", "primary": true },
            { "value": "babs@jensen.org", "type": "other" },
        ])
    );
    // An untyped element takes the type of the first typed value merged into it; a value of
    // another type is then a new element.
    let mut resource = user();
    resource["emails"] = json!([{ "value": "u@x.com" }, { "value": "U@x.com" }]);
    let r = patch(
        &resource,
        json!([{ "op": "add", "path": "emails", "value": [
        { "value": "U@X.com", "type": "work" },
        { "value": "u@x.com", "type": "home" },
        { "value": "u@x.com", "type": "other" },
        { "value": "u@x.com", "type": "Home", "display": "h" },
    ] }]),
    )
    .unwrap();
    assert_eq!(
        r["emails"],
        json!([
            { "value": "U@X.com", "type": "work" },
            { "value": "u@x.com", "type": "Home", "display": "h" },
            { "value": "u@x.com", "type": "other" },
        ])
    );
}

#[test]
fn remove_listed_values_by_identity() {
    let mut resource = user();
    resource["emails"] = json!([
        { "value": "A@x.com", "type": "work" },
        { "value": "a@x.com", "type": "home" },
        { "value": "b@x.com" },
        { "value": "c@x.com", "type": "work" },
    ]);
    let r = patch(
        &resource,
        json!([{ "op": "remove", "path": "emails", "value": [
        { "value": "a@X.com", "type": "WORK" },
        { "value": "B@x.com", "type": "home" },
        { "value": "c@x.com", "type": "home" },
    ] }]),
    )
    .unwrap();
    assert_eq!(
        r["emails"],
        json!([{ "value": "a@x.com", "type": "home" }, { "value": "c@x.com", "type": "work" }])
    );
    // Member ids are caseExact: "U1" does not remove "u1".
    let group = json!({ "schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G",
        "members": [{ "value": "u1" }, { "value": "u2" }] });
    let mut resource = group.clone();
    apply_patch(
        &mut resource,
        &ops(json!([{ "op": "remove", "path": "members", "value": [{ "value": "U1" }, { "value": "u2" }] }])),
        ResourceKind::Group,
    )
    .unwrap();
    assert_eq!(resource["members"], json!([{ "value": "u1" }]));
}

// Tens of thousands of values in one PATCH: correct, and fast only because the work is linear
// (pairwise comparison would take minutes in a debug build). No timing is asserted.
#[test]
fn many_values_in_one_patch() {
    const N: usize = 20_000;
    let emails: Vec<Value> = (0..N)
        .map(|i| json!({ "value": format!("user{i}@example.com"), "type": "work" }))
        .collect();
    let r = patch(
        &user(),
        json!([{ "op": "add", "path": "emails", "value": emails }]),
    )
    .unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), N + 2);
    assert_eq!(primaries(&r, "emails"), 1);
    // The same values again, upper-cased: all merge, none is added.
    let shouted: Vec<Value> = (0..N)
        .map(|i| json!({ "value": format!("USER{i}@EXAMPLE.COM") }))
        .collect();
    let r = patch(
        &r,
        json!([{ "op": "add", "path": "emails", "value": shouted }]),
    )
    .unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), N + 2);
    assert_eq!(
        r["emails"][N + 1]["value"],
        format!("USER{}@EXAMPLE.COM", N - 1)
    );
    let listed: Vec<Value> = (0..N)
        .map(|i| json!({ "value": format!("user{i}@example.com") }))
        .collect();
    let r = patch(
        &r,
        json!([{ "op": "remove", "path": "emails", "value": listed }]),
    )
    .unwrap();
    assert_eq!(r["emails"], user()["emails"]);
    // One value under many types: each type is its own element.
    let typed: Vec<Value> = (0..N)
        .map(|i| json!({ "value": "same@example.com", "type": format!("t{i}") }))
        .collect();
    let r = patch(
        &user(),
        json!([{ "op": "replace", "path": "emails", "value": typed }]),
    )
    .unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), N);
}

// The pairwise definitions the index replaced, kept as the oracle.
fn pairwise_string_eq(def: Option<&AttributeDef>, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => {
            if def.is_some_and(|d| d.case_exact) {
                a == b
            } else {
                a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
            }
        }
        _ => a == b,
    }
}

fn pairwise_same_element(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    let value_def = def.sub_attribute("value");
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(va), Some(vb)) => {
            let types_agree = match (get_ci(a, "type"), get_ci(b, "type")) {
                (Some(ta), Some(tb)) => pairwise_string_eq(None, ta, tb),
                _ => true,
            };
            pairwise_string_eq(value_def, va, vb) && types_agree
        }
        _ => a == b,
    }
}

fn pairwise_add(def: &AttributeDef, items: &mut Vec<Value>, element: Value) -> usize {
    match items
        .iter()
        .position(|item| pairwise_same_element(def, item, &element))
    {
        Some(index) => {
            merge_element(def, &mut items[index], element);
            index
        }
        None => {
            items.push(element);
            items.len() - 1
        }
    }
}

fn multi_def(name: &str) -> &'static AttributeDef {
    match name {
        "members" => crate::schema::GROUP_SCHEMA_DEF.attribute(name),
        _ => crate::schema::USER_SCHEMA_DEF.attribute(name),
    }
    .unwrap()
}

/// Elements that collide often: values and types differing in case (ASCII and not), numbers,
/// elements without a value, bare strings, non-canonical key spellings.
fn arb_element() -> impl Strategy<Value = Value> {
    let values = prop::sample::select(vec![
        json!("a@x.com"),
        json!("A@X.com"),
        json!("b@x.com"),
        json!("ǅ"),
        json!("ǆ"),
        json!("ΟΔΟΣ"),
        json!("οδος"),
        json!(1),
        json!("1"),
        json!(null),
    ]);
    let kinds = prop::sample::select(vec![
        json!("work"),
        json!("WORK"),
        json!("home"),
        json!("Home"),
        json!(7),
        json!(null),
    ]);
    prop_oneof![
        8 => (
            prop::option::of(values),
            prop::option::of(kinds),
            prop::option::of(prop::sample::select(vec!["d1", "d2"])),
            any::<bool>(),
            prop::sample::select(vec!["value", "Value"]),
        )
            .prop_map(|(value, kind, display, primary, value_key)| {
                let mut element = Map::new();
                if let Some(value) = value {
                    element.insert(value_key.to_owned(), value);
                }
                if let Some(kind) = kind {
                    element.insert("type".to_owned(), kind);
                }
                if let Some(display) = display {
                    element.insert("display".to_owned(), json!(display));
                }
                if primary {
                    element.insert("primary".to_owned(), json!(true));
                }
                Value::Object(element)
            }),
        1 => prop::sample::select(vec![json!("s"), json!("S"), json!(2)]),
    ]
}

proptest! {
    #[test]
    fn index_agrees_with_pairwise_comparison(
        attribute in prop::sample::select(vec!["emails", "members", "addresses", "roles"]),
        existing in prop::collection::vec(arb_element(), 0..12),
        new in prop::collection::vec(arb_element(), 0..12),
    ) {
        let def = multi_def(attribute);
        // add: same positions, same merged elements
        let (mut indexed, mut pairwise) = (existing.clone(), existing.clone());
        let mut known = ElementIndex::new(def, &indexed);
        for element in new.clone() {
            let at = known.add(&mut indexed, element.clone());
            prop_assert_eq!(at, pairwise_add(def, &mut pairwise, element));
        }
        prop_assert_eq!(&indexed, &pairwise);
        // dedupe
        let mut deduped = new.clone();
        dedupe(def, &mut deduped);
        let mut expected = Vec::new();
        for element in new.clone() {
            pairwise_add(def, &mut expected, element);
        }
        prop_assert_eq!(&deduped, &expected);
        // remove listed values
        let gone = ElementIndex::new(def, &new);
        for item in &existing {
            let pairwise = new.iter().any(|g| pairwise_same_element(def, item, g));
            prop_assert_eq!(gone.contains(item), pairwise, "{}", item);
        }
    }

    #[test]
    fn fold_agrees_with_string_eq(
        a in "\\PC{0,8}",
        flips in prop::collection::vec(any::<bool>(), 0..8),
        other in "\\PC{0,8}",
        case_exact in any::<bool>(),
    ) {
        // `a` with some ASCII letters' case flipped, and an unrelated string
        let flipped: String = a
            .chars()
            .zip(flips.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &flip)| if flip && c.is_ascii_uppercase() { c.to_ascii_lowercase() } else if flip { c.to_ascii_uppercase() } else { c })
            .collect();
        let def = if case_exact { multi_def("members").sub_attribute("value") } else { None };
        for b in [flipped, other, a.to_lowercase(), a.to_uppercase()] {
            let (a, b) = (json!(a), json!(b));
            prop_assert_eq!(pairwise_string_eq(def, &a, &b), fold(def, &a) == fold(def, &b));
        }
    }
}

// === property tests ===

fn arb_email() -> impl Strategy<Value = Value> {
    (
        0..4u8,
        prop::option::of(prop::sample::select(vec!["work", "home", "other"])),
        any::<bool>(),
    )
        .prop_map(|(n, kind, primary)| {
            let mut element = json!({ "value": format!("u{n}@example.com") });
            if let Some(kind) = kind {
                element["type"] = json!(kind);
            }
            if primary {
                element["primary"] = json!(true);
            }
            element
        })
}

fn arb_operation() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(vec!["work", "home", "other"]);
    prop_oneof![
        prop::collection::vec(arb_email(), 0..3).prop_map(|v| json!({ "op": "add", "path": "emails", "value": v })),
        prop::collection::vec(arb_email(), 0..3).prop_map(|v| json!({ "op": "replace", "path": "emails", "value": v })),
        kinds.clone().prop_map(|k| json!({ "op": "remove", "path": format!("emails[type eq \"{k}\"]") })),
        (kinds.clone(), any::<bool>()).prop_map(|(k, p)| json!({ "op": "replace", "path": format!("emails[type eq \"{k}\"].primary"), "value": p })),
        (kinds, 0..4u8).prop_map(|(k, n)| json!({ "op": "add", "path": format!("emails[type eq \"{k}\"].value"), "value": format!("v{n}@x.com") })),
        prop::collection::vec(arb_email(), 1..3).prop_map(|v| json!({ "op": "Add", "value": { "emails": v, "title": "t" } })),
        Just(json!({ "op": "replace", "path": "id", "value": "other" })),
        Just(json!({ "op": "remove", "path": "meta" })),
        Just(json!({ "op": "replace", "path": "active", "value": "False" })),
        Just(json!({ "op": "replace", "path": "active", "value": 3 })),
        Just(json!({ "op": "remove", "path": "name.givenName" })),
        // any Unicode in keys, paths and values: byte offsets never cut a character
        (any::<String>(), any::<String>()).prop_map(|(k, v)| json!({ "op": "add", "value": { k: v } })),
        ("\\PC{0,24}", any::<String>()).prop_map(|(p, v)| json!({ "op": "replace", "path": p, "value": v })),
        "(urn:|名前|é|[a-z:.\\[\\] \"])*".prop_map(|p| json!({ "op": "remove", "path": p })),
    ]
}

proptest! {
    #[test]
    fn random_patch_sequences_keep_invariants(
        batches in prop::collection::vec(prop::collection::vec(arb_operation(), 1..4), 1..6)
    ) {
        let mut resource = user();
        let id = resource["id"].clone();
        let meta = resource["meta"].clone();
        for batch in batches {
            let before = resource.clone();
            let request = json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": batch });
            let operations = match parse_patch_request(&request) {
                Ok(operations) => operations,
                Err(error) => {
                    // a request that does not parse is a client error, never a panic or a 500
                    prop_assert_eq!(error.status, 400, "{}", error);
                    continue;
                }
            };
            match apply_patch(&mut resource, &operations, ResourceKind::User) {
                Ok(()) => {}
                Err(error) => {
                    prop_assert_eq!(&resource, &before, "failed patch changed the resource: {}", error);
                }
            }
            prop_assert!(primaries(&resource, "emails") <= 1, "{}", resource);
            prop_assert_eq!(&resource["id"], &id);
            prop_assert_eq!(&resource["meta"], &meta);
            prop_assert_eq!(&resource["userName"], "bjensen");
        }
    }
}
