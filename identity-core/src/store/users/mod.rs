//! Users: every read and write of `identity_user`, `user_email` and `user_phone`.
//!
//! Writes go through [`org_writes::write`], so each runs in a transaction that holds the
//! organization's write lock and appends its change-feed rows; the unique indexes decide uniqueness, and their violation is
//! mapped to its reason on every backend (`store::unique_violation`). Reads
//! never load more than the rows asked for. This module knows nothing of protobuf messages
//! except the shared enums.
//!
//! The data and its rules are `domain::users` (re-exported here); this module persists them:
//! password hashing ([`password`]), reads ([`read`]) and writes ([`write`]).

mod password;
mod read;
mod row;
mod write;

pub use password::*;
pub use read::*;
pub(crate) use row::*;
pub use write::*;

pub use crate::domain::users::*;
