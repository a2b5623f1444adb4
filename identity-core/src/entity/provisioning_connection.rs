//! `provisioning_connection`: an identity provider integration of an organization and its activity counters; times are microseconds since the Unix epoch.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provisioning_connection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// JSON array of group names; `None` for every group.
    pub allowed_groups: Option<String>,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    pub last_request_at: Option<i64>,
    pub creates: i64,
    pub updates: i64,
    pub deactivations: i64,
    pub deletes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
