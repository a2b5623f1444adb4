//! Users as the service sees them, apart from storage: the data, its limits, and the rules
//! it must satisfy before anything is written (each refusal names its field). The store
//! (`store::users`) persists these types; the handlers convert to and from them.

use crate::error::{CoreError, CoreResult, FieldViolation};
use crate::ids::{OrgId, UserId};
use identity_proto::identity::v1::ManagedBy;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest user name, in characters.
pub const MAX_USER_NAME_CHARS: usize = 256;
/// Longest value of any other string attribute, in characters.
pub const MAX_STRING_CHARS: usize = 1024;
/// Most values of one multi-valued attribute.
pub const MAX_CONTACTS: usize = 100;
/// Largest `extra_attributes` document, in bytes of JSON.
pub const MAX_EXTRA_BYTES: usize = 64 * 1024;
/// Most ids of one batch read.
pub const MAX_BATCH_GET: usize = 1000;

/// One email address or phone number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub value: String,
    pub value_type: Option<String>,
    pub primary: bool,
    pub display: Option<String>,
}

/// Name parts (RFC 7643 §4.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameParts {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

/// Enterprise attributes (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enterprise {
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub manager_display_name: Option<String>,
}

/// Every writable attribute of a user. Unset optional strings are `None`, never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub name: NameParts,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub active: bool,
    pub emails: Vec<Contact>,
    pub phone_numbers: Vec<Contact>,
    pub enterprise: Enterprise,
    pub extra_attributes: Option<Map<String, Value>>,
    pub managed_by: ManagedBy,
}

impl Default for UserData {
    fn default() -> Self {
        Self {
            user_name: String::new(),
            external_id: None,
            display_name: None,
            name: NameParts::default(),
            nick_name: None,
            title: None,
            user_type: None,
            preferred_language: None,
            locale: None,
            timezone: None,
            active: true,
            emails: Vec::new(),
            phone_numbers: Vec::new(),
            enterprise: Enterprise::default(),
            extra_attributes: None,
            managed_by: ManagedBy::Platform,
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub org: OrgId,
    pub data: UserData,
    pub has_password: bool,
    pub version: i64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
    /// The roles the user holds, ordered by role id, when the read asked for them
    /// ([`Detail::WithRoles`]); `None` when it did not, and after a write.
    pub roles: Option<Vec<HeldRole>>,
}

/// A role a user holds, as shown with the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    pub role_id: Uuid,
    pub display_name: String,
}

/// What a user read returns besides the user's own attributes, emails and phone numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Nothing more.
    Basic,
    /// The roles each user holds ([`User::roles`]), read in the same statement.
    WithRoles,
}

/// What a write does to the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Keep,
    Clear,
    /// An Argon2 PHC string, computed with [`hash_password`] before the transaction starts.
    SetHash(String),
}

pub(crate) fn has_control(text: &str) -> bool {
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
