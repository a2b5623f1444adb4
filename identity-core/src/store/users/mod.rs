//! Users: validation of user data, and every read and write of `identity_user`, `user_email`
//! and `user_phone`.
//!
//! Writes go through [`org_writes::write`], so each runs in a transaction that holds the
//! organization's write lock and appends its change-feed rows; uniqueness is pre-checked inside
//! that lock (so the error reason is right on every backend) and backed by unique indexes. Reads
//! never load more than the rows asked for. This module knows nothing of protobuf messages
//! except the shared enums.
//!
//! The module is cut along its seams: the data (here), the rules it must satisfy
//! ([`rules`]), password hashing ([`password`]), reads ([`read`]) and writes ([`write`]).

mod password;
mod read;
mod rules;
mod write;

pub use password::*;
pub use read::*;
pub use rules::*;
pub use write::*;

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
