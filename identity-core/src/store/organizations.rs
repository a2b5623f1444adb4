//! Organizations: creating them, reading them by id or slug, listing them by slug, and their
//! SCIM settings (enabled flag, default role, and releasing SCIM-managed identities on
//! disable).
//!
//! Slug syntax and the other admin rules are checked by the caller (`admin_backend`); this
//! module only turns them into statements and storage failures into [`CoreError`]s.

use crate::entity::organization;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, RoleId};
use crate::store::ByKey;
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ManagedBy, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};

/// An organization as the store hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub slug: String,
    pub display_name: String,
    pub scim_enabled: bool,
    pub default_role_id: Option<uuid::Uuid>,
    /// Microseconds since the Unix epoch: when SCIM was last turned on or off.
    pub scim_updated_at: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Overrides of the SCIM edge's rate limits.
    pub rate_limits: RateLimits,
    /// Verified email domains, lowercase (see `domain::verified_domains`).
    pub verified_domains: Vec<String>,
}

impl From<organization::Model> for Organization {
    fn from(row: organization::Model) -> Self {
        Self {
            id: OrgId(row.id),
            rate_limits: RateLimits::of(&row),
            verified_domains: crate::domain::verified_domains::from_stored(&row.verified_domains),
            slug: row.slug,
            display_name: row.display_name,
            scim_enabled: row.scim_enabled,
            default_role_id: row.default_role_id,
            scim_updated_at: row.scim_updated_at,
            created_at: row.created_at,
        }
    }
}

/// Inserts an organization; ALREADY_EXISTS (ORGANIZATION_SLUG_TAKEN) if the slug is taken.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    id: OrgId,
    slug: &str,
    display_name: &str,
    now: i64,
) -> CoreResult<Organization> {
    let row = organization::ActiveModel {
        id: Set(id.0),
        slug: Set(slug.to_owned()),
        display_name: Set(display_name.to_owned()),
        scim_enabled: Set(false),
        default_role_id: Set(None),
        scim_updated_at: Set(None),
        change_seq: Set(0),
        created_at: Set(now),
        rate_limit_per_second: Set(0),
        rate_limit_burst: Set(0),
        rate_limit_concurrency: Set(0),
        verified_domains: Set(String::new()),
    };
    match row.insert(db).await {
        Ok(row) => Ok(row.into()),
        // the unique index decides, so two concurrent creates cannot both succeed
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(CoreError::AlreadyExists {
                reason: ErrorReason::OrganizationSlugTaken,
                message: format!("organization slug {slug} is taken"),
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// The organization with this id, or ORGANIZATION_NOT_FOUND.
pub async fn get<C: ConnectionTrait>(db: &C, id: OrgId) -> CoreResult<Organization> {
    get_row(db, id).await.map(Organization::from)
}

async fn get_row<C: ConnectionTrait>(db: &C, id: OrgId) -> CoreResult<organization::Model> {
    organization::Entity::find_by_id(id.0)
        .by_key(db)
        .await?
        .ok_or_else(|| CoreError::organization_not_found(id))
}

/// The organization with this slug, or ORGANIZATION_NOT_FOUND.
pub async fn get_by_slug<C: ConnectionTrait>(db: &C, slug: &str) -> CoreResult<Organization> {
    organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(db)
        .await?
        .map(Organization::from)
        .ok_or_else(|| CoreError::organization_not_found(slug))
}

/// The opaque page token of the slug listing: the last slug returned.
pub fn encode_slug_cursor(slug: &str) -> String {
    super::encode_key_cursor("o1", slug)
}

/// Parses a page token produced by [`encode_slug_cursor`].
pub fn decode_slug_cursor(token: &str) -> CoreResult<String> {
    super::decode_key_cursor("o1", token)
}

/// A page of organizations ordered by slug after `after`, restricted to `only` when set, and
/// the last slug if another page follows.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    only: Option<OrgId>,
    page_size: u64,
) -> CoreResult<(Vec<Organization>, Option<String>)> {
    let mut query = organization::Entity::find();
    if let Some(after) = after {
        query = query.filter(organization::Column::Slug.gt(after));
    }
    if let Some(only) = only {
        query = query.filter(organization::Column::Id.eq(only.0));
    }
    let mut rows = query
        .order_by_asc(organization::Column::Slug)
        .limit(page_size + 1)
        .all(db)
        .await?;
    let next = if rows.len() as u64 > page_size {
        rows.truncate(page_size as usize);
        rows.last().map(|row| row.slug.clone())
    } else {
        None
    };
    Ok((rows.into_iter().map(Organization::from).collect(), next))
}

/// The SCIM settings to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUpdate {
    /// New enabled flag; `None` keeps it.
    pub enabled: Option<bool>,
    /// New default role; `None` keeps it, `Some(None)` clears it.
    pub default_role: Option<Option<RoleId>>,
    /// New rate-limit overrides; `None` keeps them.
    pub rate_limits: Option<RateLimits>,
    /// New verified domains; `None` keeps them.
    pub verified_domains: Option<DomainsChange>,
}

/// A new list of verified domains (lowercase, distinct) and whether it may add any: only the
/// platform's administrator may, an owner may only remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainsChange {
    pub domains: Vec<String>,
    pub may_add: bool,
}

/// An organization's overrides of the SCIM edge's rate limits; 0 keeps the edge's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub per_second: u32,
    pub burst: u32,
    pub concurrency: u32,
}

