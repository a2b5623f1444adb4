//! `oauth_grant`: a family of OAuth tokens from one approval or one client-credentials exchange.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub connection_id: Uuid,
    pub client_pk: Uuid,
    /// admin.v1.GrantKind value.
    pub kind: i16,
    pub scope: String,
    pub created_at: i64,
    pub last_refreshed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
