//! `oauth_client`: an OAuth client of a connection; only the SHA-256 of its secret is stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub connection_id: Uuid,
    /// The public `client_id`.
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    /// JSON array of redirect URIs.
    pub redirect_uris: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    /// Whether the client may use the client_credentials grant.
    pub allows_client_credentials: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
