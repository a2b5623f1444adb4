//! The SCIM representations of the core's resources (RFC 7643 §4): users and roles (as Groups)
//! converted to SCIM JSON for responses, and SCIM JSON from requests validated and converted
//! into the core's messages.
//!
//! Representation choices: unassigned attributes are omitted (never `null` or `""`); `schemas`
//! lists the Enterprise User URN only when the user has enterprise data, and any other
//! extension URN whose data the core keeps; `meta.version` is `W/"<core version>"`; times are
//! RFC 3339 UTC with millisecond precision.

pub mod group;
pub mod user;

use serde_json::{Map, Value, json};

use crate::error::{ScimError, ScimResult};
use crate::etag::etag;

/// How a request body is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    /// A client's POST/PUT body: extension data must be under a URN listed in `schemas`.
    Request,
    /// The result of applying a PATCH to a stored resource: extension URN keys were put there
    /// by the client's operations on paths naming their schema, so they are accepted as is.
    Patched,
    /// The values of a planned PATCH (`crate::patch::plan_user_patch`): only the attributes it
    /// sets, so none is required; otherwise as `Patched`.
    Partial,
}

/// RFC 3339 UTC text of a protobuf timestamp, at the store's microsecond precision so that a
/// client filtering on `meta.lastModified gt <a value we returned>` gets exactly what it expects.
pub fn rfc3339(timestamp: Option<&prost_types::Timestamp>) -> Option<String> {
    let timestamp = timestamp?;
    let nanos = u32::try_from(timestamp.nanos).unwrap_or(0);
    chrono::DateTime::from_timestamp(timestamp.seconds, nanos)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// The `meta` attribute (RFC 7643 §3.1).
pub fn meta(
    resource_type: &str,
    location: String,
    version: i64,
    created: Option<&prost_types::Timestamp>,
    last_modified: Option<&prost_types::Timestamp>,
) -> Value {
    let mut meta = json!({
        "resourceType": resource_type,
        "location": location,
        "version": etag(version),
    });
    if let Some(created) = rfc3339(created) {
        meta["created"] = json!(created);
    }
    if let Some(modified) = rfc3339(last_modified) {
        meta["lastModified"] = json!(modified);
    }
    meta
}

/// Inserts `value` under `key` unless it is empty.
pub(crate) fn put_str(object: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        object.insert(key.to_owned(), json!(value));
    }
}

/// Whether `key` is a schema URN (extension data key).
pub(crate) fn is_urn(key: &str) -> bool {
    // compared as bytes: request keys may be any Unicode, and a str slice at byte 4 can fall
    // inside a character
    key.len() > 4 && key.as_bytes()[..4].eq_ignore_ascii_case(b"urn:")
}

/// A string attribute; `null` is unassigned.
pub(crate) fn string_value(name: &str, value: &Value) -> ScimResult<String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(ScimError::invalid_value(format!("{name} must be a string"))),
    }
}

/// A boolean attribute; identity providers send `"True"` / `"False"` strings too.
pub(crate) fn bool_value(name: &str, value: &Value) -> ScimResult<Option<bool>> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => {
            crate::quirks::Quirk::StringBoolean.seen();
            Ok(Some(true))
        }
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => {
            crate::quirks::Quirk::StringBoolean.seen();
            Ok(Some(false))
        }
        _ => Err(ScimError::invalid_value(format!(
            "{name} must be a boolean"
        ))),
    }
}

/// The URNs listed in a body's `schemas`.
pub(crate) fn schemas_of(value: &Value) -> ScimResult<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ScimError::invalid_value("schemas must be an array of strings"))
            })
            .collect(),
        _ => Err(ScimError::invalid_value(
            "schemas must be an array of strings",
        )),
    }
}

/// The body as an object.
pub(crate) fn as_object<'v>(body: &'v Value, what: &str) -> ScimResult<&'v Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("{what} must be a json object")))
}

/// Accepts an extension key when `schemas` lists it (or in PATCH mode).
pub(crate) fn check_extension_listed(
    key: &str,
    schemas: &[String],
    mode: InputMode,
) -> ScimResult<()> {
    if matches!(mode, InputMode::Patched | InputMode::Partial)
        || schemas.iter().any(|s| s.eq_ignore_ascii_case(key))
    {
        Ok(())
    } else {
        Err(ScimError::invalid_value(format!(
            "attribute {key} belongs to a schema not listed in schemas"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let ts = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5_000_000,
        };
        assert_eq!(rfc3339(Some(&ts)).unwrap(), "2023-11-14T22:13:20.005000Z");
        assert_eq!(rfc3339(None), None);
    }

    #[test]
    fn booleans_accept_idp_strings() {
        assert_eq!(bool_value("active", &json!("False")).unwrap(), Some(false));
        assert_eq!(bool_value("active", &json!("TRUE")).unwrap(), Some(true));
        assert!(bool_value("active", &json!("no")).is_err());
    }
}
