//! Roles as the service sees them, apart from storage: the data, its limits, and the rules
//! it must satisfy before anything is written (each refusal names its field). The store
//! (`store::roles`) persists these types; the handlers convert to and from them.

pub use crate::domain::users::HeldRole;
use crate::error::{CoreError, CoreResult, FieldViolation};
use crate::ids::{OrgId, RoleId, UserId};
use identity_proto::identity::v1::ManagedBy;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;
/// Longest external id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 1024;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Most user ids of one add/remove or of a role's initial members.
pub const MAX_MEMBER_IDS: usize = 10_000;
/// Most user ids of a complete member list.
pub const MAX_REPLACE_IDS: usize = 100_000;
/// Default page of ListRoleMembers.
pub const DEFAULT_MEMBERS_PAGE_SIZE: u64 = 1000;
/// Largest page of ListRoleMembers.
pub const MAX_MEMBERS_PAGE_SIZE: u64 = 10_000;
/// Every writable attribute of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleData {
    pub display_name: String,
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub extra_attributes: Option<Map<String, Value>>,
    pub managed_by: ManagedBy,
}

impl Default for RoleData {
    fn default() -> Self {
        Self {
            display_name: String::new(),
            external_id: None,
            description: None,
            extra_attributes: None,
            managed_by: ManagedBy::Platform,
        }
    }
}

/// A stored role.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: RoleId,
    pub org: OrgId,
    pub data: RoleData,
    pub member_count: i64,
    pub version: i64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
}

/// A member with the user attributes a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub user_name: String,
    pub display_name: Option<String>,
    /// When the membership was created, microseconds since the Unix epoch.
    pub created_at: i64,
}

/// Edits a role's attributes inside the write transaction.
pub type AttributeEdit = Box<dyn FnOnce(&mut RoleData) -> CoreResult<()> + Send>;

/// One atomic change to a role, applied in this order: attributes, replace, remove, add.
#[derive(Default)]
pub struct RoleChange {
    pub attributes: Option<AttributeEdit>,
    pub replace_members: Option<Vec<Uuid>>,
    pub remove: Vec<Uuid>,
    pub add: Vec<Uuid>,
}

impl std::fmt::Debug for RoleChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleChange")
            .field("attributes", &self.attributes.is_some())
            .field(
                "replace_members",
                &self.replace_members.as_ref().map(Vec::len),
            )
            .field("remove", &self.remove.len())
            .field("add", &self.add.len())
            .finish()
    }
}

/// The role after a change and the net membership delta.
#[derive(Debug, Clone)]
pub struct RoleChangeOutcome {
    pub role: Role,
    pub added: i64,
    pub removed: i64,
}

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
        if size > crate::domain::users::MAX_EXTRA_BYTES {
            errors.push(FieldViolation::new(
                format!("{prefix}.extra_attributes"),
                "is too large",
            ));
        }
    }
    errors
}

pub(crate) fn ensure_valid(data: &RoleData) -> CoreResult<()> {
    let errors = validate(data, "role");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(errors))
    }
}
