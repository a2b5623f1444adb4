//! `change_event`: the per-organization change feed (transactional outbox), numbered without gaps.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    /// identity.v1.ResourceType value.
    pub resource_type: i16,
    pub resource_id: Uuid,
    /// identity.v1.ChangeKind value.
    pub kind: i16,
    pub resource_version: i64,
    /// JSON array of user id strings, for membership changes.
    pub member_user_ids: Option<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// The provisioning connection whose request made the change.
    pub connection_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
