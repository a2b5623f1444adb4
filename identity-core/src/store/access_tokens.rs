//! Users' opaque access tokens: issuing, introspecting, revoking, pruning.
//!
//! Secrets are `idat_` and 256 random bits (see [`credentials::generate_secret`]); only their
//! SHA-256 is stored. Introspection is one lookup through the unique hash index plus, for an
//! active token, the user's name and roles through their indexes: its cost does not depend on
//! the organization's size. Deactivating or deleting a user calls [`revoke_user_tokens`] inside
//! that write's transaction.

use crate::entity::{access_token, user};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, TokenId, UserId};
use crate::store::ByKey;
use crate::store::credentials::{self, generate_secret, secret_hash};
use crate::store::{org_writes, roles};
use identity_proto::identity::v1::{ErrorReason, InactiveReason};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

/// Prefix of access token secrets, so secret scanners can find leaked ones.
pub const ACCESS_TOKEN_PREFIX: &str = "idat_";
/// Length of a well-formed token: the prefix and 43 base64url characters.
pub const ACCESS_TOKEN_LEN: usize = ACCESS_TOKEN_PREFIX.len() + 43;
/// The most roles an introspection answer lists.
pub const MAX_INTROSPECTED_ROLES: u64 = 1000;

/// Whether `token` has the shape of an access token (checked before any lookup, so a malformed
/// token is a clear INVALID_ARGUMENT and never costs a query).
pub fn is_well_formed(token: &str) -> bool {
    token.len() == ACCESS_TOKEN_LEN
        && token.starts_with(ACCESS_TOKEN_PREFIX)
        && token[ACCESS_TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Issues a token for an active user of `org`. Runs under the organization's write lock, so a
/// concurrent deactivation either happens first (and the issue fails) or revokes this token.
pub async fn issue(
    db: &DatabaseConnection,
    org: OrgId,
    user_id: UserId,
    scopes: &[String],
    ttl_micros: i64,
) -> CoreResult<(access_token::Model, String)> {
    let scopes = scopes.join(" ");
    org_writes::write(db, org, move |write| {
        Box::pin(async move {
            let txn = write.txn;
            let active = user::Entity::find_by_id(user_id.0)
                .filter(user::Column::OrgId.eq(org.0))
                .select_only()
                .column(user::Column::Active)
                .into_tuple::<bool>()
                .by_key(txn)
                .await?
                .ok_or_else(|| CoreError::user_not_found(user_id))?;
            if !active {
                return Err(CoreError::FailedPrecondition {
                    reason: ErrorReason::UserInactive,
                    message: format!("user {user_id} is deactivated"),
                });
            }
            let secret = generate_secret(ACCESS_TOKEN_PREFIX);
            let now = crate::time::now_micros();
            let row = access_token::ActiveModel {
                id: Set(TokenId::generate().0),
                org_id: Set(org.0),
                user_id: Set(user_id.0),
                secret_hash: Set(secret_hash(&secret)),
                scopes: Set(scopes),
                created_at: Set(now),
                expires_at: Set(now.saturating_add(ttl_micros)),
                revoked_at: Set(None),
            }
            .insert(txn)
            .await?;
            Ok((row, secret))
        })
    })
    .await
}

/// What introspection found.
#[derive(Debug, Clone)]
pub enum Introspection {
    Inactive(InactiveReason),
    Active(ActiveToken),
}

/// An active token and whom it stands for.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub token: access_token::Model,
    pub user_name: String,
    pub roles: Vec<(Uuid, String)>,
}

/// The token whose secret is `secret`, if any.
pub async fn find_by_secret<C: ConnectionTrait>(
    conn: &C,
    secret: &str,
) -> CoreResult<Option<access_token::Model>> {
    credentials::find_by_secret::<access_token::Entity, _>(
        conn,
        access_token::Column::SecretHash,
        secret,
        |row| &row.secret_hash,
    )
    .await
}

/// The state of a stored token at `now`: revocation wins over expiry.
pub fn state_of(token: &access_token::Model, now: i64) -> Option<InactiveReason> {
    if token.revoked_at.is_some_and(|at| at <= now) {
        Some(InactiveReason::Revoked)
    } else if token.expires_at <= now {
        Some(InactiveReason::Expired)
    } else {
        None
    }
}

/// Introspects a well-formed token (RFC 7662 semantics).
pub async fn introspect(db: &DatabaseConnection, secret: &str) -> CoreResult<Introspection> {
    let Some(token) = find_by_secret(db, secret).await? else {
        return Ok(Introspection::Inactive(InactiveReason::Unknown));
    };
    if let Some(reason) = state_of(&token, crate::time::now_micros()) {
        return Ok(Introspection::Inactive(reason));
    }
    let org = OrgId(token.org_id);
    let found = user::Entity::find_by_id(token.user_id)
        .filter(user::Column::OrgId.eq(org.0))
        .select_only()
        .column(user::Column::UserName)
        .column(user::Column::Active)
        .into_tuple::<(String, bool)>()
        .by_key(db)
        .await?;
    // belt and braces: deactivation revokes tokens in its transaction, so this only matters
    // for rows written by something that bypassed the store
    let Some((user_name, true)) = found else {
        return Ok(Introspection::Inactive(InactiveReason::Revoked));
    };
    let roles = roles::user_role_names(db, org, token.user_id, MAX_INTROSPECTED_ROLES).await?;
    Ok(Introspection::Active(ActiveToken {
        token,
        user_name,
        roles,
    }))
}

/// How RevokeAccessToken names its token.
#[derive(Debug, Clone)]
pub enum TokenKey<'a> {
    Id(TokenId),
    Secret(&'a str),
}

/// Revokes one token of `org` (idempotent); TOKEN_NOT_FOUND when `org` has no such token.
pub async fn revoke(db: &DatabaseConnection, org: OrgId, key: TokenKey<'_>) -> CoreResult<()> {
    let found = match key {
        TokenKey::Id(id) => {
            access_token::Entity::find_by_id(id.0)
                .filter(access_token::Column::OrgId.eq(org.0))
                .by_key(db)
                .await?
        }
        TokenKey::Secret(secret) => find_by_secret(db, secret)
            .await?
            .filter(|row| row.org_id == org.0),
    };
    let Some(row) = found else {
        return Err(CoreError::NotFound {
            reason: ErrorReason::TokenNotFound,
            what: "access token".into(),
        });
    };
    access_token::Entity::update_many()
        .col_expr(
            access_token::Column::RevokedAt,
            Expr::val(crate::time::now_micros()),
        )
        .filter(access_token::Column::Id.eq(row.id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every unrevoked token of a user and returns how many; callers that deactivate or
/// delete the user pass their transaction.
pub async fn revoke_user_tokens<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    user_id: UserId,
    now: i64,
) -> CoreResult<u64> {
    let result = access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::val(now))
        .filter(access_token::Column::OrgId.eq(org.0))
        .filter(access_token::Column::UserId.eq(user_id.0))
        .filter(access_token::Column::RevokedAt.is_null())
        .filter(access_token::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes tokens that expired before `cutoff` (they introspect as unknown from then on).
pub async fn prune_expired(db: &DatabaseConnection, cutoff: i64) -> CoreResult<u64> {
    let result = access_token::Entity::delete_many()
        .filter(access_token::Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_minted_shapes_are_well_formed() {
        let minted = generate_secret(ACCESS_TOKEN_PREFIX);
        assert!(is_well_formed(&minted), "{minted}");
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("idat_short"));
        assert!(!is_well_formed(&minted.replace("idat_", "idsc_")));
        let mut bad = minted.clone();
        bad.replace_range(10..11, "!");
        assert!(!is_well_formed(&bad));
        assert!(!is_well_formed(&format!("{minted}x")));
    }
}
