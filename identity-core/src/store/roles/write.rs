//! Writing roles: create, modify (attributes and members in one transaction), delete, each
//! inside the organization's write transaction (`org_writes`) with the change feed appended.

use super::*;
use crate::entity::{role, role_member};
use crate::error::{CoreError, CoreResult};
use crate::ids::RoleId;
use crate::store::changes::{self, NewChange};
use crate::store::connections::GroupScope;
use crate::store::org_writes;
use crate::store::write_txn::{WriteContext, WriteTxn};
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ManagedBy, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{BTreeSet, HashSet};
use uuid::Uuid;

pub(super) fn role_name_taken() -> CoreError {
    CoreError::AlreadyExists {
        reason: ErrorReason::RoleNameTaken,
        message: "role display name is already taken in the organization".into(),
    }
}

/// The error for a write a unique index refused.
pub(super) fn map_unique(err: DbErr) -> CoreError {
    crate::store::unique_violation(err, "identity_role", role_name_taken)
}

pub(super) fn extra_text(data: &RoleData) -> CoreResult<Option<String>> {
    data.extra_attributes
        .as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::to_string(m).map_err(|e| CoreError::Internal(e.to_string())))
        .transpose()
}

pub(super) fn stored_managed_by(managed_by: ManagedBy) -> i16 {
    match managed_by {
        ManagedBy::Scim => ManagedBy::Scim as i16,
        ManagedBy::Platform | ManagedBy::Unspecified => ManagedBy::Platform as i16,
    }
}

/// Whether a role write must stay inside the acting provisioning connection's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnectionScope {
    Checked,
    Unchecked,
}

