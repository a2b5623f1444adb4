//! Resource versions as HTTP entity tags (RFC 7644 §3.14): the core's monotonic version `n`
//! is shown as the weak tag `W/"n"` in `meta.version` and the `ETag` header, and `If-Match` /
//! `If-None-Match` are read back into versions. Weak and strong forms compare alike.

use axum::http::HeaderMap;
use axum::http::header::{IF_MATCH, IF_NONE_MATCH};

use crate::error::{ScimError, ScimResult};

/// The entity tag of `version`.
pub(crate) fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version in a tag `W/"n"` or `"n"` (or a bare `n`, which some clients send).
pub(crate) fn parse_etag(tag: &str) -> Option<i64> {
    let tag = tag.trim();
    let tag = tag
        .strip_prefix("W/")
        .or_else(|| tag.strip_prefix("w/"))
        .unwrap_or(tag);
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    tag.parse().ok()
}

fn header_tags(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<Vec<String>> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().to_owned())
        .filter(|tag| !tag.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// The version `If-Match` requires: `None` when absent or `*`. A tag that cannot be one of our
/// versions can never match, so it is refused with 412 right away.
pub(crate) fn if_match(headers: &HeaderMap) -> ScimResult<Option<i64>> {
    let Some(tags) = header_tags(headers, IF_MATCH) else {
        return Ok(None);
    };
    if tags.iter().any(|tag| tag == "*") {
        return Ok(None);
    }
    match tags.iter().find_map(|tag| parse_etag(tag)) {
        Some(version) => Ok(Some(version)),
        None => Err(ScimError::precondition_failed(
            "if-match does not match the resource version",
        )),
    }
}

/// Whether `If-None-Match` matches `version` (so a GET answers 304).
pub(crate) fn if_none_match(headers: &HeaderMap, version: i64) -> bool {
    header_tags(headers, IF_NONE_MATCH).is_some_and(|tags| {
        tags.iter()
            .any(|tag| tag == "*" || parse_etag(tag) == Some(version))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tags_round_trip() {
        assert_eq!(etag(7), "W/\"7\"");
        assert_eq!(parse_etag("W/\"7\""), Some(7));
        assert_eq!(parse_etag("\"7\""), Some(7));
        assert_eq!(parse_etag("7"), Some(7));
        assert_eq!(parse_etag("W/\"x\""), None);
    }

    #[test]
    fn preconditions() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(IF_MATCH, HeaderValue::from_static("W/\"3\""));
        assert_eq!(if_match(&headers).unwrap(), Some(3));
        headers.insert(IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(IF_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(if_match(&headers).unwrap_err().status.as_u16(), 412);

        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("W/\"1\", W/\"2\""));
        assert!(if_none_match(&headers, 2));
        assert!(!if_none_match(&headers, 3));
    }
}
