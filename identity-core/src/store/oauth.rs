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

use crate::entity::{
    oauth_authorization_request, oauth_client, oauth_code, oauth_grant, oauth_refresh_token,
    provisioning_connection, scim_token,
};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;
use crate::store::credentials::{self, NewScimToken};
use crate::store::{connections, organizations};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::admin::v1::GrantKind;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

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
) -> CoreResult<Option<(oauth_client::Model, provisioning_connection::Model)>> {
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

/// Registers a client for a live connection; returns it and its secret (shown once).
pub async fn register_client(
    db: &DatabaseConnection,
    org: OrgId,
    connection: Uuid,
    name: &str,
    redirect_uris: &[String],
    allows_client_credentials: bool,
) -> CoreResult<(oauth_client::Model, String)> {
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
    Ok((client, secret))
}

/// The registered redirect URIs of a client.
pub fn redirect_uris(client: &oauth_client::Model) -> Vec<String> {
    serde_json::from_str(&client.redirect_uris).unwrap_or_default()
}

/// A connection's clients that are not deleted, oldest first.
pub async fn list_clients(
    db: &DatabaseConnection,
    org: OrgId,
    connection: Uuid,
) -> CoreResult<Vec<oauth_client::Model>> {
    connections::get(db, org, connection).await?;
    Ok(oauth_client::Entity::find()
        .filter(oauth_client::Column::ConnectionId.eq(connection))
        .filter(oauth_client::Column::DeletedAt.is_null())
        .order_by_asc(oauth_client::Column::CreatedAt)
        .all(db)
        .await?)
}

fn client_not_found(client_id: &str) -> CoreError {
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
async fn revoke_grants(
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
) -> CoreResult<oauth_client::Model> {
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
            Ok(client)
        }
        _ => Err(invalid_client()),
    }
}

/// An authorization request as the consent page shows it.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub request: oauth_authorization_request::Model,
    pub client: oauth_client::Model,
    pub connection: provisioning_connection::Model,
    pub organization_name: String,
}

/// What an authorization request asks for (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Debug, Clone)]
pub struct AuthorizationAsk<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub code_challenge_method: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
}

