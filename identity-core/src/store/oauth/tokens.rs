//! Tokens: issuing access and refresh tokens for a code, a refresh token or client
//! credentials, and revoking them (RFC 7009).

use super::clients::AuthenticatedClient;
use super::*;
use crate::entity::{oauth_client, oauth_code, oauth_grant, oauth_refresh_token, scim_token};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;
use crate::store::credentials::{self, NewScimToken};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::admin::v1::GrantKind;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Tokens issued by the token endpoint.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in_seconds: i64,
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Issues an access token (and, unless for client credentials, a refresh token) for `grant`.
pub(super) async fn issue_tokens(
    txn: &DatabaseTransaction,
    settings: &OAuthSettings,
    client: &oauth_client::Model,
    grant: &oauth_grant::Model,
    with_refresh: bool,
    now: i64,
) -> CoreResult<IssuedTokens> {
    let (_, access_token) = credentials::insert_scim_token(
        txn,
        NewScimToken {
            org_id: OrgId(client.org_id),
            description: &format!("OAuth access token of {}", client.name),
            created_at: now,
            expires_at: now + settings.access_token_ttl,
            rotated_from: None,
            connection_id: Some(client.connection_id),
            grant_id: Some(grant.id),
        },
    )
    .await?;
    let refresh_token = if with_refresh {
        let secret = credentials::generate_secret(REFRESH_TOKEN_PREFIX);
        oauth_refresh_token::ActiveModel {
            token_hash: Set(credentials::secret_hash(&secret)),
            grant_id: Set(grant.id),
            created_at: Set(now),
            expires_at: Set(now + settings.refresh_token_ttl),
            used_at: Set(None),
        }
        .insert(txn)
        .await?;
        Some(secret)
    } else {
        None
    };
    Ok(IssuedTokens {
        access_token,
        expires_in_seconds: settings.access_token_ttl / 1_000_000,
        refresh_token,
        scope: grant.scope.clone(),
    })
}

pub(super) async fn insert_grant(
    txn: &DatabaseTransaction,
    client: &oauth_client::Model,
    kind: GrantKind,
    scope: &str,
    now: i64,
) -> CoreResult<oauth_grant::Model> {
    Ok(oauth_grant::ActiveModel {
        id: Set(Uuid::new_v4()),
        org_id: Set(client.org_id),
        connection_id: Set(client.connection_id),
        client_pk: Set(client.id),
        kind: Set(kind as i16),
        scope: Set(scope.to_owned()),
        created_at: Set(now),
        last_refreshed_at: Set(None),
        revoked_at: Set(None),
        revoke_reason: Set(None),
    }
    .insert(txn)
    .await?)
}

/// `BASE64URL(SHA256(verifier))` compared with the stored challenge (RFC 7636 §4.6).
pub(super) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    credentials::hashes_equal(&computed, challenge)
}

/// The authorization_code grant (RFC 6749 §4.1.3 with RFC 7636 §4.5).
pub async fn exchange_code(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    client: &AuthenticatedClient,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> CoreResult<IssuedTokens> {
    let client = &client.0;
    if code.is_empty() || code.len() > 512 {
        return Err(oauth(ErrorReason::OauthInvalidRequest, "code is required"));
    }
    if !is_pkce_text(verifier, 43, 128) {
        return Err(oauth(
            ErrorReason::OauthInvalidRequest,
            "code_verifier is required: 43 to 128 characters of [A-Za-z0-9-._~]",
        ));
    }
    let now = crate::time::now_micros();
    let hash = credentials::secret_hash(code);
    let txn = db.begin().await?;
    let consumed = oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::val(now))
        .filter(oauth_code::Column::CodeHash.eq(hash.as_str()))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    let row = oauth_code::Entity::find_by_id(hash)
        .by_key(&txn)
        .await?
        .ok_or_else(|| invalid_grant("unknown authorization code"))?;
    if consumed && let Some(refusal) = refuse_exchange(&row, client, redirect_uri, verifier, now) {
        // the attempt spends the code (RFC 6749 §10.5: a code is for one attempt), so a
        // guessed verifier or a stolen code cannot be tried again
        txn.commit().await?;
        tracing::warn!(target: "audit", client_id = %client.client_id, action = "oauth.code_refused", "authorization code exchange refused: the code is spent");
        return Err(refusal);
    }
    if row.client_pk != client.id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if !consumed {
        if let Some(grant) = row.grant_id {
            revoke_grants(
                &txn,
                oauth_grant::Column::Id.eq(grant).into(),
                "code_reuse",
                now,
            )
            .await?;
        }
        txn.commit().await?;
        tracing::warn!(target: "audit", client_id = %client.client_id, action = "oauth.code_reuse", "authorization code presented twice: its grant is revoked");
        return Err(invalid_grant(
            "the code was already used; the tokens issued for it are revoked",
        ));
    }
    let grant = insert_grant(&txn, client, GrantKind::AuthorizationCode, &row.scope, now).await?;
    oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::GrantId, Expr::val(grant.id))
        .filter(oauth_code::Column::CodeHash.eq(row.code_hash.as_str()))
        .exec(&txn)
        .await?;
    let tokens = issue_tokens(&txn, settings, client, &grant, true, now).await?;
    txn.commit().await?;
    tracing::info!(target: "audit", org_id = %client.org_id, client_id = %client.client_id, grant_id = %grant.id, action = "oauth.code_exchanged", "authorization code exchanged");
    Ok(tokens)
}

