//! Roles and memberships: every read and write of `identity_role` and `role_member`.
//!
//! Membership changes touch only the rows they change: ids are checked and inserted or deleted in
//! bounded chunks, `member_count` moves by the real delta, and a replace walks the current members
//! page by page instead of loading them at once. Every write runs in one transaction holding the
//! organization's write lock (see `org_writes`) and appends its change-feed rows.
//!
//! The data and its rules are `domain::roles` (re-exported here); this module persists them:
//! reads ([`read`]), writes ([`write`]) and memberships ([`members`]).

mod members;
mod read;
mod write;

pub use members::*;
pub use read::*;
pub use write::*;

pub use crate::domain::roles::*;

/// Ids per statement: well under every backend's bind-parameter limit.
const CHUNK: usize = 500;