impl RateLimits {
    /// The largest value accepted in any field: far above any identity provider's pace, low
    /// enough that a typo cannot switch limiting off in effect.
    pub const MAX_VALUE: u32 = 100_000;

    /// INVALID_ARGUMENT for a value above [`Self::MAX_VALUE`].
    pub fn validate(&self) -> CoreResult<()> {
        let mut violations = Vec::new();
        for (field, value) in [
            ("rate_limits.requests_per_second", self.per_second),
            ("rate_limits.burst", self.burst),
            ("rate_limits.max_concurrent_requests", self.concurrency),
        ] {
            if value > Self::MAX_VALUE {
                violations.push(crate::error::FieldViolation::new(
                    field,
                    format!("must be at most {}", Self::MAX_VALUE),
                ));
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(CoreError::InvalidArgument(violations))
        }
    }

    /// The overrides stored on `row`.
    fn of(row: &organization::Model) -> Self {
        let stored = |value: i32| u32::try_from(value).unwrap_or(0);
        Self {
            per_second: stored(row.rate_limit_per_second),
            burst: stored(row.rate_limit_burst),
            concurrency: stored(row.rate_limit_concurrency),
        }
    }
}

/// Writes SCIM settings; `scim_updated_at` moves only when the enabled flag is written.
pub async fn update_scim<C: ConnectionTrait>(
    db: &C,
    id: OrgId,
    update: ScimUpdate,
    now: i64,
) -> CoreResult<Organization> {
    let current = get_row(db, id).await?;
    let current_domains = current.verified_domains.clone();
    let mut row: organization::ActiveModel = current.into();
    if let Some(enabled) = update.enabled {
        row.scim_enabled = Set(enabled);
        row.scim_updated_at = Set(Some(now));
    }
    if let Some(role) = update.default_role {
        row.default_role_id = Set(role.map(|r| r.0));
    }
    if let Some(change) = update.verified_domains {
        let current = crate::domain::verified_domains::from_stored(&current_domains);
        if !change.may_add
            && let Some(added) = change.domains.iter().find(|d| !current.contains(d))
        {
            return Err(CoreError::permission_denied(format!(
                "only the platform's administrator may add a verified domain ({added}): it \
                 must first check that the organization owns it"
            )));
        }
        row.verified_domains = Set(crate::domain::verified_domains::to_stored(&change.domains));
    }
    if let Some(limits) = update.rate_limits {
        limits.validate()?;
        // validated: each value fits an i32
        let stored = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
        row.rate_limit_per_second = Set(stored(limits.per_second));
        row.rate_limit_burst = Set(stored(limits.burst));
        row.rate_limit_concurrency = Set(stored(limits.concurrency));
    }
    Ok(row.update(db).await?.into())
}

/// Whether the organization has this role (the roles table belongs to the roles store; it is
/// addressed by name here so this module does not depend on that entity).
pub async fn role_exists<C: ConnectionTrait>(db: &C, org: OrgId, role: RoleId) -> CoreResult<bool> {
    super::taken_in_org(db, "identity_role", org, "id", role.0, None).await
}

/// Makes every SCIM-managed user and role of the organization platform-managed: when SCIM is
/// disabled the identities stay, but the identity provider no longer owns them. Each one gets a
/// new version and an UPDATED change, so feed consumers see the hand-over. Works in batches of
/// ids (each batch leaves the SCIM-managed set, so the next read finds the next batch) and never
/// holds a whole table in memory. Returns how many users and roles changed.
pub async fn release_scim_managed(
    txn: &sea_orm::DatabaseTransaction,
    org: OrgId,
) -> CoreResult<(u64, u64)> {
    const BATCH: u64 = 500;
    let write = super::write_txn::WriteTxn::alone(txn, org);
    let now = crate::time::now_micros();
    let mut changed = [0_u64; 2];
    let kinds = [
        ("identity_user", ResourceType::User),
        ("identity_role", ResourceType::Role),
    ];
    for (slot, (table, resource_type)) in changed.iter_mut().zip(kinds) {
        loop {
            let select = Query::select()
                .columns(["id", "version"])
                .from(table)
                .and_where(Expr::col("org_id").eq(org.0))
                .and_where(Expr::col("managed_by").eq(ManagedBy::Scim as i16))
                .order_by("id", sea_orm::sea_query::Order::Asc)
                .limit(BATCH)
                .to_owned();
            let rows = txn.query_all(&select).await?;
            if rows.is_empty() {
                break;
            }
            let mut batch = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: uuid::Uuid = row.try_get("", "id")?;
                let version: i64 = row.try_get("", "version")?;
                batch.push((id, version + 1));
            }
            let update = Query::update()
                .table(table)
                .value("managed_by", ManagedBy::Platform as i16)
                .value("version", Expr::col("version").add(1))
                .value("updated_at", now)
                .and_where(Expr::col("org_id").eq(org.0))
                .and_where(Expr::col("id").is_in(batch.iter().map(|(id, _)| *id)))
                .to_owned();
            txn.execute(&update).await?;
            for (id, version) in &batch {
                super::changes::append_change(
                    &write,
                    super::changes::NewChange {
                        resource_type,
                        resource_id: *id,
                        kind: ChangeKind::Updated,
                        resource_version: *version,
                        member_user_ids: &[],
                    },
                )
                .await?;
            }
            *slot += batch.len() as u64;
        }
    }
    Ok((changed[0], changed[1]))
}

