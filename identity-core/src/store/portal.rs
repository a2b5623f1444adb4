//! Setup-portal links and their sessions (see `admin.v1.PortalService` and
//! `identity.v1.PortalService`).
//!
//! A link is minted by the platform (admin.v1) and opened once by a browser: opening is one
//! conditional UPDATE that spends the link and stores the new session's hash, so two browsers
//! racing on one link cannot both get a session. Both secrets carry 256 random bits and only
//! their SHA-256 is stored, as for every other credential (`store::credentials`).

use crate::entity::{organization, portal_link};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::credentials::{find_by_secret, generate_secret, secret_hash};
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::time::Duration;

/// Prefix of link tokens.
pub const LINK_PREFIX: &str = "idportal_";
/// Prefix of session tokens.
pub const SESSION_PREFIX: &str = "idpses_";
/// How long a link opens when its minter does not say.
pub const DEFAULT_LINK_VALIDITY: Duration = Duration::from_secs(3600);
/// The shortest and longest validity a minter may ask for.
pub const LINK_VALIDITY_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(7 * 24 * 3600));
/// How long a session lasts from opening (it is not extended by use: a link's holder gets one
/// hour, then asks for a new link).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest label.
pub const MAX_LABEL_CHARS: usize = 200;

/// A live session: what it may act on, and who it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub link_id: uuid::Uuid,
    pub org_id: OrgId,
    pub organization_name: String,
    pub label: String,
    /// Microseconds since the Unix epoch.
    pub expires_at: i64,
}

/// A link as the store hands it out (its secrets' hashes stay here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalLink {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    /// Whom the link was minted for.
    pub label: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub expires_at: i64,
    /// Microseconds since the Unix epoch.
    pub opened_at: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub session_expires_at: Option<i64>,
}

impl From<portal_link::Model> for PortalLink {
    fn from(row: portal_link::Model) -> Self {
        Self {
            id: row.id,
            org_id: OrgId(row.org_id),
            label: row.label,
            created_at: row.created_at,
            expires_at: row.expires_at,
            opened_at: row.opened_at,
            session_expires_at: row.session_expires_at,
        }
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Stores a new link and returns its row and token. The label and validity are checked here:
/// they are the link's only inputs.
pub async fn create_link<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    label: &str,
    validity: Option<Duration>,
    now: i64,
) -> CoreResult<(PortalLink, String)> {
    let label = label.trim();
    if label.is_empty() {
        return Err(CoreError::invalid(
            "label",
            "is required: say whom the link is for",
        ));
    }
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "label",
            format!("must be at most {MAX_LABEL_CHARS} characters, without control characters"),
        ));
    }
    let validity = validity.unwrap_or(DEFAULT_LINK_VALIDITY);
    let (shortest, longest) = LINK_VALIDITY_RANGE;
    if validity < shortest || validity > longest {
        return Err(CoreError::invalid(
            "validity",
            "must be between 1 minute and 7 days",
        ));
    }
    crate::store::org_row::ensure_org(db, org_id).await?;
    let token = generate_secret(LINK_PREFIX);
    let row = portal_link::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        org_id: Set(org_id.0),
        label: Set(label.to_owned()),
        link_hash: Set(secret_hash(&token)),
        created_at: Set(now),
        expires_at: Set(now.saturating_add(micros(validity))),
        opened_at: Set(None),
        session_hash: Set(None),
        session_expires_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((row.into(), token))
}

/// The answer for a link that cannot be opened: unknown, expired and spent are not told apart,
/// so a guesser learns nothing.
fn link_invalid() -> CoreError {
    CoreError::NotFound {
        reason: ErrorReason::PortalLinkInvalid,
        what: "portal link (unknown, expired or already used)".into(),
    }
}