/// Applies `change` to role `id` inside `txn`. Returns `None` when nothing changed (no version
/// increment, no change-feed row, nothing written).
pub(super) async fn apply(
    write: &WriteTxn<'_>,
    id: RoleId,
    expected_version: Option<i64>,
    change: RoleChange,
    scope: ConnectionScope,
) -> CoreResult<(Role, Option<(i64, i64)>)> {
    let (txn, org) = (write.txn, write.org);
    let current = load_role(txn, org, id)
        .await?
        .ok_or_else(|| CoreError::role_not_found(id))?;
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(CoreError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    let now = crate::time::now_micros();
    let current = to_domain(current);
    // read once: a rename checks the old and the new name against the same list
    let groups = match scope {
        ConnectionScope::Checked => GroupScope::of(write).await?,
        ConnectionScope::Unchecked => GroupScope::Any,
    };
    groups.check(&current.data.display_name)?;
    let mut data = current.data.clone();
    let attrs_changed = match change.attributes {
        Some(edit) => {
            edit(&mut data)?;
            if data.managed_by == ManagedBy::Unspecified {
                data.managed_by = current.data.managed_by;
            }
            ensure_valid(&data)?;
            groups.check(&data.display_name)?;
            true
        }
        None => false,
    };

    let mut delta = Delta::default();
    if let Some(new_members) = change.replace_members {
        let wanted = dedupe(&new_members);
        verify_users(txn, org, &wanted).await?;
        let wanted_set: HashSet<Uuid> = wanted.iter().copied().collect();
        // walk the current members in user-id order, a page at a time
        let mut to_remove = Vec::new();
        let mut after: Option<Uuid> = None;
        loop {
            let mut page = role_member::Entity::find()
                .select_only()
                .column(role_member::Column::UserId)
                .filter(role_member::Column::RoleId.eq(id.0))
                .order_by_asc(role_member::Column::UserId)
                .limit(CHUNK as u64 * 2);
            if let Some(after) = after {
                page = page.filter(role_member::Column::UserId.gt(after));
            }
            let ids = page.into_tuple::<Uuid>().all(txn).await?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            to_remove.extend(ids.into_iter().filter(|id| !wanted_set.contains(id)));
            after = Some(last);
        }
        let present = members_among(txn, id.0, &wanted).await?;
        let to_add: Vec<Uuid> = wanted
            .into_iter()
            .filter(|id| !present.contains(id))
            .collect();
        delete_members(txn, id.0, &to_remove).await?;
        insert_members(txn, org, id.0, &to_add, now).await?;
        to_remove.into_iter().for_each(|u| delta.remove(u));
        to_add.into_iter().for_each(|u| delta.add(u));
    }
    if !change.remove.is_empty() {
        let ids = dedupe(&change.remove);
        let present = members_among(txn, id.0, &ids).await?;
        let gone: Vec<Uuid> = ids.into_iter().filter(|u| present.contains(u)).collect();
        delete_members(txn, id.0, &gone).await?;
        gone.into_iter().for_each(|u| delta.remove(u));
    }
    if !change.add.is_empty() {
        let ids = dedupe(&change.add);
        verify_users(txn, org, &ids).await?;
        let present = members_among(txn, id.0, &ids).await?;
        let new: Vec<Uuid> = ids.into_iter().filter(|u| !present.contains(u)).collect();
        insert_members(txn, org, id.0, &new, now).await?;
        new.into_iter().for_each(|u| delta.add(u));
    }

    if !attrs_changed && delta.added.is_empty() && delta.removed.is_empty() {
        return Ok((current, None));
    }
    let added = delta.added.len() as i64;
    let removed = delta.removed.len() as i64;
    let mut update = role::Entity::update_many()
        .col_expr(
            role::Column::Version,
            Expr::col(role::Column::Version).add(1),
        )
        .col_expr(
            role::Column::MemberCount,
            Expr::col(role::Column::MemberCount).add(added - removed),
        )
        .col_expr(role::Column::UpdatedAt, Expr::val(now))
        .filter(role::Column::Id.eq(id.0))
        .filter(role::Column::OrgId.eq(org.0));
    if attrs_changed {
        update = update
            .col_expr(
                role::Column::DisplayName,
                Expr::val(data.display_name.clone()),
            )
            .col_expr(
                role::Column::DisplayNameLower,
                Expr::val(data.display_name.to_lowercase()),
            )
            .col_expr(
                role::Column::ExternalId,
                Expr::val(data.external_id.clone()),
            )
            .col_expr(
                role::Column::Description,
                Expr::val(data.description.clone()),
            )
            .col_expr(role::Column::ExtraAttributes, Expr::val(extra_text(&data)?))
            .col_expr(
                role::Column::ManagedBy,
                Expr::val(stored_managed_by(data.managed_by)),
            );
    }
    if let Some(expected) = expected_version {
        update = update.filter(role::Column::Version.eq(expected));
    }
    if update.exec(txn).await.map_err(map_unique)?.rows_affected == 0 {
        return Err(CoreError::VersionMismatch {
            expected: expected_version.unwrap_or(current.version),
            actual: current.version + 1,
        });
    }
    let role = load_role(txn, org, id)
        .await?
        .map(to_domain)
        .ok_or_else(|| CoreError::role_not_found(id))?;
    let record = |kind, members: Vec<Uuid>| {
        let role_version = role.version;
        async move {
            changes::append_change(
                write,
                NewChange {
                    resource_type: ResourceType::Role,
                    resource_id: id.0,
                    kind,
                    resource_version: role_version,
                    member_user_ids: &members,
                },
            )
            .await
        }
    };
    if attrs_changed {
        let kind = if role.data.display_name == current.data.display_name {
            ChangeKind::Updated
        } else {
            ChangeKind::Renamed
        };
        record(kind, Vec::new()).await?;
    }
    if !delta.removed.is_empty() {
        record(
            ChangeKind::MembersRemoved,
            delta.removed.into_iter().collect(),
        )
        .await?;
    }
    if !delta.added.is_empty() {
        record(ChangeKind::MembersAdded, delta.added.into_iter().collect()).await?;
    }
    Ok((role, Some((added, removed))))
}

/// Applies one atomic change to a role (attributes and/or memberships): one version increment,
/// nothing written when nothing changes.
pub async fn modify_role(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    id: RoleId,
    expected_version: Option<i64>,
    change: RoleChange,
) -> CoreResult<RoleChangeOutcome> {
    if change.add.len() > MAX_MEMBER_IDS || change.remove.len() > MAX_MEMBER_IDS {
        return Err(CoreError::invalid(
            "user_ids",
            format!("must have at most {MAX_MEMBER_IDS} ids"),
        ));
    }
    if change
        .replace_members
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_REPLACE_IDS)
    {
        return Err(CoreError::invalid(
            "user_ids",
            format!("must have at most {MAX_REPLACE_IDS} ids"),
        ));
    }
    org_writes::write(db, context, move |write| {
        Box::pin(async move {
            let (role, changed) = apply(
                write,
                id,
                expected_version,
                change,
                ConnectionScope::Checked,
            )
            .await?;
            let (added, removed) = changed.unwrap_or_default();
            Ok(RoleChangeOutcome {
                role,
                added,
                removed,
            })
        })
    })
    .await
}

