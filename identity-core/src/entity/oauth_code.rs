//! `oauth_code`: a single-use authorization code, keyed by its SHA-256.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_code")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub client_pk: Uuid,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The grant it was exchanged for.
    pub grant_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
