//! Memberships: adding and removing members in bounded chunks with the real delta, a user's
//! roles, and the membership checks platform services call on every request.

use super::*;
use crate::entity::{role, role_member, user};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, RoleId, UserId};
use crate::store::ByKey;
use crate::store::changes::{self, NewChange};
use crate::store::org_row;
pub(super) use crate::store::users::HeldRole;
use crate::store::write_txn::WriteTxn;
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Ids in first-seen order without repeats.
pub(super) fn dedupe(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// NOT_FOUND (USER_NOT_FOUND) unless every id is a user of `org`.
pub(super) async fn verify_users(
    txn: &DatabaseTransaction,
    org: OrgId,
    ids: &[Uuid],
) -> CoreResult<()> {
    let mut missing = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let found: HashSet<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::OrgId.eq(org.0))
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple::<Uuid>()
            .all(txn)
            .await?
            .into_iter()
            .collect();
        missing.extend(chunk.iter().filter(|id| !found.contains(id)));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = missing.iter().take(20).map(Uuid::to_string).collect();
    let more = if missing.len() > shown.len() {
        format!(" and {} more", missing.len() - shown.len())
    } else {
        String::new()
    };
    Err(CoreError::NotFound {
        reason: ErrorReason::UserNotFound,
        what: format!("users [{}{more}]", shown.join(", ")),
    })
}

/// Which of `ids` are members of the role.
pub(super) async fn members_among(
    txn: &DatabaseTransaction,
    role_id: Uuid,
    ids: &[Uuid],
) -> CoreResult<HashSet<Uuid>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            role_member::Entity::find()
                .select_only()
                .column(role_member::Column::UserId)
                .filter(role_member::Column::RoleId.eq(role_id))
                .filter(role_member::Column::UserId.is_in(chunk.iter().copied()))
                .into_tuple::<Uuid>()
                .all(txn)
                .await?,
        );
    }
    Ok(out)
}

