//! SCIM tokens and owner credentials: minting secrets, storing their hashes, looking them up.
//!
//! A secret is a recognisable prefix (`idscim_`, `idown_`) followed by 32 random bytes in
//! unpadded base64url (43 characters). Only its SHA-256, in lowercase hex, is stored; the
//! lookup is by that hash through a unique index, and the stored hash is compared again in
//! constant time. The secrets carry 256 random bits, so a fast unsalted hash is sound here
//! (stretching is for low-entropy passwords). Nothing in this module logs a secret.

use crate::entity::{owner_credential, scim_token};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, TokenId};
use crate::store::ByKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::identity::v1::ErrorReason;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of SCIM token secrets, so secret scanners can find leaked ones.
pub const SCIM_TOKEN_PREFIX: &str = "idscim_";
/// Prefix of owner credential secrets.
pub const OWNER_CREDENTIAL_PREFIX: &str = "idown_";
/// Characters of a SCIM secret kept as its hint: the prefix and 4 more.
pub const HINT_LEN: usize = 11;

/// A new secret: `prefix` and 43 characters of base64url-encoded randomness (256 bits).
pub fn generate_secret(prefix: &str) -> String {
    let mut bytes = [0_u8; 32];
    // ThreadRng is a CSPRNG seeded from the operating system and reseeded periodically
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a secret: lowercase hex SHA-256.
pub fn secret_hash(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

/// Compares two hashes without leaking through timing where they differ.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A SCIM token as the store hands it out (its secret's hash stays here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimToken {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    pub description: String,
    /// The secret's first characters, to tell tokens apart.
    pub hint: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch; a rotation may move it earlier.
    pub expires_at: i64,
    /// Microseconds since the Unix epoch; written at most once a minute.
    pub last_used_at: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub revoked_at: Option<i64>,
    /// The token this one replaced.
    pub rotated_from_token_id: Option<uuid::Uuid>,
    /// The provisioning connection the token belongs to.
    pub connection_id: Option<uuid::Uuid>,
    /// Set for an OAuth access token: the grant it came from.
    pub grant_id: Option<uuid::Uuid>,
}

impl From<scim_token::Model> for ScimToken {
    fn from(row: scim_token::Model) -> Self {
        Self {
            id: row.id,
            org_id: OrgId(row.org_id),
            description: row.description,
            hint: row.hint,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            rotated_from_token_id: row.rotated_from_token_id,
            connection_id: row.connection_id,
            grant_id: row.grant_id,
        }
    }
}

/// A token's state at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    /// The state of `token` at `now`: revocation wins over expiry.
    pub fn of(token: &ScimToken, now: i64) -> Self {
        if token.revoked_at.is_some_and(|at| at <= now) {
            Self::Revoked
        } else if token.expires_at <= now {
            Self::Expired
        } else {
            Self::Active
        }
    }
}

/// What a new SCIM token row holds.
#[derive(Debug)]
pub struct NewScimToken<'a> {
    pub org_id: OrgId,
    pub description: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_from: Option<TokenId>,
    /// The provisioning connection it belongs to.
    pub connection_id: Option<uuid::Uuid>,
    /// The OAuth grant, for an OAuth access token.
    pub grant_id: Option<uuid::Uuid>,
}

