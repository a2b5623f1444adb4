//! `scim_token`: a SCIM bearer token's metadata and the SHA-256 of its secret (never the
//! secret itself).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub description: String,
    /// The secret's first 11 characters (`idscim_` and 4 more).
    pub hint: String,
    /// Lowercase hex SHA-256 of the secret; unique.
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch; a rotation may move it earlier.
    pub expires_at: i64,
    /// Microseconds since the Unix epoch; written at most once a minute.
    pub last_used_at: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub revoked_at: Option<i64>,
    /// The token this one replaced.
    pub rotated_from_token_id: Option<Uuid>,
    /// The provisioning connection the token belongs to.
    pub connection_id: Option<Uuid>,
    /// Set for an OAuth access token: the grant it came from.
    pub grant_id: Option<Uuid>,
    /// Microseconds since the Unix epoch: when the owner was warned it expires soon.
    pub expiry_warned_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