/// Spends the link whose token is `token` and starts its session; returns the session and its
/// token.
pub async fn open<C: ConnectionTrait>(
    db: &C,
    token: &str,
    now: i64,
) -> CoreResult<(Session, String)> {
    if !token.starts_with(LINK_PREFIX) {
        return Err(link_invalid());
    }
    let session_token = generate_secret(SESSION_PREFIX);
    let session_expires_at = now.saturating_add(micros(SESSION_LIFETIME));
    // one statement decides: only an unspent, unexpired link is updated
    let spent = portal_link::Entity::update_many()
        .col_expr(portal_link::Column::OpenedAt, Expr::value(now))
        .col_expr(
            portal_link::Column::SessionHash,
            Expr::value(secret_hash(&session_token)),
        )
        .col_expr(
            portal_link::Column::SessionExpiresAt,
            Expr::value(session_expires_at),
        )
        .filter(portal_link::Column::LinkHash.eq(secret_hash(token)))
        .filter(portal_link::Column::OpenedAt.is_null())
        .filter(portal_link::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if spent.rows_affected != 1 {
        return Err(link_invalid());
    }
    let session = find_session(db, &session_token, now)
        .await?
        .ok_or_else(link_invalid)?;
    tracing::info!(
        target: "audit",
        org_id = %session.org_id,
        portal_link_id = %session.link_id,
        portal_label = %session.label,
        action = "portal.open",
        "setup portal link opened"
    );
    Ok((session, session_token))
}

/// The live session whose token is `token`, if any (and if its organization still exists).
pub async fn find_session<C: ConnectionTrait>(
    db: &C,
    token: &str,
    now: i64,
) -> CoreResult<Option<Session>> {
    if !token.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    let Some(link) = find_by_secret::<portal_link::Entity, _>(
        db,
        portal_link::Column::SessionHash,
        token,
        |row| row.session_hash.as_deref().unwrap_or_default(),
    )
    .await?
    else {
        return Ok(None);
    };
    let Some(expires_at) = link.session_expires_at.filter(|at| *at > now) else {
        return Ok(None);
    };
    let Some(org) = organization::Entity::find_by_id(link.org_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Session {
        link_id: link.id,
        org_id: OrgId(link.org_id),
        organization_name: org.display_name,
        label: link.label,
        expires_at,
    }))
}

/// Ends the live session whose token is `token` at `now` (idempotent: an unknown or ended
/// session stays as it is).
pub async fn close<C: ConnectionTrait>(db: &C, token: &str, now: i64) -> CoreResult<()> {
    let Some(session) = find_session(db, token, now).await? else {
        return Ok(());
    };
    portal_link::Entity::update_many()
        .col_expr(portal_link::Column::SessionExpiresAt, Expr::value(now))
        .filter(portal_link::Column::Id.eq(session.link_id))
        .exec(db)
        .await?;
    tracing::info!(
        target: "audit",
        org_id = %session.org_id,
        portal_link_id = %session.link_id,
        portal_label = %session.label,
        action = "portal.close",
        "setup portal session closed"
    );
    Ok(())
}

/// The organization's newest links, newest first (at most `limit`).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    limit: u64,
) -> CoreResult<Vec<PortalLink>> {
    let rows = portal_link::Entity::find()
        .filter(portal_link::Column::OrgId.eq(org_id.0))
        .order_by_desc(portal_link::Column::CreatedAt)
        .order_by_desc(portal_link::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(PortalLink::from).collect())
}

/// Revokes a link of `org_id` at `now`: it no longer opens and its session ends (idempotent);
/// PORTAL_LINK_INVALID when the organization has no such link.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    org_id: OrgId,
    link_id: uuid::Uuid,
    now: i64,
) -> CoreResult<PortalLink> {
    let in_org = || {
        portal_link::Entity::update_many()
            .filter(portal_link::Column::Id.eq(link_id))
            .filter(portal_link::Column::OrgId.eq(org_id.0))
    };
    in_org()
        .col_expr(portal_link::Column::ExpiresAt, Expr::value(now))
        .filter(portal_link::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    in_org()
        .col_expr(portal_link::Column::SessionExpiresAt, Expr::value(now))
        .filter(portal_link::Column::SessionExpiresAt.gt(now))
        .exec(db)
        .await?;
    let link = portal_link::Entity::find_by_id(link_id)
        .filter(portal_link::Column::OrgId.eq(org_id.0))
        .one(db)
        .await?
        .ok_or_else(link_invalid)?;
    tracing::info!(
        target: "audit",
        org_id = %org_id,
        portal_link_id = %link.id,
        portal_label = %link.label,
        action = "portal.revoke",
        "setup portal link revoked"
    );
    Ok(link.into())
}

/// UNAUTHENTICATED (PORTAL_SESSION_INVALID): the session is unknown or has ended.
pub fn session_invalid() -> CoreError {
    CoreError::Unauthenticated {
        reason: ErrorReason::PortalSessionInvalid,
    }
}
