//! The OAuth 2.0 authorization server's state (RFC 6749, RFC 7636, RFC 7009): clients,
//! pending authorization requests, codes, grants and refresh tokens.
//!
//! - Client secrets, codes and refresh tokens carry 256 random bits and are stored only as
//!   SHA-256, like every other secret here (see `credentials`).
//! - Access tokens are `scim_token` rows with `grant_id` set, so SCIM authenticates them exactly
//!   like pasted tokens; revoking a grant revokes its access tokens in the same transaction.
//! - A code or refresh token is consumed by a conditional UPDATE as the transaction's first
//!   statement, so two concurrent exchanges cannot both succeed. A code is spent by any exchange
//!   attempt, failed ones included (a wrong PKCE verifier cannot be retried); a refresh token
//!   that fails validation is not spent. Presenting a consumed one again is the exception
//!   RFC 6749 §4.1.2 and RFC 6819 §5.2.2.3 ask for: the whole grant is revoked.
//!
//! Cut along its seams: [`clients`], the [`authorization`] request, [`tokens`] and [`grants`].

use crate::entity::oauth_client;
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::connections;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

mod authorization;
mod clients;
mod grants;
mod tokens;

pub use authorization::*;
pub use clients::*;
pub use grants::*;
pub use tokens::*;

/// Prefix of client ids (public).
pub const CLIENT_ID_PREFIX: &str = "idclient_";
/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "idcsec_";
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "idcode_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "idrt_";
/// The one scope offered: provisioning over SCIM.
pub const SCOPE: &str = "scim";
/// Wrong owner credentials a pending request survives.
const MAX_CONSENT_ATTEMPTS: i32 = 5;
/// The most redirect URIs of one client.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest `state` kept.
const MAX_STATE_LEN: usize = 1024;

/// Lifetimes, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct OAuthSettings {
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub code_ttl: i64,
    pub request_ttl: i64,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        const SECOND: i64 = 1_000_000;
        Self {
            access_token_ttl: 3600 * SECOND,
            refresh_token_ttl: 90 * 24 * 3600 * SECOND,
            code_ttl: 60 * SECOND,
            request_ttl: 600 * SECOND,
        }
    }
}

fn oauth(reason: ErrorReason, description: impl Into<String>) -> CoreError {
    CoreError::oauth(reason, description)
}

fn invalid_grant(description: impl Into<String>) -> CoreError {
    oauth(ErrorReason::OauthInvalidGrant, description)
}

fn invalid_client() -> CoreError {
    oauth(
        ErrorReason::OauthInvalidClient,
        "client authentication failed",
    )
}

/// The scope to grant for a requested one: empty means the default.
fn granted_scope(requested: &str) -> CoreResult<&'static str> {
    match requested
        .split_ascii_whitespace()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | [SCOPE] => Ok(SCOPE),
        _ => Err(oauth(
            ErrorReason::OauthInvalidScope,
            format!("the only scope offered is {SCOPE:?}"),
        )),
    }
}

/// A client that is not deleted and whose connection is live.
async fn live_client<C: ConnectionTrait>(
    conn: &C,
    filter: sea_orm::Condition,
) -> CoreResult<Option<(oauth_client::Model, connections::Connection)>> {
    let Some(client) = oauth_client::Entity::find()
        .filter(filter)
        .filter(oauth_client::Column::DeletedAt.is_null())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    match connections::get(conn, OrgId(client.org_id), client.connection_id).await {
        Ok(connection) => Ok(Some((client, connection))),
        Err(CoreError::NotFound {
            reason: ErrorReason::ConnectionNotFound,
            ..
        }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Locks a client's row for the rest of the transaction: the first statement is a no-op
/// UPDATE, so concurrent token requests of one client queue on it (and, on SQLite, a
/// transaction that reads first cannot fail to upgrade its lock under contention).
async fn lock_client(txn: &DatabaseTransaction, client_pk: Uuid) -> CoreResult<()> {
    oauth_client::Entity::update_many()
        .col_expr(
            oauth_client::Column::Name,
            Expr::col(oauth_client::Column::Name),
        )
        .filter(oauth_client::Column::Id.eq(client_pk))
        .exec(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(&"x".repeat(43), challenge));
    }

    #[test]
    fn only_the_scim_scope_is_offered() {
        assert_eq!(granted_scope("").unwrap(), "scim");
        assert_eq!(granted_scope(" scim ").unwrap(), "scim");
        assert!(granted_scope("admin").is_err());
    }
}
