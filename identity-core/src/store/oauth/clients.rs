//! OAuth clients: registration, listing, deletion and client authentication.

use super::*;
use crate::entity::{oauth_client, oauth_grant, scim_token};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::connections;
use crate::store::credentials::{self};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

/// Registers a client for a live connection; returns it and its secret (shown once).
/// A client as its owner sees it (its secret's hash stays in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub connection_id: Uuid,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Whether it may use the `client_credentials` grant.
    pub client_credentials: bool,
}

impl From<oauth_client::Model> for OAuthClient {
    fn from(row: oauth_client::Model) -> Self {
        Self {
            redirect_uris: redirect_uris(&row),
            client_id: row.client_id,
            connection_id: row.connection_id,
            name: row.name,
            created_at: row.created_at,
            client_credentials: row.allows_client_credentials,
        }
    }
}

/// A client whose secret was checked ([`authenticate_client`]): what the token endpoints take.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient(pub(super) oauth_client::Model);

pub async fn register_client(
    db: &DatabaseConnection,
    org: OrgId,
    connection: Uuid,
    name: &str,
    redirect_uris: &[String],
    allows_client_credentials: bool,
) -> CoreResult<(OAuthClient, String)> {
    connections::get(db, org, connection).await?;
    let mut id_bytes = [0_u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut id_bytes);
    let secret = credentials::generate_secret(CLIENT_SECRET_PREFIX);
    let client = oauth_client::ActiveModel {
        id: Set(Uuid::new_v4()),
        org_id: Set(org.0),
        connection_id: Set(connection),
        client_id: Set(format!(
            "{CLIENT_ID_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(id_bytes)
        )),
        name: Set(name.to_owned()),
        secret_hash: Set(credentials::secret_hash(&secret)),
        redirect_uris: Set(
            serde_json::to_string(redirect_uris).map_err(|e| CoreError::Internal(e.to_string()))?
        ),
        created_at: Set(crate::time::now_micros()),
        deleted_at: Set(None),
        allows_client_credentials: Set(allows_client_credentials),
    }
    .insert(db)
    .await?;
    Ok((client.into(), secret))
}

/// The registered redirect URIs of a client.
pub(super) fn redirect_uris(client: &oauth_client::Model) -> Vec<String> {
    serde_json::from_str(&client.redirect_uris).unwrap_or_default()
}

/// A connection's clients that are not deleted, oldest first.
pub async fn list_clients(
    db: &DatabaseConnection,
    org: OrgId,
    connection: Uuid,
) -> CoreResult<Vec<OAuthClient>> {
    connections::get(db, org, connection).await?;
    let rows = oauth_client::Entity::find()
        .filter(oauth_client::Column::ConnectionId.eq(connection))
        .filter(oauth_client::Column::DeletedAt.is_null())
        .order_by_asc(oauth_client::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(OAuthClient::from).collect())
}

pub(super) fn client_not_found(client_id: &str) -> CoreError {
    CoreError::NotFound {
        reason: ErrorReason::OauthInvalidClient,
        what: format!("OAuth client {client_id:?}"),
    }
}

/// Deletes a client of `org` and revokes its grants.
pub async fn delete_client(db: &DatabaseConnection, org: OrgId, client_id: &str) -> CoreResult<()> {
    let now = crate::time::now_micros();
    let txn = db.begin().await?;
    // the write first (see lock_client)
    let deleted = oauth_client::Entity::update_many()
        .col_expr(oauth_client::Column::DeletedAt, Expr::val(now))
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .filter(oauth_client::Column::OrgId.eq(org.0))
        .filter(oauth_client::Column::DeletedAt.is_null())
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(client_not_found(client_id));
    }
    let client_pk: Uuid = oauth_client::Entity::find()
        .select_only()
        .column(oauth_client::Column::Id)
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .into_tuple()
        .one(&txn)
        .await?
        .ok_or_else(|| client_not_found(client_id))?;
    revoke_grants(
        &txn,
        oauth_grant::Column::ClientPk.eq(client_pk).into(),
        "client_deleted",
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes the live grants matching `filter` and their access tokens.
pub(super) async fn revoke_grants(
    txn: &DatabaseTransaction,
    filter: sea_orm::Condition,
    reason: &str,
    now: i64,
) -> CoreResult<()> {
    let ids: Vec<Uuid> = oauth_grant::Entity::find()
        .select_only()
        .column(oauth_grant::Column::Id)
        .filter(filter)
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    if ids.is_empty() {
        return Ok(());
    }
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::val(now))
        .col_expr(oauth_grant::Column::RevokeReason, Expr::val(reason))
        .filter(oauth_grant::Column::Id.is_in(ids.clone()))
        .exec(txn)
        .await?;
    scim_token::Entity::update_many()
        .col_expr(scim_token::Column::RevokedAt, Expr::val(now))
        .filter(scim_token::Column::GrantId.is_in(ids))
        .filter(scim_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// The client `client_id` if `secret` is its secret (compared as hashes in constant time);
/// OAUTH_INVALID_CLIENT otherwise, also for a deleted client or connection.
pub async fn authenticate_client(
    db: &DatabaseConnection,
    client_id: &str,
    secret: &str,
) -> CoreResult<AuthenticatedClient> {
    if client_id.is_empty() || client_id.len() > 64 || secret.len() > 512 {
        return Err(invalid_client());
    }
    let found = live_client(db, oauth_client::Column::ClientId.eq(client_id).into()).await?;
    match found {
        Some((client, _))
            if credentials::hashes_equal(
                &client.secret_hash,
                &credentials::secret_hash(secret),
            ) =>
        {
            Ok(AuthenticatedClient(client))
        }
        _ => Err(invalid_client()),
    }
}
