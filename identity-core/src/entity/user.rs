//! `identity_user`: one row per user with every single-valued attribute; emails and phone numbers
//! live in `user_email` / `user_phone`. Optional strings are NULL when unset, never empty.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_user")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_name: String,
    /// Lowercased `user_name`, unique per organization.
    pub user_name_lower: String,
    /// Unique per organization when set; compared case-exactly.
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub name_formatted: Option<String>,
    pub name_family_name: Option<String>,
    pub name_given_name: Option<String>,
    pub name_middle_name: Option<String>,
    pub name_honorific_prefix: Option<String>,
    pub name_honorific_suffix: Option<String>,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub active: bool,
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub enterprise_organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub manager_display_name: Option<String>,
    /// JSON object text of attributes the core does not model.
    pub extra_attributes: Option<String>,
    /// Argon2 PHC string; never leaves the store.
    pub password_hash: Option<String>,
    /// identity.v1.ManagedBy value: 1 platform, 2 SCIM.
    pub managed_by: i16,
    pub version: i64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
