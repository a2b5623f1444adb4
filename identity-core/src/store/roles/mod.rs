//! Roles and memberships: every read and write of `identity_role` and `role_member`.
//!
//! Membership changes touch only the rows they change: ids are checked and inserted or deleted in
//! bounded chunks, `member_count` moves by the real delta, and a replace walks the current members
//! page by page instead of loading them at once. Every write runs in one transaction holding the
//! organization's write lock (see `org_writes`) and appends its change-feed rows.
//!
//! Cut along its seams: the data (here), its rules ([`rules`]), reads ([`read`]), writes
//! ([`write`]) and memberships ([`members`]).

mod members;
mod read;
mod rules;
mod write;

pub use members::*;
pub use read::*;
pub use rules::*;
pub use write::*;

use crate::error::CoreResult;
use crate::ids::{OrgId, RoleId, UserId};
pub use crate::store::users::HeldRole;
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
/// Ids per statement: well under every backend's bind-parameter limit.
const CHUNK: usize = 500;

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
