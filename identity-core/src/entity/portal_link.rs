//! `portal_link`: a one-time setup-portal link and, once opened, its browser session; both
//! secrets stored as SHA-256.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_link")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub label: String,
    #[sea_orm(unique)]
    pub link_hash: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub expires_at: i64,
    /// Microseconds since the Unix epoch.
    pub opened_at: Option<i64>,
    #[sea_orm(unique)]
    pub session_hash: Option<String>,
    /// Microseconds since the Unix epoch.
    pub session_expires_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
