//! Service credentials: what the platform's internal services present to identity.v1.
//!
//! Stored like the other credentials (SHA-256 of a 256-bit secret under a unique index). The
//! organization scope is a JSON array in canonical form (lowercase hyphenated UUIDs, in the
//! order given), so "scoped to exactly this organization" is one equality test.

use crate::entity::service_credential;
use crate::error::{CoreError, CoreResult};
use crate::store::ByKey;
use crate::store::credentials::{generate_secret, secret_hash};
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

/// Prefix of service credential secrets.
pub const SERVICE_CREDENTIAL_PREFIX: &str = "idsvc_";
/// Characters of a secret kept as its hint: the prefix and 4 more.
pub const HINT_LEN: usize = SERVICE_CREDENTIAL_PREFIX.len() + 4;

/// What a new credential holds.
#[derive(Debug, Clone)]
pub struct NewCredential<'a> {
    pub name: &'a str,
    /// `None`: every organization.
    pub organizations: Option<&'a [Uuid]>,
    /// admin.v1.ServiceAccess value.
    pub access: i16,
}

/// The canonical stored form of an organization scope.
pub fn encode_organizations(ids: &[Uuid]) -> String {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    serde_json::Value::from(ids).to_string()
}

/// The organizations of a stored scope (malformed text: none, so it grants nothing).
pub fn decode_organizations(text: &str) -> Vec<Uuid> {
    serde_json::from_str::<Vec<String>>(text)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| Uuid::try_parse(id).ok())
        .collect()
}

/// A service credential as the store hands it out (its secret's hash stays here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCredential {
    pub id: Uuid,
    pub name: String,
    /// The secret's first characters, to tell credentials apart.
    pub hint: String,
    /// Every organization; else only `organization_ids`.
    pub all_organizations: bool,
    pub organization_ids: Vec<Uuid>,
    /// admin.v1.ServiceAccess value.
    pub access: i16,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub revoked_at: Option<i64>,
}

impl From<service_credential::Model> for ServiceCredential {
    fn from(row: service_credential::Model) -> Self {
        Self {
            id: row.id,
            organization_ids: decode_organizations(&row.organization_ids),
            name: row.name,
            hint: row.hint,
            all_organizations: row.all_organizations,
            access: row.access,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Stores a new credential and returns it and its secret (the only time the secret exists).
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    new: NewCredential<'_>,
) -> CoreResult<(ServiceCredential, String)> {
    let secret = generate_secret(SERVICE_CREDENTIAL_PREFIX);
    let row = service_credential::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name.to_owned()),
        hint: Set(secret[..HINT_LEN].to_owned()),
        secret_hash: Set(secret_hash(&secret)),
        all_organizations: Set(new.organizations.is_none()),
        organization_ids: Set(encode_organizations(new.organizations.unwrap_or_default())),
        access: Set(new.access),
        created_at: Set(crate::time::now_micros()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((row.into(), secret))
}

/// The credential whose secret is `secret`, revoked or not.
pub async fn find_by_secret<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> CoreResult<Option<ServiceCredential>> {
    let found = crate::store::credentials::find_by_secret::<service_credential::Entity, _>(
        db,
        service_credential::Column::SecretHash,
        secret,
        |row| &row.secret_hash,
    )
    .await?;
    Ok(found.map(ServiceCredential::from))
}

/// Up to two live (unrevoked) credentials named `name`: a client certificate issued to that
/// name stands for the credential when exactly one is found.
pub async fn find_live_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> CoreResult<Vec<ServiceCredential>> {
    let rows = service_credential::Entity::find()
        .filter(service_credential::Column::Name.eq(name))
        .filter(service_credential::Column::RevokedAt.is_null())
        .limit(2)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(ServiceCredential::from).collect())
}

fn not_found(id: Uuid) -> CoreError {
    CoreError::NotFound {
        reason: ErrorReason::TokenNotFound,
        what: format!("service credential {id}"),
    }
}

/// One credential, or TOKEN_NOT_FOUND.
pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> CoreResult<ServiceCredential> {
    service_credential::Entity::find_by_id(id)
        .by_key(db)
        .await?
        .map(ServiceCredential::from)
        .ok_or_else(|| not_found(id))
}

/// A page of credentials newest first (ids are time-ordered UUIDv7), optionally only those
/// scoped to exactly `only`, and the id to continue after.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    only: Option<Uuid>,
    after: Option<Uuid>,
    page_size: u64,
) -> CoreResult<(Vec<ServiceCredential>, Option<Uuid>)> {
    let mut query = service_credential::Entity::find();
    if let Some(org) = only {
        query = query
            .filter(service_credential::Column::AllOrganizations.eq(false))
            .filter(service_credential::Column::OrganizationIds.eq(encode_organizations(&[org])));
    }
    if let Some(after) = after {
        query = query.filter(service_credential::Column::Id.lt(after));
    }
    let mut rows = query
        .order_by_desc(service_credential::Column::Id)
        .limit(page_size + 1)
        .all(db)
        .await?;
    let next = if rows.len() as u64 > page_size {
        rows.truncate(page_size as usize);
        rows.last().map(|row| row.id)
    } else {
        None
    };
    Ok((
        rows.into_iter().map(ServiceCredential::from).collect(),
        next,
    ))
}

/// Revokes a credential (idempotent) and returns it.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: i64,
) -> CoreResult<ServiceCredential> {
    service_credential::Entity::update_many()
        .col_expr(service_credential::Column::RevokedAt, Expr::val(now))
        .filter(service_credential::Column::Id.eq(id))
        .filter(service_credential::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    get(db, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_in_canonical_form() {
        let ids = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let text = encode_organizations(&ids);
        assert_eq!(decode_organizations(&text), ids);
        assert_eq!(
            encode_organizations(&[ids[0]]),
            encode_organizations(&[ids[0]])
        );
        assert!(decode_organizations("not json").is_empty());
    }
}