/// Stores a new SCIM token and returns its row and its secret (the only time it exists).
pub async fn insert_scim_token<C: ConnectionTrait>(
    db: &C,
    new: NewScimToken<'_>,
) -> CoreResult<(ScimToken, String)> {
    let secret = generate_secret(SCIM_TOKEN_PREFIX);
    let row = scim_token::ActiveModel {
        id: Set(TokenId::generate().0),
        org_id: Set(new.org_id.0),
        description: Set(new.description.to_owned()),
        hint: Set(secret[..HINT_LEN].to_owned()),
        secret_hash: Set(secret_hash(&secret)),
        created_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        rotated_from_token_id: Set(new.rotated_from.map(|id| id.0)),
        connection_id: Set(new.connection_id),
        grant_id: Set(new.grant_id),
        expiry_warned_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((row.into(), secret))
}

/// The row of `E` whose `hash_column` holds the SHA-256 of `secret`, if any: one lookup
/// through the column's unique index, then the stored hash compared again in constant time (a
/// guard against a collation or backend that compares more loosely than byte equality). Every
/// kind of secret (SCIM tokens, owner and service credentials, access tokens) is found here.
pub(crate) async fn find_by_secret<E, C>(
    conn: &C,
    hash_column: E::Column,
    secret: &str,
    stored_hash: fn(&E::Model) -> &str,
) -> CoreResult<Option<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let hash = secret_hash(secret);
    let row = E::find()
        .filter(hash_column.eq(hash.as_str()))
        .one(conn)
        .await?;
    Ok(row.filter(|row| hashes_equal(stored_hash(row), &hash)))
}

/// The SCIM token whose secret is `secret`, if any.
pub async fn find_scim_token_by_secret<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> CoreResult<Option<ScimToken>> {
    let found = find_by_secret::<scim_token::Entity, _>(
        db,
        scim_token::Column::SecretHash,
        secret,
        |row| &row.secret_hash,
    )
    .await?;
    Ok(found.map(ScimToken::from))
}

/// One SCIM token of an organization, or TOKEN_NOT_FOUND.
pub async fn get_scim_token<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    token_id: TokenId,
) -> CoreResult<ScimToken> {
    scim_token::Entity::find_by_id(token_id.0)
        .filter(scim_token::Column::OrgId.eq(org_id.0))
        .by_key(db)
        .await?
        .map(ScimToken::from)
        .ok_or_else(|| token_not_found(token_id))
}

/// Like [`get_scim_token`], locking the row until the transaction ends (`SELECT … FOR UPDATE`
/// on PostgreSQL; SQLite has a single writer anyway), so two rotations of one token cannot
/// both see it active.
pub async fn lock_scim_token<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    token_id: TokenId,
) -> CoreResult<ScimToken> {
    scim_token::Entity::find_by_id(token_id.0)
        .filter(scim_token::Column::OrgId.eq(org_id.0))
        .lock_exclusive()
        .by_key(db)
        .await?
        .map(ScimToken::from)
        .ok_or_else(|| token_not_found(token_id))
}

fn token_not_found(token_id: TokenId) -> CoreError {
    CoreError::NotFound {
        reason: ErrorReason::TokenNotFound,
        what: format!("token {token_id}"),
    }
}

/// Keyset position in the newest-first token listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCursor {
    pub created_at: i64,
    pub id: TokenId,
}

impl TokenCursor {
    /// The opaque page token.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("t1:{}:{}", self.created_at, self.id.0.simple()))
    }

    /// Parses a page token produced by [`encode`](Self::encode).
    pub fn decode(token: &str) -> CoreResult<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| CoreError::InvalidPageToken)?;
        let text = String::from_utf8(bytes).map_err(|_| CoreError::InvalidPageToken)?;
        let mut parts = text.splitn(3, ':');
        let (Some("t1"), Some(created_at), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CoreError::InvalidPageToken);
        };
        Ok(Self {
            created_at: created_at
                .parse()
                .map_err(|_| CoreError::InvalidPageToken)?,
            id: TokenId(uuid::Uuid::try_parse(id).map_err(|_| CoreError::InvalidPageToken)?),
        })
    }
}

