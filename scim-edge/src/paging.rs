//! RFC 9865 cursors: the core's opaque page token wrapped with the scope it belongs to
//! (`Users`, `Groups` or the root search), base64url-encoded so it is safe in a query string.
//!
//! The wrapper lets the edge refuse a cursor of another endpoint or a garbled one with
//! `400 invalidCursor` before calling the core; the core still checks that the filter and
//! order are those the token was issued for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ScimError, ScimResult};

const VERSION: &str = "c1";

/// Wraps `core_token` for `scope`.
pub(crate) fn encode_cursor(scope: &str, core_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}|{scope}|{core_token}"))
}

/// Unwraps a cursor of `scope`; the empty cursor is the first page (empty token).
pub(crate) fn decode_cursor(scope: &str, cursor: &str) -> ScimResult<String> {
    if cursor.is_empty() {
        return Ok(String::new());
    }
    let invalid = || ScimError::invalid_cursor("the cursor is invalid");
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(found), Some(token)) if found == scope && !token.is_empty() => {
            Ok(token.to_owned())
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    #[test]
    fn cursors_round_trip_and_are_scoped() {
        let cursor = encode_cursor("Users", "core|token/+=");
        assert!(!cursor.contains('+') && !cursor.contains('/') && !cursor.contains('='));
        assert_eq!(decode_cursor("Users", &cursor).unwrap(), "core|token/+=");
        let error = decode_cursor("Groups", &cursor).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidCursor));
        assert_eq!(decode_cursor("Users", "").unwrap(), "");
        for garbage in ["!!!", "abc", &URL_SAFE_NO_PAD.encode("c1|Users|")] {
            assert_eq!(
                decode_cursor("Users", garbage).unwrap_err().scim_type,
                Some(ScimType::InvalidCursor)
            );
        }
    }
}
