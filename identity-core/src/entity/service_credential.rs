//! `service_credential`: an internal service's identity.v1 credential (hash only) and its scope.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_credential")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The secret's first 10 characters (`idsvc_` and 4 more).
    pub hint: String,
    /// Lowercase hex SHA-256 of the secret; unique.
    #[sea_orm(unique)]
    pub secret_hash: String,
    pub all_organizations: bool,
    /// JSON array of organization id strings.
    pub organization_ids: String,
    /// admin.v1.ServiceAccess value.
    pub access: i16,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
