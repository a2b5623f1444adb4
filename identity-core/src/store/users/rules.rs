//! The rules a user's data must satisfy before anything is written: lengths, counts, control
//! characters, email syntax, each refusal naming its field.

use super::*;
use crate::error::{CoreError, CoreResult, FieldViolation};

pub(super) fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Whether `email` is a syntactically valid address: `local@domain`, no spaces or control
/// characters, a dotted domain of letters, digits and hyphens (RFC 5321 §4.1.2 reduced to what
/// provisioning clients actually send).
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"@<>()[],;:\\\"".contains(c));
    let domain_ok = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok && email.len() <= 320
}

/// Every problem with `data`, field paths prefixed with `prefix` (e.g. `user`).
pub fn validate(data: &UserData, prefix: &str) -> Vec<FieldViolation> {
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<&str>, max: usize| {
        if let Some(value) = value {
            if value.chars().count() > max {
                errors.push(FieldViolation::new(
                    format!("{prefix}.{field}"),
                    format!("must be at most {max} characters"),
                ));
            } else if has_control(value) {
                errors.push(FieldViolation::new(
                    format!("{prefix}.{field}"),
                    "must not contain control characters",
                ));
            }
        }
    };
    if !data.user_name.trim().is_empty() {
        check("user_name", Some(&data.user_name), MAX_USER_NAME_CHARS);
    }
    let n = &data.name;
    let e = &data.enterprise;
    for (field, value) in [
        ("external_id", &data.external_id),
        ("display_name", &data.display_name),
        ("name.formatted", &n.formatted),
        ("name.family_name", &n.family_name),
        ("name.given_name", &n.given_name),
        ("name.middle_name", &n.middle_name),
        ("name.honorific_prefix", &n.honorific_prefix),
        ("name.honorific_suffix", &n.honorific_suffix),
        ("nick_name", &data.nick_name),
        ("title", &data.title),
        ("user_type", &data.user_type),
        ("preferred_language", &data.preferred_language),
        ("locale", &data.locale),
        ("timezone", &data.timezone),
        ("enterprise.employee_number", &e.employee_number),
        ("enterprise.cost_center", &e.cost_center),
        ("enterprise.organization", &e.organization),
        ("enterprise.division", &e.division),
        ("enterprise.department", &e.department),
        ("enterprise.manager_id", &e.manager_id),
        ("enterprise.manager_display_name", &e.manager_display_name),
    ] {
        check(field, value.as_deref(), MAX_STRING_CHARS);
    }
    if data.user_name.trim().is_empty() {
        errors.push(FieldViolation::new(
            format!("{prefix}.user_name"),
            "is required",
        ));
    }
    for (attr, values, is_email) in [
        ("emails", &data.emails, true),
        ("phone_numbers", &data.phone_numbers, false),
    ] {
        if values.len() > MAX_CONTACTS {
            errors.push(FieldViolation::new(
                format!("{prefix}.{attr}"),
                format!("must have at most {MAX_CONTACTS} values"),
            ));
            continue;
        }
        let mut primary_seen = false;
        for (i, contact) in values.iter().enumerate() {
            let path = format!("{prefix}.{attr}[{i}]");
            if contact.value.trim().is_empty() {
                errors.push(FieldViolation::new(format!("{path}.value"), "is required"));
            } else if contact.value.chars().count() > MAX_STRING_CHARS
                || has_control(&contact.value)
            {
                errors.push(FieldViolation::new(
                    format!("{path}.value"),
                    "is not a valid value",
                ));
            } else if is_email && !is_valid_email(&contact.value) {
                errors.push(FieldViolation::new(
                    format!("{path}.value"),
                    "is not a valid email address",
                ));
            }
            for (field, value) in [("type", &contact.value_type), ("display", &contact.display)] {
                if let Some(value) = value
                    && (value.chars().count() > MAX_STRING_CHARS || has_control(value))
                {
                    errors.push(FieldViolation::new(
                        format!("{path}.{field}"),
                        "is not a valid value",
                    ));
                }
            }
            if contact.primary {
                if primary_seen {
                    errors.push(FieldViolation::new(
                        format!("{path}.primary"),
                        "at most one value may be primary",
                    ));
                }
                primary_seen = true;
            }
        }
    }
    if let Some(extra) = &data.extra_attributes {
        let size = serde_json::to_vec(extra)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_EXTRA_BYTES {
            errors.push(FieldViolation::new(
                format!("{prefix}.extra_attributes"),
                format!("must be at most {MAX_EXTRA_BYTES} bytes of JSON"),
            ));
        }
    }
    errors
}

/// INVALID_ARGUMENT with every violation of `data`.
pub fn ensure_valid(data: &UserData) -> CoreResult<()> {
    let errors = validate(data, "user");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(errors))
    }
}
