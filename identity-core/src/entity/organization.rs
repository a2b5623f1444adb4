//! `organization`: a tenant, its SCIM settings and its change-feed counter.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub display_name: String,
    pub scim_enabled: bool,
    pub default_role_id: Option<Uuid>,
    /// Microseconds since the Unix epoch.
    pub scim_updated_at: Option<i64>,
    /// Last sequence number of the organization's change feed.
    pub change_seq: i64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Overrides of the SCIM edge's rate limits; 0 keeps the edge's default.
    pub rate_limit_per_second: i32,
    pub rate_limit_burst: i32,
    pub rate_limit_concurrency: i32,
    /// Verified email domains, lowercase, one per line (see `domain::users::linkable_emails`).
    pub verified_domains: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
