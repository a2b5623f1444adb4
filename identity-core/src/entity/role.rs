//! `identity_role`: a role (a SCIM Group) with its incrementally maintained member count.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_role")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub display_name: String,
    /// Lowercased `display_name`, unique per organization.
    pub display_name_lower: String,
    pub external_id: Option<String>,
    pub description: Option<String>,
    /// JSON object text of attributes the core does not model.
    pub extra_attributes: Option<String>,
    /// Kept equal to the number of `role_member` rows by every membership change.
    pub member_count: i64,
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