/// A page of an organization's tokens, newest first, and the cursor of the next page.
pub async fn list_scim_tokens<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    after: Option<TokenCursor>,
    page_size: u64,
) -> CoreResult<(Vec<ScimToken>, Option<TokenCursor>)> {
    // OAuth access tokens are listed with their grants, not here
    let mut query = scim_token::Entity::find()
        .filter(scim_token::Column::OrgId.eq(org_id.0))
        .filter(scim_token::Column::GrantId.is_null());
    if let Some(cursor) = after {
        query = query.filter(
            Expr::col(scim_token::Column::CreatedAt)
                .lt(cursor.created_at)
                .or(Expr::col(scim_token::Column::CreatedAt)
                    .eq(cursor.created_at)
                    .and(Expr::col(scim_token::Column::Id).lt(cursor.id.0))),
        );
    }
    let mut rows = query
        .order_by_desc(scim_token::Column::CreatedAt)
        .order_by_desc(scim_token::Column::Id)
        .limit(page_size + 1)
        .all(db)
        .await?;
    let next = if rows.len() as u64 > page_size {
        rows.truncate(page_size as usize);
        rows.last().map(|last| TokenCursor {
            created_at: last.created_at,
            id: TokenId(last.id),
        })
    } else {
        None
    };
    Ok((rows.into_iter().map(ScimToken::from).collect(), next))
}

/// Which of `ids` have been replaced by a rotation (some token names them as its origin).
pub async fn rotated_away<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    ids: &[uuid::Uuid],
) -> CoreResult<Vec<uuid::Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = scim_token::Entity::find()
        .select_only()
        .column(scim_token::Column::RotatedFromTokenId)
        .filter(scim_token::Column::OrgId.eq(org_id.0))
        .filter(scim_token::Column::RotatedFromTokenId.is_in(ids.iter().copied()))
        .into_tuple::<Option<uuid::Uuid>>()
        .all(db)
        .await?;
    Ok(rows.into_iter().flatten().collect())
}

/// Revokes a token at `now` unless it already is; returns the row as stored afterwards.
pub async fn revoke_scim_token<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    token_id: TokenId,
    now: i64,
) -> CoreResult<ScimToken> {
    // conditional update: a second revocation keeps the first time (idempotent)
    scim_token::Entity::update_many()
        .col_expr(scim_token::Column::RevokedAt, Expr::value(now))
        .filter(scim_token::Column::Id.eq(token_id.0))
        .filter(scim_token::Column::OrgId.eq(org_id.0))
        .filter(
            scim_token::Column::RevokedAt
                .is_null()
                .or(scim_token::Column::RevokedAt.gt(now)),
        )
        .exec(db)
        .await?;
    get_scim_token(db, org_id, token_id).await
}

/// Moves a token's expiry to `expires_at` if that is earlier; returns the stored row.
pub async fn shorten_scim_token<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    token_id: TokenId,
    expires_at: i64,
) -> CoreResult<ScimToken> {
    scim_token::Entity::update_many()
        .col_expr(scim_token::Column::ExpiresAt, Expr::value(expires_at))
        .filter(scim_token::Column::Id.eq(token_id.0))
        .filter(scim_token::Column::OrgId.eq(org_id.0))
        .filter(scim_token::Column::ExpiresAt.gt(expires_at))
        .exec(db)
        .await?;
    get_scim_token(db, org_id, token_id).await
}

