//! The rules a role's data must satisfy before anything is written.

use super::*;
use crate::error::{CoreError, CoreResult, FieldViolation};

/// Every problem with `data`, field paths prefixed with `prefix` (e.g. `role`).
pub fn validate(data: &RoleData, prefix: &str) -> Vec<FieldViolation> {
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<&str>, max: usize, allow_newlines: bool| {
        let Some(value) = value else { return };
        if value.chars().count() > max {
            errors.push(FieldViolation::new(
                format!("{prefix}.{field}"),
                format!("must be at most {max} characters"),
            ));
        } else if value
            .chars()
            .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
        {
            errors.push(FieldViolation::new(
                format!("{prefix}.{field}"),
                "must not contain control characters",
            ));
        }
    };
    if !data.display_name.trim().is_empty() {
        check(
            "display_name",
            Some(&data.display_name),
            MAX_DISPLAY_NAME_CHARS,
            false,
        );
    }
    check(
        "external_id",
        data.external_id.as_deref(),
        MAX_EXTERNAL_ID_CHARS,
        false,
    );
    check(
        "description",
        data.description.as_deref(),
        MAX_DESCRIPTION_CHARS,
        true,
    );
    if data.display_name.trim().is_empty() {
        errors.push(FieldViolation::new(
            format!("{prefix}.display_name"),
            "is required",
        ));
    }
    if let Some(extra) = &data.extra_attributes {
        let size = serde_json::to_vec(extra)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > crate::store::users::MAX_EXTRA_BYTES {
            errors.push(FieldViolation::new(
                format!("{prefix}.extra_attributes"),
                "is too large",
            ));
        }
    }
    errors
}

pub(super) fn ensure_valid(data: &RoleData) -> CoreResult<()> {
    let errors = validate(data, "role");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(errors))
    }
}
