//! SCIM vocabulary shared by the tests: schema URNs, request-body builders and small readers.
//! Builders produce what identity providers send; they hold no assertions of their own.

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A minimal user: userName, a name, one work email, active.
pub fn user(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": { "givenName": "Test", "familyName": "User" },
        "emails": [{ "value": email_of(user_name), "type": "work", "primary": true }],
        "active": true
    })
}

/// An email address derived from a user name (which may already be one).
pub fn email_of(user_name: &str) -> String {
    if user_name.contains('@') {
        user_name.to_owned()
    } else {
        format!("{user_name}@example.com")
    }
}

/// A group with members given by id.
pub fn group(display_name: &str, member_ids: &[&str]) -> Value {
    let members: Vec<Value> = member_ids.iter().map(|id| json!({ "value": id })).collect();
    json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": display_name,
        "members": members
    })
}

/// A PatchOp request with the given operations.
pub fn patch(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// The `value`s of a group's `members`, sorted.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Sorted copy of string ids.
pub fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ids.sort();
    ids
}

/// Percent-encodes a query parameter value (filters contain spaces, quotes and brackets).
pub fn enc(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `/Users?filter=<encoded filter>`.
pub fn users_filter(filter: &str) -> String {
    format!("/Users?filter={}", enc(filter))
}

/// `/Groups?filter=<encoded filter>`.
pub fn groups_filter(filter: &str) -> String {
    format!("/Groups?filter={}", enc(filter))
}