/// Records that a token was used at `now`, unless a use within `min_interval` micros is already
/// recorded (the condition is in the UPDATE, so concurrent uses write at most once).
pub async fn touch_scim_token<C: ConnectionTrait>(
    db: &C,
    token_id: TokenId,
    now: i64,
    min_interval: i64,
) -> CoreResult<()> {
    scim_token::Entity::update_many()
        .col_expr(scim_token::Column::LastUsedAt, Expr::value(now))
        .filter(scim_token::Column::Id.eq(token_id.0))
        .filter(
            scim_token::Column::LastUsedAt
                .is_null()
                .or(scim_token::Column::LastUsedAt.lte(now - min_interval)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// An owner credential as the store hands it out (its secret's hash stays here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerCredential {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    pub description: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub revoked_at: Option<i64>,
}

impl From<owner_credential::Model> for OwnerCredential {
    fn from(row: owner_credential::Model) -> Self {
        Self {
            id: row.id,
            org_id: OrgId(row.org_id),
            description: row.description,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Stores a new owner credential and returns it and its secret.
pub async fn insert_owner_credential<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    description: &str,
    now: i64,
) -> CoreResult<(OwnerCredential, String)> {
    let secret = generate_secret(OWNER_CREDENTIAL_PREFIX);
    let row = owner_credential::ActiveModel {
        id: Set(TokenId::generate().0),
        org_id: Set(org_id.0),
        description: Set(description.to_owned()),
        secret_hash: Set(secret_hash(&secret)),
        created_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((row.into(), secret))
}

/// The unrevoked owner credential whose secret is `secret`, if any.
pub async fn find_active_owner_credential<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> CoreResult<Option<OwnerCredential>> {
    let row = find_by_secret::<owner_credential::Entity, _>(
        db,
        owner_credential::Column::SecretHash,
        secret,
        |row| &row.secret_hash,
    )
    .await?;
    Ok(row
        .filter(|row| row.revoked_at.is_none())
        .map(OwnerCredential::from))
}

/// Revokes an owner credential (idempotent); NOT_FOUND if the organization has no such one.
pub async fn revoke_owner_credential<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    credential_id: TokenId,
    now: i64,
) -> CoreResult<OwnerCredential> {
    owner_credential::Entity::update_many()
        .col_expr(owner_credential::Column::RevokedAt, Expr::value(now))
        .filter(owner_credential::Column::Id.eq(credential_id.0))
        .filter(owner_credential::Column::OrgId.eq(org_id.0))
        .filter(owner_credential::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    owner_credential::Entity::find_by_id(credential_id.0)
        .filter(owner_credential::Column::OrgId.eq(org_id.0))
        .by_key(db)
        .await?
        .map(OwnerCredential::from)
        .ok_or_else(|| CoreError::NotFound {
            reason: ErrorReason::TokenNotFound,
            what: format!("owner credential {credential_id}"),
        })
}

/// How long before its expiry a SCIM token counts as expiring soon (flagged in listings,
/// warned about once, measured by the soonest-expiry gauge).
pub const EXPIRY_WARNING_MICROS: i64 = 30 * 24 * 3_600 * 1_000_000;

/// Whether `token` is active at `now` and expires within [`EXPIRY_WARNING_MICROS`].
pub fn expires_soon(token: &ScimToken, now: i64) -> bool {
    TokenState::of(token, now) == TokenState::Active
        && token.expires_at - now <= EXPIRY_WARNING_MICROS
}

/// The pasted SCIM tokens (not OAuth access tokens, which live an hour) that are active at
/// `now`, expire within [`EXPIRY_WARNING_MICROS`] and were not warned about yet; each is marked
/// warned in the same statement's transaction, so every replica warns about a token once.
pub async fn take_newly_expiring(
    db: &sea_orm::DatabaseConnection,
    now: i64,
) -> CoreResult<Vec<ScimToken>> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let due = scim_token::Entity::find()
        .filter(scim_token::Column::GrantId.is_null())
        .filter(scim_token::Column::RevokedAt.is_null())
        .filter(scim_token::Column::ExpiryWarnedAt.is_null())
        .filter(scim_token::Column::ExpiresAt.gt(now))
        .filter(scim_token::Column::ExpiresAt.lte(now + EXPIRY_WARNING_MICROS))
        .order_by_asc(scim_token::Column::ExpiresAt)
        .limit(1000)
        .all(&txn)
        .await?;
    if !due.is_empty() {
        // only rows still unwarned: a replica that got there first keeps its claim
        let claimed = scim_token::Entity::update_many()
            .col_expr(scim_token::Column::ExpiryWarnedAt, Expr::value(now))
            .filter(scim_token::Column::Id.is_in(due.iter().map(|t| t.id)))
            .filter(scim_token::Column::ExpiryWarnedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != due.len() as u64 {
            txn.rollback().await?;
            return Ok(Vec::new());
        }
    }
    txn.commit().await?;
    Ok(due.into_iter().map(ScimToken::from).collect())
}

/// Per organization, when its soonest active pasted SCIM token expires (µs since the epoch).
pub async fn soonest_expiries(
    db: &sea_orm::DatabaseConnection,
    now: i64,
) -> CoreResult<Vec<(uuid::Uuid, i64)>> {
    Ok(scim_token::Entity::find()
        .select_only()
        .column(scim_token::Column::OrgId)
        .column_as(scim_token::Column::ExpiresAt.min(), "soonest")
        .filter(scim_token::Column::GrantId.is_null())
        .filter(scim_token::Column::RevokedAt.is_null())
        .filter(scim_token::Column::ExpiresAt.gt(now))
        .group_by(scim_token::Column::OrgId)
        .into_tuple::<(uuid::Uuid, i64)>()
        .all(db)
        .await?)
}

/// Rotates `token`: a new token with the old one's description and connection, valid for
/// `validity` µs; the old one is revoked at once (`grace` 0), expires `grace` µs from `now`
/// (never later than it would have), or with `grace` `None` keeps working until it is revoked
/// or reaches its own expiry. Only an active token can be rotated. One transaction,
/// holding the old token's row lock. Returns the new token, its secret and the old token.
pub async fn rotate_scim_token(
    db: &sea_orm::DatabaseConnection,
    org: OrgId,
    token: TokenId,
    validity: i64,
    grace: Option<i64>,
    now: i64,
) -> CoreResult<(ScimToken, String, ScimToken)> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let old = lock_scim_token(&txn, org, token).await?;
    let inactive = match TokenState::of(&old, now) {
        TokenState::Active => None,
        TokenState::Expired => Some((ErrorReason::TokenExpired, "expired")),
        TokenState::Revoked => Some((ErrorReason::TokenRevoked, "revoked")),
    };
    if let Some((reason, state)) = inactive {
        return Err(CoreError::FailedPrecondition {
            reason,
            message: format!("token {token} is {state}, only an active token can be rotated"),
        });
    }
    let (new, secret) = insert_scim_token(
        &txn,
        NewScimToken {
            org_id: org,
            description: &old.description,
            created_at: now,
            expires_at: now + validity,
            rotated_from: Some(token),
            connection_id: old.connection_id,
            grant_id: None,
        },
    )
    .await?;
    // zero grace revokes at once; otherwise the old token expires early, never later
    let previous = match grace {
        Some(0) => revoke_scim_token(&txn, org, token, now).await?,
        Some(grace) => shorten_scim_token(&txn, org, token, now + grace).await?,
        None => old,
    };
    txn.commit().await?;
    Ok((new, secret, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_prefix_and_256_bits() {
        let secret = generate_secret(SCIM_TOKEN_PREFIX);
        assert!(secret.starts_with("idscim_"));
        assert_eq!(secret.len(), "idscim_".len() + 43);
        let raw = URL_SAFE_NO_PAD.decode(&secret["idscim_".len()..]).unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(secret, generate_secret(SCIM_TOKEN_PREFIX));
    }

    #[test]
    fn hashes_are_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hashes_equal(&secret_hash("x"), &secret_hash("x")));
        assert!(!hashes_equal(&secret_hash("x"), &secret_hash("y")));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let cursor = TokenCursor {
            created_at: 1_700_000_000_000_001,
            id: TokenId::generate(),
        };
        assert_eq!(TokenCursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "???", &URL_SAFE_NO_PAD.encode("t1:x:y")] {
            assert!(matches!(
                TokenCursor::decode(bad),
                Err(CoreError::InvalidPageToken)
            ));
        }
    }

    #[test]
    fn revocation_wins_over_expiry() {
        let token = ScimToken {
            id: uuid::Uuid::nil(),
            org_id: OrgId(uuid::Uuid::nil()),
            description: String::new(),
            hint: String::new(),
            created_at: 0,
            expires_at: 100,
            last_used_at: None,
            revoked_at: None,
            rotated_from_token_id: None,
            connection_id: None,
            grant_id: None,
        };
        assert_eq!(TokenState::of(&token, 99), TokenState::Active);
        assert_eq!(TokenState::of(&token, 100), TokenState::Expired);
        let revoked = ScimToken {
            revoked_at: Some(50),
            ..token
        };
        assert_eq!(TokenState::of(&revoked, 49), TokenState::Active);
        assert_eq!(TokenState::of(&revoked, 150), TokenState::Revoked);
    }
}
