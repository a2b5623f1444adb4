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
