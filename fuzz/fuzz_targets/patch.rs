//! The PATCH engine on real resources: any JSON body is parsed as a PatchOp request, planned
//! and applied to a full user and a group. No panic; a failed PATCH leaves the resource as it
//! was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_edge::patch::{apply_patch, parse_patch_request, plan_group_patch, plan_user_patch};
use scim_edge::schema::ResourceKind;
use serde_json::{Value, json};

fn user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen@example.com",
        "name": { "givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen" },
        "displayName": "Babs Jensen",
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "phoneNumbers": [{ "value": "555-555-8377", "type": "work" }],
        "groups": [{ "value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides" }],
        "meta": { "resourceType": "User", "version": "W/\"3\"" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith" }
        }
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            { "value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen" },
            { "value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge" }
        ],
        "meta": { "resourceType": "Group", "version": "W/\"7\"" }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(operations) = parse_patch_request(&body) else {
        return;
    };
    let _ = plan_user_patch(&operations);
    let _ = plan_group_patch(&operations);
    for (original, kind) in [(user(), ResourceKind::User), (group(), ResourceKind::Group)] {
        let mut resource = original.clone();
        if apply_patch(&mut resource, &operations, kind).is_err() {
            assert_eq!(resource, original, "a failed PATCH changed the resource");
        }
    }
});