/// Creates a role with optional initial members (all must be users of `org`).
pub async fn create_role(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    mut data: RoleData,
    members: &[Uuid],
) -> CoreResult<Role> {
    if data.managed_by == ManagedBy::Unspecified {
        data.managed_by = ManagedBy::Platform;
    }
    ensure_valid(&data)?;
    if members.len() > MAX_MEMBER_IDS {
        return Err(CoreError::invalid(
            "member_user_ids",
            format!("must have at most {MAX_MEMBER_IDS} ids"),
        ));
    }
    let members = dedupe(members);
    org_writes::write(db, context, move |write| {
        Box::pin(async move { create_in(write, data, members).await })
    })
    .await
}

pub(super) async fn create_in(
    write: &WriteTxn<'_>,
    data: RoleData,
    members: Vec<Uuid>,
) -> CoreResult<Role> {
    let (txn, org) = (write.txn, write.org);
    GroupScope::of(write).await?.check(&data.display_name)?;
    verify_users(txn, org, &members).await?;
    let id = RoleId::generate();
    let now = crate::time::now_micros();
    role::Entity::insert(role::ActiveModel {
        id: Set(id.0),
        org_id: Set(org.0),
        display_name: Set(data.display_name.clone()),
        display_name_lower: Set(data.display_name.to_lowercase()),
        external_id: Set(data.external_id.clone()),
        description: Set(data.description.clone()),
        extra_attributes: Set(extra_text(&data)?),
        member_count: Set(members.len() as i64),
        managed_by: Set(stored_managed_by(data.managed_by)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(txn)
    .await
    .map_err(map_unique)?;
    insert_members(txn, org, id.0, &members, now).await?;
    changes::append_change(
        write,
        NewChange {
            resource_type: ResourceType::Role,
            resource_id: id.0,
            kind: ChangeKind::Created,
            resource_version: 1,
            member_user_ids: &[],
        },
    )
    .await?;
    if !members.is_empty() {
        let mut sorted = members.clone();
        sorted.sort();
        changes::append_change(
            write,
            NewChange {
                resource_type: ResourceType::Role,
                resource_id: id.0,
                kind: ChangeKind::MembersAdded,
                resource_version: 1,
                member_user_ids: &sorted,
            },
        )
        .await?;
    }
    let role = load_role(txn, org, id)
        .await?
        .map(to_domain)
        .ok_or_else(|| CoreError::Internal("created role vanished".into()))?;
    Ok(role)
}

/// Deletes a role and its memberships; the organization's default SCIM role cannot be deleted.
pub async fn delete_role(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    id: RoleId,
    expected_version: Option<i64>,
) -> CoreResult<()> {
    org_writes::write(db, context, move |write| {
        Box::pin(async move { delete_in(write, id, expected_version).await })
    })
    .await
}

pub(super) async fn delete_in(
    write: &WriteTxn<'_>,
    id: RoleId,
    expected_version: Option<i64>,
) -> CoreResult<()> {
    let (txn, org) = (write.txn, write.org);
    let current = load_role(txn, org, id)
        .await?
        .ok_or_else(|| CoreError::role_not_found(id))?;
    GroupScope::of(write).await?.check(&current.display_name)?;
    if write.default_role == Some(id.0) {
        return Err(CoreError::FailedPrecondition {
            reason: ErrorReason::RoleIsDefault,
            message: "the role is the organization's default scim role".into(),
        });
    }
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(CoreError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    role_member::Entity::delete_many()
        .filter(role_member::Column::RoleId.eq(id.0))
        .exec(txn)
        .await?;
    let mut delete = role::Entity::delete_many()
        .filter(role::Column::Id.eq(id.0))
        .filter(role::Column::OrgId.eq(org.0));
    if let Some(expected) = expected_version {
        delete = delete.filter(role::Column::Version.eq(expected));
    }
    if delete.exec(txn).await?.rows_affected == 0 {
        return Err(CoreError::VersionMismatch {
            expected: expected_version.unwrap_or(current.version),
            actual: current.version,
        });
    }
    changes::append_change(
        write,
        NewChange {
            resource_type: ResourceType::Role,
            resource_id: id.0,
            kind: ChangeKind::Deleted,
            resource_version: 0,
            member_user_ids: &[],
        },
    )
    .await?;
    Ok(())
}

/// Net membership delta of a multi-step change: a user removed then re-added nets to nothing.
#[derive(Default)]
struct Delta {
    added: BTreeSet<Uuid>,
    removed: BTreeSet<Uuid>,
}

impl Delta {
    fn add(&mut self, id: Uuid) {
        if !self.removed.remove(&id) {
            self.added.insert(id);
        }
    }

    fn remove(&mut self, id: Uuid) {
        if !self.added.remove(&id) {
            self.removed.insert(id);
        }
    }
}
