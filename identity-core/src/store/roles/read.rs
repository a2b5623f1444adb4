//! Reading roles: one role, a page of roles.

use super::*;
use crate::entity::role;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, RoleId};
use crate::store::ByKey;
use crate::store::filter::Resource;
use crate::store::org_row;
use crate::store::paging::{self, ListQuery, PageToken};
use crate::store::sort::{self, SortValue};
use crate::store::users::{extra_from_text, managed_by_from_db};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

pub(super) fn to_domain(row: role::Model) -> Role {
    Role {
        id: RoleId(row.id),
        org: OrgId(row.org_id),
        member_count: row.member_count,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        data: RoleData {
            extra_attributes: extra_from_text(row.extra_attributes.as_deref(), row.id),
            display_name: row.display_name,
            external_id: row.external_id,
            description: row.description,
            managed_by: managed_by_from_db(row.managed_by),
        },
    }
}

pub(super) async fn load_role<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: RoleId,
) -> CoreResult<Option<role::Model>> {
    Ok(role::Entity::find_by_id(id.0)
        .filter(role::Column::OrgId.eq(org.0))
        .by_key(conn)
        .await?)
}

pub(super) async fn not_found<C: ConnectionTrait>(conn: &C, org: OrgId, id: RoleId) -> CoreError {
    match org_row::ensure_org(conn, org).await {
        Ok(()) => CoreError::role_not_found(id),
        Err(e) => e,
    }
}

/// One role of `org`.
pub async fn get_role(db: &DatabaseConnection, org: OrgId, id: RoleId) -> CoreResult<Role> {
    match load_role(db, org, id).await? {
        Some(row) => Ok(to_domain(row)),
        None => Err(not_found(db, org, id).await),
    }
}

/// The role of `org` that an owner names: the one with id `id` when there is one, else the one
/// named `name` (without regard to case, as names are unique).
pub async fn find_role(
    db: &DatabaseConnection,
    org: OrgId,
    id: Option<RoleId>,
    name: &str,
) -> CoreResult<Option<Role>> {
    if let Some(id) = id
        && let Some(row) = load_role(db, org, id).await?
    {
        return Ok(Some(to_domain(row)));
    }
    Ok(role::Entity::find()
        .filter(role::Column::OrgId.eq(org.0))
        .filter(role::Column::DisplayNameLower.eq(name.to_lowercase()))
        .by_key(db)
        .await?
        .map(to_domain))
}

/// Up to `limit` roles of `org` in name order (without regard to case), after the lowercase
/// name `after`: the unique `(org_id, display_name_lower)` index is the key, so a page costs the
/// same wherever it starts.
pub async fn list_by_name(
    db: &DatabaseConnection,
    org: OrgId,
    after: Option<&str>,
    limit: u64,
) -> CoreResult<Vec<Role>> {
    org_row::ensure_org(db, org).await?;
    let mut select = role::Entity::find()
        .filter(role::Column::OrgId.eq(org.0))
        .order_by_asc(role::Column::DisplayNameLower)
        .limit(limit);
    if let Some(after) = after {
        select = select.filter(role::Column::DisplayNameLower.gt(after));
    }
    Ok(select.all(db).await?.into_iter().map(to_domain).collect())
}

/// One page of roles.
#[derive(Debug, Clone, Default)]
pub struct RolePage {
    pub roles: Vec<Role>,
    pub next_page_token: String,
    pub total_size: Option<i64>,
}

pub(super) async fn load_roles<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    ids: &[Uuid],
) -> CoreResult<Vec<Role>> {
    let mut found: HashMap<Uuid, role::Model> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        for row in role::Entity::find()
            .filter(role::Column::OrgId.eq(org.0))
            .filter(role::Column::Id.is_in(chunk.iter().copied()))
            .all(conn)
            .await?
        {
            found.insert(row.id, row);
        }
    }
    Ok(ids
        .iter()
        .filter_map(|id| found.remove(id).map(to_domain))
        .collect())
}

/// Lists roles matching the query's filter, sorted and paged.
pub async fn list_roles(
    db: &DatabaseConnection,
    org: OrgId,
    query: &ListQuery,
) -> CoreResult<RolePage> {
    org_row::ensure_org(db, org).await?;
    let page = paging::list_ids(db, Resource::Role, org, query).await?;
    Ok(RolePage {
        roles: load_roles(db, org, &page.ids).await?,
        next_page_token: page.next_page_token,
        total_size: page.total_size,
    })
}

pub(super) fn id_page_hash(kind: &[u8], owner: Uuid) -> String {
    sort::hash_parts(&[kind, owner.as_bytes()])
}

pub(super) fn after_from_token(token: &str, hash: &str) -> CoreResult<Option<Uuid>> {
    if token.is_empty() {
        return Ok(None);
    }
    let decoded = PageToken::decode(token, hash)?;
    Ok(Some(decoded.id))
}

pub(super) fn next_token(last: Option<Uuid>, hash: String) -> String {
    last.map(|id| {
        PageToken {
            key: SortValue::Uuid(id),
            id,
            query: hash,
        }
        .encode()
    })
    .unwrap_or_default()
}