/// Creates an organization and its first owner credential in one transaction: an organization
/// never exists without one. Returns the organization, the credential and its secret (shown
/// once).
pub async fn create_with_owner(
    db: &sea_orm::DatabaseConnection,
    id: OrgId,
    slug: &str,
    display_name: &str,
    now: i64,
) -> CoreResult<(
    Organization,
    crate::store::credentials::OwnerCredential,
    String,
)> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let row = insert(&txn, id, slug, display_name, now).await?;
    let (credential, secret) = crate::store::credentials::insert_owner_credential(
        &txn,
        id,
        "initial owner credential",
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((row, credential, secret))
}

/// Applies `update` to the organization's SCIM settings; turning SCIM off also releases every
/// SCIM-managed user and role to the platform, in the same transaction (the released counts).
pub async fn change_scim_settings(
    db: &sea_orm::DatabaseConnection,
    id: OrgId,
    update: ScimUpdate,
    now: i64,
) -> CoreResult<(Organization, Option<(u64, u64)>)> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let disabling = update.enabled == Some(false);
    let row = update_scim(&txn, id, update, now).await?;
    let released = if disabling {
        Some(release_scim_managed(&txn, id).await?)
    } else {
        None
    };
    txn.commit().await?;
    Ok((row, released))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn slug_cursors_round_trip_and_garbage_is_rejected() {
        assert_eq!(
            decode_slug_cursor(&encode_slug_cursor("acme-1")).unwrap(),
            "acme-1"
        );
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("x:acme"),
            &URL_SAFE_NO_PAD.encode("o1:"),
        ] {
            assert!(matches!(
                decode_slug_cursor(bad),
                Err(CoreError::InvalidPageToken)
            ));
        }
    }
}
