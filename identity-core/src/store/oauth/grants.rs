//! Grants: listing and revoking an organization's grants, and pruning expired state.

use super::*;
use crate::entity::{
    oauth_authorization_request, oauth_client, oauth_code, oauth_grant, oauth_refresh_token,
    scim_token,
};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;
use crate::store::connections;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

/// Removes pending requests, codes, refresh tokens and OAuth access tokens that expired before
/// `cutoff`; a spent refresh token is kept until then so that its reuse is still recognised.
pub async fn prune_expired(db: &DatabaseConnection, cutoff: i64) -> CoreResult<u64> {
    let now = crate::time::now_micros();
    let requests = oauth_authorization_request::Entity::delete_many()
        .filter(oauth_authorization_request::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    let codes = oauth_code::Entity::delete_many()
        .filter(oauth_code::Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected;
    let refresh = oauth_refresh_token::Entity::delete_many()
        .filter(oauth_refresh_token::Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected;
    // access tokens minted by grants (pasted tokens stay listed until an owner removes them)
    let access = scim_token::Entity::delete_many()
        .filter(scim_token::Column::GrantId.is_not_null())
        .filter(scim_token::Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected;
    Ok(requests + codes + refresh + access)
}

/// A grant as the store hands it out, with its client's public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: Uuid,
    pub client_id: String,
    /// identity.v1 grant kind value.
    pub kind: i16,
    pub scope: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub last_refreshed_at: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

/// A connection's grants, newest first, with each one's public client id.
pub async fn list_grants(
    db: &DatabaseConnection,
    org: OrgId,
    connection: Uuid,
) -> CoreResult<Vec<Grant>> {
    connections::get(db, org, connection).await?;
    let grants = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::ConnectionId.eq(connection))
        .filter(oauth_grant::Column::OrgId.eq(org.0))
        .order_by_desc(oauth_grant::Column::CreatedAt)
        .limit(1000)
        .all(db)
        .await?;
    with_client_ids(db, grants).await
}

async fn with_client_ids(
    db: &DatabaseConnection,
    grants: Vec<oauth_grant::Model>,
) -> CoreResult<Vec<Grant>> {
    let pks: Vec<Uuid> = grants.iter().map(|grant| grant.client_pk).collect();
    let clients: std::collections::HashMap<Uuid, String> = oauth_client::Entity::find()
        .select_only()
        .column(oauth_client::Column::Id)
        .column(oauth_client::Column::ClientId)
        .filter(oauth_client::Column::Id.is_in(pks))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(grants
        .into_iter()
        .map(|grant| {
            let client_id = clients.get(&grant.client_pk).cloned().unwrap_or_default();
            Grant {
                id: grant.id,
                client_id,
                kind: grant.kind,
                scope: grant.scope,
                created_at: grant.created_at,
                last_refreshed_at: grant.last_refreshed_at,
                revoked_at: grant.revoked_at,
                revoke_reason: grant.revoke_reason,
            }
        })
        .collect())
}

/// Revokes one grant of `org` (idempotent); NOT_FOUND for an unknown or foreign one.
pub async fn revoke_grant(
    db: &DatabaseConnection,
    org: OrgId,
    grant_id: Uuid,
) -> CoreResult<Grant> {
    let txn = db.begin().await?;
    let found = oauth_grant::Entity::find_by_id(grant_id)
        .filter(oauth_grant::Column::OrgId.eq(org.0))
        .by_key(&txn)
        .await?;
    if found.is_none() {
        return Err(CoreError::NotFound {
            reason: ErrorReason::TokenNotFound,
            what: format!("grant {grant_id}"),
        });
    }
    revoke_grants(
        &txn,
        oauth_grant::Column::Id.eq(grant_id).into(),
        "owner",
        crate::time::now_micros(),
    )
    .await?;
    let grant = oauth_grant::Entity::find_by_id(grant_id)
        .by_key(&txn)
        .await?
        .ok_or_else(|| CoreError::Internal("revoked grant vanished".into()))?;
    txn.commit().await?;
    Ok(with_client_ids(db, vec![grant]).await?.remove(0))
}