pub(super) async fn insert_members(
    txn: &DatabaseTransaction,
    org: OrgId,
    role_id: Uuid,
    ids: &[Uuid],
    now: i64,
) -> CoreResult<()> {
    for chunk in ids.chunks(CHUNK) {
        role_member::Entity::insert_many(chunk.iter().map(|id| role_member::ActiveModel {
            role_id: Set(role_id),
            user_id: Set(*id),
            org_id: Set(org.0),
            created_at: Set(now),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

pub(super) async fn delete_members(
    txn: &DatabaseTransaction,
    role_id: Uuid,
    ids: &[Uuid],
) -> CoreResult<()> {
    for chunk in ids.chunks(CHUNK) {
        role_member::Entity::delete_many()
            .filter(role_member::Column::RoleId.eq(role_id))
            .filter(role_member::Column::UserId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Adds one user to a role inside the caller's transaction (the default SCIM role on create).
/// A default role that no longer exists is skipped with a warning rather than failing the create.
pub(crate) async fn add_member_in_txn(
    write: &WriteTxn<'_>,
    role_id: Uuid,
    user_id: Uuid,
) -> CoreResult<()> {
    let org = write.org;
    let change = RoleChange {
        add: vec![user_id],
        ..RoleChange::default()
    };
    // the default role is the organization's choice, not a group the connection pushes
    match apply(
        write,
        RoleId(role_id),
        None,
        change,
        ConnectionScope::Unchecked,
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(CoreError::NotFound {
            reason: ErrorReason::RoleNotFound,
            ..
        }) => {
            tracing::warn!(org_id = %org, role_id = %role_id, "default role does not exist: membership skipped");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Removes a user from every role it holds, inside the caller's transaction (user deletion).
pub(crate) async fn remove_user_everywhere(write: &WriteTxn<'_>, user_id: Uuid) -> CoreResult<()> {
    let (txn, org) = (write.txn, write.org);
    let role_ids: Vec<Uuid> = role_member::Entity::find()
        .select_only()
        .column(role_member::Column::RoleId)
        .filter(role_member::Column::OrgId.eq(org.0))
        .filter(role_member::Column::UserId.eq(user_id))
        .order_by_asc(role_member::Column::RoleId)
        .into_tuple::<Uuid>()
        .all(txn)
        .await?;
    if role_ids.is_empty() {
        return Ok(());
    }
    let now = crate::time::now_micros();
    role_member::Entity::delete_many()
        .filter(role_member::Column::OrgId.eq(org.0))
        .filter(role_member::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    for chunk in role_ids.chunks(CHUNK) {
        role::Entity::update_many()
            .col_expr(
                role::Column::Version,
                Expr::col(role::Column::Version).add(1),
            )
            .col_expr(
                role::Column::MemberCount,
                Expr::col(role::Column::MemberCount).sub(1),
            )
            .col_expr(role::Column::UpdatedAt, Expr::val(now))
            .filter(role::Column::OrgId.eq(org.0))
            .filter(role::Column::Id.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
        let versions = role::Entity::find()
            .select_only()
            .column(role::Column::Id)
            .column(role::Column::Version)
            .filter(role::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(role::Column::Id)
            .into_tuple::<(Uuid, i64)>()
            .all(txn)
            .await?;
        for (role_id, version) in versions {
            changes::append_change(
                write,
                NewChange {
                    resource_type: ResourceType::Role,
                    resource_id: role_id,
                    kind: ChangeKind::MembersRemoved,
                    resource_version: version,
                    member_user_ids: &[user_id],
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// A page of a role's members, ordered by user id.
pub async fn list_members(
    db: &DatabaseConnection,
    org: OrgId,
    role_id: RoleId,
    page_size: u64,
    page_token: &str,
) -> CoreResult<(Vec<Member>, String)> {
    if load_role(db, org, role_id).await?.is_none() {
        return Err(not_found(db, org, role_id).await);
    }
    let hash = id_page_hash(b"members", role_id.0);
    let after = after_from_token(page_token, &hash)?;
    let mut query = role_member::Entity::find()
        .filter(role_member::Column::OrgId.eq(org.0))
        .filter(role_member::Column::RoleId.eq(role_id.0))
        .order_by_asc(role_member::Column::UserId);
    if let Some(after) = after {
        query = query.filter(role_member::Column::UserId.gt(after));
    }
    let mut rows = crate::store::all_limited(db, query, page_size + 1).await?;
    let more = rows.len() as u64 > page_size;
    rows.truncate(page_size as usize);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
    let mut names = crate::store::users::names(db, org, &ids).await?;
    let members = rows
        .into_iter()
        .map(|row| {
            let (user_name, display_name) = names.remove(&row.user_id).unwrap_or_default();
            Member {
                user_id: UserId(row.user_id),
                user_name,
                display_name,
                created_at: row.created_at,
            }
        })
        .collect();
    let next = next_token(more.then(|| ids.last().copied()).flatten(), hash);
    Ok((members, next))
}

/// A page of the roles a user holds, ordered by role id.
pub async fn list_user_roles(
    db: &DatabaseConnection,
    org: OrgId,
    user_id: UserId,
    page_size: u64,
    page_token: &str,
) -> CoreResult<(Vec<Role>, String)> {
    org_row::ensure_org(db, org).await?;
    if !crate::store::users::exists(db, org, user_id.0).await? {
        return Err(CoreError::user_not_found(user_id));
    }
    let hash = id_page_hash(b"user_roles", user_id.0);
    let after = after_from_token(page_token, &hash)?;
    let mut query = role_member::Entity::find()
        .select_only()
        .column(role_member::Column::RoleId)
        .filter(role_member::Column::OrgId.eq(org.0))
        .filter(role_member::Column::UserId.eq(user_id.0))
        .order_by_asc(role_member::Column::RoleId)
        .limit(page_size + 1);
    if let Some(after) = after {
        query = query.filter(role_member::Column::RoleId.gt(after));
    }
    let mut ids = query.into_tuple::<Uuid>().all(db).await?;
    let more = ids.len() as u64 > page_size;
    ids.truncate(page_size as usize);
    let roles = load_roles(db, org, &ids).await?;
    let next = next_token(more.then(|| ids.last().copied()).flatten(), hash);
    Ok((roles, next))
}

/// The roles each of `users` holds, ordered by role id: one statement (a join of the membership
/// and role tables) per chunk of users, whatever the number of roles. Users without roles are
/// absent from the map.
pub async fn roles_of_users<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    users: &[Uuid],
) -> CoreResult<HashMap<Uuid, Vec<HeldRole>>> {
    let mut out: HashMap<Uuid, Vec<HeldRole>> = HashMap::new();
    for chunk in users.chunks(CHUNK) {
        use sea_orm::sea_query::{Order, Query};
        let member = |column: role_member::Column| Expr::col((role_member::Entity, column));
        let owner = crate::store::one_of(member(role_member::Column::UserId), chunk);
        let query = Query::select()
            .column((role_member::Entity, role_member::Column::UserId))
            .column((role_member::Entity, role_member::Column::RoleId))
            .column((role::Entity, role::Column::DisplayName))
            .from(role_member::Entity)
            .inner_join(
                role::Entity,
                Expr::col((role::Entity, role::Column::Id))
                    .equals((role_member::Entity, role_member::Column::RoleId)),
            )
            .and_where(member(role_member::Column::OrgId).eq(org.0))
            .and_where(owner)
            .order_by(
                (role_member::Entity, role_member::Column::UserId),
                Order::Asc,
            )
            .order_by(
                (role_member::Entity, role_member::Column::RoleId),
                Order::Asc,
            )
            .to_owned();
        let mut rows = Vec::new();
        for row in conn.query_all(&query).await? {
            // by position, as selected: user_id, role_id, display_name
            rows.push((
                row.try_get_by_index::<Uuid>(0)?,
                row.try_get_by_index::<Uuid>(1)?,
                row.try_get_by_index::<String>(2)?,
            ));
        }
        for (user_id, role_id, display_name) in rows {
            out.entry(user_id).or_default().push(HeldRole {
                role_id,
                display_name,
            });
        }
    }
    Ok(out)
}

/// Whether the user holds the role; unknown ids simply are not members.
pub async fn check_membership(
    db: &DatabaseConnection,
    org: OrgId,
    role_id: RoleId,
    user_id: UserId,
) -> CoreResult<bool> {
    let member = role_member::Entity::find()
        .select_only()
        .column(role_member::Column::UserId)
        .filter(role_member::Column::OrgId.eq(org.0))
        .filter(role_member::Column::RoleId.eq(role_id.0))
        .filter(role_member::Column::UserId.eq(user_id.0))
        .into_tuple::<Uuid>()
        .by_key(db)
        .await?
        .is_some();
    // a membership row proves its organization exists (it references it): only a "no" needs
    // to tell a missing organization apart, so the common answer is one statement
    if !member {
        org_row::ensure_org(db, org).await?;
    }
    Ok(member)
}

/// How a batch check names its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRef {
    Id(Uuid),
    DisplayName(String),
}

/// Answers each (user, role) check, in order, with two indexed queries whatever the number of
/// checks (at most a page) or the size of the roles: names are resolved through the unique
/// display-name index, memberships through the membership primary key.
pub async fn batch_check_membership(
    db: &DatabaseConnection,
    org: OrgId,
    checks: &[(Uuid, RoleRef)],
) -> CoreResult<Vec<bool>> {
    org_row::ensure_org(db, org).await?;
    let names: Vec<String> = checks
        .iter()
        .filter_map(|(_, role)| match role {
            RoleRef::DisplayName(name) => Some(name.clone()),
            RoleRef::Id(_) => None,
        })
        .collect();
    let by_name: HashMap<String, Uuid> = if names.is_empty() {
        HashMap::new()
    } else {
        role::Entity::find()
            .select_only()
            .column(role::Column::DisplayName)
            .column(role::Column::Id)
            .filter(role::Column::OrgId.eq(org.0))
            .filter(role::Column::DisplayNameLower.is_in(names.iter().map(|n| n.to_lowercase())))
            .into_tuple::<(String, Uuid)>()
            .all(db)
            .await?
            .into_iter()
            // the index is case-insensitive; the check is exact
            .filter(|(name, _)| names.contains(name))
            .collect()
    };
    let resolved: Vec<(Uuid, Option<Uuid>)> = checks
        .iter()
        .map(|(user, role)| {
            let role = match role {
                RoleRef::Id(id) => Some(*id),
                RoleRef::DisplayName(name) => by_name.get(name).copied(),
            };
            (*user, role)
        })
        .collect();
    let users: HashSet<Uuid> = resolved.iter().map(|(u, _)| *u).collect();
    let roles: HashSet<Uuid> = resolved.iter().filter_map(|(_, r)| *r).collect();
    let held: HashSet<(Uuid, Uuid)> = if roles.is_empty() {
        HashSet::new()
    } else {
        role_member::Entity::find()
            .select_only()
            .column(role_member::Column::UserId)
            .column(role_member::Column::RoleId)
            .filter(role_member::Column::OrgId.eq(org.0))
            .filter(role_member::Column::RoleId.is_in(roles))
            .filter(role_member::Column::UserId.is_in(users))
            .into_tuple::<(Uuid, Uuid)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    Ok(resolved
        .into_iter()
        .map(|(user, role)| role.is_some_and(|role| held.contains(&(user, role))))
        .collect())
}

/// The id and display name of every role a user holds (at most `limit`), by role id.
pub(crate) async fn user_role_names<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    user_id: Uuid,
    limit: u64,
) -> CoreResult<Vec<(Uuid, String)>> {
    let ids = role_member::Entity::find()
        .select_only()
        .column(role_member::Column::RoleId)
        .filter(role_member::Column::OrgId.eq(org.0))
        .filter(role_member::Column::UserId.eq(user_id))
        .order_by_asc(role_member::Column::RoleId)
        .limit(limit)
        .into_tuple::<Uuid>()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(role::Entity::find()
        .select_only()
        .column(role::Column::Id)
        .column(role::Column::DisplayName)
        .filter(role::Column::OrgId.eq(org.0))
        .filter(role::Column::Id.is_in(ids))
        .order_by_asc(role::Column::Id)
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?)
}