/// Why a code that was just spent may not be exchanged by `client`, if it may not.
pub(super) fn refuse_exchange(
    row: &oauth_code::Model,
    client: &oauth_client::Model,
    redirect_uri: &str,
    verifier: &str,
    now: i64,
) -> Option<CoreError> {
    if row.client_pk != client.id {
        return Some(invalid_grant("the code was issued to another client"));
    }
    if row.expires_at <= now {
        return Some(invalid_grant("the code expired"));
    }
    if row.redirect_uri != redirect_uri {
        return Some(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !pkce_matches(verifier, &row.code_challenge) {
        return Some(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    None
}

/// The refresh_token grant (RFC 6749 §6) with rotation: the presented token is spent, a new one
/// comes back; a spent one presented again revokes the grant.
pub async fn refresh(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    client: &AuthenticatedClient,
    refresh_token: &str,
    scope: &str,
) -> CoreResult<IssuedTokens> {
    let client = &client.0;
    if refresh_token.is_empty() || refresh_token.len() > 512 {
        return Err(oauth(
            ErrorReason::OauthInvalidRequest,
            "refresh_token is required",
        ));
    }
    granted_scope(scope)?;
    let now = crate::time::now_micros();
    let hash = credentials::secret_hash(refresh_token);
    let txn = db.begin().await?;
    let consumed = oauth_refresh_token::Entity::update_many()
        .col_expr(oauth_refresh_token::Column::UsedAt, Expr::val(now))
        .filter(oauth_refresh_token::Column::TokenHash.eq(hash.as_str()))
        .filter(oauth_refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    let row = oauth_refresh_token::Entity::find_by_id(hash)
        .by_key(&txn)
        .await?
        .ok_or_else(|| invalid_grant("unknown refresh token"))?;
    let grant = oauth_grant::Entity::find_by_id(row.grant_id)
        .by_key(&txn)
        .await?
        .ok_or_else(|| invalid_grant("unknown refresh token"))?;
    if grant.client_pk != client.id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid_grant("the grant was revoked"));
    }
    if !consumed {
        revoke_grants(
            &txn,
            oauth_grant::Column::Id.eq(grant.id).into(),
            "refresh_token_reuse",
            now,
        )
        .await?;
        txn.commit().await?;
        tracing::warn!(target: "audit", client_id = %client.client_id, grant_id = %grant.id, action = "oauth.refresh_reuse", "spent refresh token presented again: grant revoked");
        return Err(invalid_grant(
            "the refresh token was already used; every token of this grant is revoked",
        ));
    }
    if row.expires_at <= now {
        return Err(invalid_grant("the refresh token expired"));
    }
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::LastRefreshedAt, Expr::val(now))
        .filter(oauth_grant::Column::Id.eq(grant.id))
        .exec(&txn)
        .await?;
    let tokens = issue_tokens(&txn, settings, client, &grant, true, now).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// The client_credentials grant (RFC 6749 §4.4): an access token, no refresh token. A client
/// has one such grant at a time, so revoking it stops the client's tokens until it asks again.
pub async fn client_credentials(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    client: &AuthenticatedClient,
    scope: &str,
) -> CoreResult<IssuedTokens> {
    let client = &client.0;
    if !client.allows_client_credentials {
        return Err(oauth(
            ErrorReason::OauthUnauthorizedClient,
            "the client is not registered for the client_credentials grant",
        ));
    }
    let scope = granted_scope(scope)?;
    let now = crate::time::now_micros();
    let txn = db.begin().await?;
    // concurrent exchanges of one client share its one grant instead of each making one
    lock_client(&txn, client.id).await?;
    let existing = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::ClientPk.eq(client.id))
        .filter(oauth_grant::Column::Kind.eq(GrantKind::ClientCredentials as i16))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .one(&txn)
        .await?;
    let grant = match existing {
        Some(grant) => grant,
        None => insert_grant(&txn, client, GrantKind::ClientCredentials, scope, now).await?,
    };
    let tokens = issue_tokens(&txn, settings, client, &grant, false, now).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// Token revocation (RFC 7009 §2.1); an unknown token is not an error.
pub async fn revoke_token(
    db: &DatabaseConnection,
    client: &AuthenticatedClient,
    token: &str,
    hint: &str,
) -> CoreResult<()> {
    let client = &client.0;
    if token.is_empty() || token.len() > 512 {
        return Err(oauth(ErrorReason::OauthInvalidRequest, "token is required"));
    }
    let now = crate::time::now_micros();
    let txn = db.begin().await?;
    lock_client(&txn, client.id).await?;
    // the hint only orders the lookups (RFC 7009 §2.1)
    let refresh_first = hint != "access_token";
    for refresh in [refresh_first, !refresh_first] {
        let grant_id = if refresh {
            oauth_refresh_token::Entity::find_by_id(credentials::secret_hash(token))
                .by_key(&txn)
                .await?
                .map(|row| row.grant_id)
        } else {
            credentials::find_scim_token_by_secret(&txn, token)
                .await?
                .and_then(|row| row.grant_id)
        };
        let Some(grant_id) = grant_id else {
            continue;
        };
        let owner = oauth_grant::Entity::find_by_id(grant_id)
            .select_only()
            .column(oauth_grant::Column::ClientPk)
            .into_tuple::<Uuid>()
            .by_key(&txn)
            .await?;
        if owner != Some(client.id) {
            return Err(oauth(
                ErrorReason::OauthUnauthorizedClient,
                "the token was issued to another client",
            ));
        }
        if refresh {
            revoke_grants(
                &txn,
                oauth_grant::Column::Id.eq(grant_id).into(),
                "client",
                now,
            )
            .await?;
        } else {
            scim_token::Entity::update_many()
                .col_expr(scim_token::Column::RevokedAt, Expr::val(now))
                .filter(scim_token::Column::SecretHash.eq(credentials::secret_hash(token)))
                .filter(scim_token::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
        }
        break;
    }
    txn.commit().await?;
    Ok(())
}