fn is_pkce_text(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Validates an authorization request and stores it as pending.
pub async fn start_authorization(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    ask: AuthorizationAsk<'_>,
) -> CoreResult<PendingAuthorization> {
    let (client, connection) =
        live_client(db, oauth_client::Column::ClientId.eq(ask.client_id).into())
            .await?
            .ok_or_else(|| oauth(ErrorReason::OauthInvalidClient, "unknown client_id"))?;
    if !redirect_uris(&client)
        .iter()
        .any(|uri| uri == ask.redirect_uri)
    {
        return Err(oauth(
            ErrorReason::OauthRedirectUriMismatch,
            "redirect_uri is not registered for this client",
        ));
    }
    if ask.code_challenge_method != "S256" {
        return Err(oauth(
            ErrorReason::OauthInvalidRequest,
            "code_challenge_method must be S256",
        ));
    }
    // BASE64URL of a SHA-256 digest is exactly 43 characters
    if ask.code_challenge.len() != 43 || !is_pkce_text(ask.code_challenge, 43, 43) {
        return Err(oauth(
            ErrorReason::OauthInvalidRequest,
            "code_challenge must be the S256 challenge (43 base64url characters)",
        ));
    }
    if ask.state.len() > MAX_STATE_LEN {
        return Err(oauth(ErrorReason::OauthInvalidRequest, "state is too long"));
    }
    let scope = granted_scope(ask.scope)?;
    let organization = organizations::get(db, OrgId(client.org_id)).await?;
    let request = oauth_authorization_request::ActiveModel {
        id: Set(Uuid::new_v4()),
        client_pk: Set(client.id),
        redirect_uri: Set(ask.redirect_uri.to_owned()),
        state: Set(ask.state.to_owned()),
        code_challenge: Set(ask.code_challenge.to_owned()),
        scope: Set(scope.to_owned()),
        expires_at: Set(crate::time::now_micros() + settings.request_ttl),
        failed_attempts: Set(0),
    }
    .insert(db)
    .await?;
    Ok(PendingAuthorization {
        request,
        client,
        connection,
        organization_name: organization.display_name,
    })
}

/// A pending request that has not expired, with what the consent page shows.
pub async fn describe_authorization(
    db: &DatabaseConnection,
    request_id: Uuid,
) -> CoreResult<PendingAuthorization> {
    let request = oauth_authorization_request::Entity::find_by_id(request_id)
        .filter(oauth_authorization_request::Column::ExpiresAt.gt(crate::time::now_micros()))
        .by_key(db)
        .await?
        .ok_or_else(request_expired)?;
    let (client, connection) =
        live_client(db, oauth_client::Column::Id.eq(request.client_pk).into())
            .await?
            .ok_or_else(request_expired)?;
    let organization = organizations::get(db, OrgId(client.org_id)).await?;
    Ok(PendingAuthorization {
        request,
        client,
        connection,
        organization_name: organization.display_name,
    })
}

fn request_expired() -> CoreError {
    oauth(
        ErrorReason::AuthorizationRequestExpired,
        "the authorization request expired or was already answered; start again from the identity provider",
    )
}

/// Where the browser goes after the owner's decision.
#[derive(Debug, Clone)]
pub struct Decision {
    pub redirect_uri: String,
    pub code: Option<String>,
    pub state: String,
}

/// Completes a pending request: a code when approved by an owner of the client's organization.
pub async fn complete_authorization(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    request_id: Uuid,
    approve: bool,
    owner_credential: &str,
) -> CoreResult<Decision> {
    let now = crate::time::now_micros();
    let txn = db.begin().await?;
    // claim the request first (a write, so concurrent answers serialise on it)
    let claimed = oauth_authorization_request::Entity::update_many()
        .col_expr(
            oauth_authorization_request::Column::FailedAttempts,
            Expr::col(oauth_authorization_request::Column::FailedAttempts),
        )
        .filter(oauth_authorization_request::Column::Id.eq(request_id))
        .filter(oauth_authorization_request::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(request_expired());
    }
    let request = oauth_authorization_request::Entity::find_by_id(request_id)
        .by_key(&txn)
        .await?
        .ok_or_else(request_expired)?;
    let Some((client, _)) =
        live_client(&txn, oauth_client::Column::Id.eq(request.client_pk).into()).await?
    else {
        return Err(request_expired());
    };
    let decision = Decision {
        redirect_uri: request.redirect_uri.clone(),
        code: None,
        state: request.state.clone(),
    };
    if !approve {
        oauth_authorization_request::Entity::delete_by_id(request_id)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        return Ok(decision);
    }
    let owner = credentials::find_active_owner_credential(&txn, owner_credential).await?;
    if owner.is_none_or(|owner| owner.org_id != client.org_id) {
        if request.failed_attempts + 1 >= MAX_CONSENT_ATTEMPTS {
            oauth_authorization_request::Entity::delete_by_id(request_id)
                .exec(&txn)
                .await?;
        } else {
            oauth_authorization_request::Entity::update_many()
                .col_expr(
                    oauth_authorization_request::Column::FailedAttempts,
                    Expr::val(request.failed_attempts + 1),
                )
                .filter(oauth_authorization_request::Column::Id.eq(request_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        tracing::info!(target: "audit", client_id = %client.client_id, action = "oauth.consent_rejected", "owner credential rejected on the consent page");
        return Err(oauth(
            ErrorReason::OwnerCredentialRejected,
            "that is not an owner credential of this organization",
        ));
    }
    let code = credentials::generate_secret(CODE_PREFIX);
    oauth_code::ActiveModel {
        code_hash: Set(credentials::secret_hash(&code)),
        client_pk: Set(client.id),
        redirect_uri: Set(request.redirect_uri.clone()),
        code_challenge: Set(request.code_challenge.clone()),
        scope: Set(request.scope.clone()),
        expires_at: Set(now + settings.code_ttl),
        used_at: Set(None),
        grant_id: Set(None),
    }
    .insert(&txn)
    .await?;
    oauth_authorization_request::Entity::delete_by_id(request_id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(target: "audit", org_id = %client.org_id, client_id = %client.client_id, connection_id = %client.connection_id, action = "oauth.consent_approved", "owner approved an OAuth client");
    Ok(Decision {
        code: Some(code),
        ..decision
    })
}

/// Tokens issued by the token endpoint.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in_seconds: i64,
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Issues an access token (and, unless for client credentials, a refresh token) for `grant`.
async fn issue_tokens(
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

async fn insert_grant(
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
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    credentials::hashes_equal(&computed, challenge)
}

/// The authorization_code grant (RFC 6749 §4.1.3 with RFC 7636 §4.5).
pub async fn exchange_code(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    client: &oauth_client::Model,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> CoreResult<IssuedTokens> {
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
fn refuse_exchange(
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
    client: &oauth_client::Model,
    refresh_token: &str,
    scope: &str,
) -> CoreResult<IssuedTokens> {
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
    client: &oauth_client::Model,
    scope: &str,
) -> CoreResult<IssuedTokens> {
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
    client: &oauth_client::Model,
    token: &str,
    hint: &str,
) -> CoreResult<()> {
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

/// A connection's grants, newest first, with each one's public client id.
pub async fn list_grants(
    db: &DatabaseConnection,
    org: OrgId,
    connection: Uuid,
) -> CoreResult<Vec<(oauth_grant::Model, String)>> {
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
) -> CoreResult<Vec<(oauth_grant::Model, String)>> {
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
            let client = clients.get(&grant.client_pk).cloned().unwrap_or_default();
            (grant, client)
        })
        .collect())
}

/// Revokes one grant of `org` (idempotent); NOT_FOUND for an unknown or foreign one.
pub async fn revoke_grant(
    db: &DatabaseConnection,
    org: OrgId,
    grant_id: Uuid,
) -> CoreResult<(oauth_grant::Model, String)> {
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
