//! Roles and memberships: every read and write of `identity_role` and `role_member`.
//!
//! Membership changes touch only the rows they change: ids are checked and inserted or deleted in
//! bounded chunks, `member_count` moves by the real delta, and a replace walks the current members
//! page by page instead of loading them at once. Every write runs in one transaction holding the
//! organization's write lock (see `org_writes`) and appends its change-feed rows.

use super::external_id_taken;
use crate::entity::{role, role_member, user};
use crate::error::{CoreError, CoreResult, FieldViolation};
use crate::ids::{OrgId, RoleId, UserId};
use crate::store::ByKey;
use crate::store::changes::{self, NewChange};
use crate::store::connections::GroupScope;
use crate::store::filter::Resource;
use crate::store::org_writes;
use crate::store::paging::{self, ListQuery, PageToken, SortValue};
pub use crate::store::users::HeldRole;
use crate::store::users::{extra_from_text, managed_by_from_db};
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ManagedBy, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;
/// Longest external id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 1024;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Most user ids of one add/remove or of a role's initial members.
pub const MAX_MEMBER_IDS: usize = 10_000;
/// Most user ids of a complete member list.
pub const MAX_REPLACE_IDS: usize = 100_000;
/// Default page of ListRoleMembers.
pub const DEFAULT_MEMBERS_PAGE_SIZE: u64 = 1000;
/// Largest page of ListRoleMembers.
pub const MAX_MEMBERS_PAGE_SIZE: u64 = 10_000;
/// Ids per statement: well under every backend's bind-parameter limit.
const CHUNK: usize = 500;

/// Every writable attribute of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleData {
    pub display_name: String,
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub extra_attributes: Option<Map<String, Value>>,
    pub managed_by: ManagedBy,
}

impl Default for RoleData {
    fn default() -> Self {
        Self {
            display_name: String::new(),
            external_id: None,
            description: None,
            extra_attributes: None,
            managed_by: ManagedBy::Platform,
        }
    }
}

/// A stored role.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: RoleId,
    pub org: OrgId,
    pub data: RoleData,
    pub member_count: i64,
    pub version: i64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
}

/// A member with the user attributes a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub user_name: String,
    pub display_name: Option<String>,
    /// When the membership was created, microseconds since the Unix epoch.
    pub created_at: i64,
}

/// Edits a role's attributes inside the write transaction.
pub type AttributeEdit = Box<dyn FnOnce(&mut RoleData) -> CoreResult<()> + Send>;

/// One atomic change to a role, applied in this order: attributes, replace, remove, add.
#[derive(Default)]
pub struct RoleChange {
    pub attributes: Option<AttributeEdit>,
    pub replace_members: Option<Vec<Uuid>>,
    pub remove: Vec<Uuid>,
    pub add: Vec<Uuid>,
}

impl std::fmt::Debug for RoleChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleChange")
            .field("attributes", &self.attributes.is_some())
            .field(
                "replace_members",
                &self.replace_members.as_ref().map(Vec::len),
            )
            .field("remove", &self.remove.len())
            .field("add", &self.add.len())
            .finish()
    }
}

/// The role after a change and the net membership delta.
#[derive(Debug, Clone)]
pub struct RoleChangeOutcome {
    pub role: Role,
    pub added: i64,
    pub removed: i64,
}

/// Every problem with `data`, field paths prefixed with `prefix` (e.g. `role`).
pub fn validate(data: &RoleData, prefix: &str) -> Vec<FieldViolation> {
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<&str>, max: usize, allow_newlines: bool| {
        let Some(value) = value else { return };
        if value.chars().count() > max {
            errors.push(FieldViolation::new(
                format!("{prefix}.{field}"),
                format!("must be at most {max} characters"),
            ));
        } else if value
            .chars()
            .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
        {
            errors.push(FieldViolation::new(
                format!("{prefix}.{field}"),
                "must not contain control characters",
            ));
        }
    };
    if !data.display_name.trim().is_empty() {
        check(
            "display_name",
            Some(&data.display_name),
            MAX_DISPLAY_NAME_CHARS,
            false,
        );
    }
    check(
        "external_id",
        data.external_id.as_deref(),
        MAX_EXTERNAL_ID_CHARS,
        false,
    );
    check(
        "description",
        data.description.as_deref(),
        MAX_DESCRIPTION_CHARS,
        true,
    );
    if data.display_name.trim().is_empty() {
        errors.push(FieldViolation::new(
            format!("{prefix}.display_name"),
            "is required",
        ));
    }
    if let Some(extra) = &data.extra_attributes {
        let size = serde_json::to_vec(extra)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > crate::store::users::MAX_EXTRA_BYTES {
            errors.push(FieldViolation::new(
                format!("{prefix}.extra_attributes"),
                "is too large",
            ));
        }
    }
    errors
}

fn ensure_valid(data: &RoleData) -> CoreResult<()> {
    let errors = validate(data, "role");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(errors))
    }
}

fn to_domain(row: role::Model) -> Role {
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

fn role_name_taken() -> CoreError {
    CoreError::AlreadyExists {
        reason: ErrorReason::RoleNameTaken,
        message: "role display name is already taken in the organization".into(),
    }
}

fn map_unique(err: DbErr) -> CoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            if message.contains("external_id") {
                external_id_taken()
            } else {
                role_name_taken()
            }
        }
        _ => err.into(),
    }
}

async fn check_unique(
    txn: &DatabaseTransaction,
    org: OrgId,
    data: &RoleData,
    except: Option<Uuid>,
) -> CoreResult<()> {
    let name = data.display_name.to_lowercase();
    if super::taken_in_org(
        txn,
        "identity_role",
        org,
        "display_name_lower",
        name,
        except,
    )
    .await?
    {
        return Err(role_name_taken());
    }
    if let Some(external_id) = &data.external_id
        && super::taken_in_org(
            txn,
            "identity_role",
            org,
            "external_id",
            external_id.clone(),
            except,
        )
        .await?
    {
        return Err(external_id_taken());
    }
    Ok(())
}

fn extra_text(data: &RoleData) -> CoreResult<Option<String>> {
    data.extra_attributes
        .as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::to_string(m).map_err(|e| CoreError::Internal(e.to_string())))
        .transpose()
}

fn stored_managed_by(managed_by: ManagedBy) -> i16 {
    match managed_by {
        ManagedBy::Scim => ManagedBy::Scim as i16,
        ManagedBy::Platform | ManagedBy::Unspecified => ManagedBy::Platform as i16,
    }
}

/// Ids in first-seen order without repeats.
fn dedupe(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// NOT_FOUND (USER_NOT_FOUND) unless every id is a user of `org`.
async fn verify_users(txn: &DatabaseTransaction, org: OrgId, ids: &[Uuid]) -> CoreResult<()> {
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
async fn members_among(
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

async fn insert_members(
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

async fn delete_members(txn: &DatabaseTransaction, role_id: Uuid, ids: &[Uuid]) -> CoreResult<()> {
    for chunk in ids.chunks(CHUNK) {
        role_member::Entity::delete_many()
            .filter(role_member::Column::RoleId.eq(role_id))
            .filter(role_member::Column::UserId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
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

async fn load_role<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: RoleId,
) -> CoreResult<Option<role::Model>> {
    Ok(role::Entity::find_by_id(id.0)
        .filter(role::Column::OrgId.eq(org.0))
        .by_key(conn)
        .await?)
}

async fn not_found<C: ConnectionTrait>(conn: &C, org: OrgId, id: RoleId) -> CoreError {
    match changes::ensure_org(conn, org).await {
        Ok(()) => CoreError::role_not_found(id),
        Err(e) => e,
    }
}

/// Whether a role write must stay inside the acting provisioning connection's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectionScope {
    Checked,
    Unchecked,
}

/// Applies `change` to role `id` inside `txn`. Returns `None` when nothing changed (no version
/// increment, no change-feed row, nothing written).
async fn apply(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: RoleId,
    expected_version: Option<i64>,
    change: RoleChange,
    scope: ConnectionScope,
) -> CoreResult<(Role, Option<(i64, i64)>)> {
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
        ConnectionScope::Checked => GroupScope::of_acting(txn).await?,
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
            check_unique(txn, org, &data, Some(id.0)).await?;
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
                txn,
                org,
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
    org: OrgId,
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
    org_writes::write(db, org, move |txn, _| {
        Box::pin(async move {
            let (role, changed) = apply(
                txn,
                org,
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

/// Adds one user to a role inside the caller's transaction (the default SCIM role on create).
/// A default role that no longer exists is skipped with a warning rather than failing the create.
pub(crate) async fn add_member_in_txn(
    txn: &DatabaseTransaction,
    org: OrgId,
    role_id: Uuid,
    user_id: Uuid,
) -> CoreResult<()> {
    let change = RoleChange {
        add: vec![user_id],
        ..RoleChange::default()
    };
    // the default role is the organization's choice, not a group the connection pushes
    match apply(
        txn,
        org,
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
pub(crate) async fn remove_user_everywhere(
    txn: &DatabaseTransaction,
    org: OrgId,
    user_id: Uuid,
) -> CoreResult<()> {
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
                txn,
                org,
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

/// Creates a role with optional initial members (all must be users of `org`).
pub async fn create_role(
    db: &DatabaseConnection,
    org: OrgId,
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
    org_writes::write(db, org, move |txn, _| {
        Box::pin(async move { create_in(txn, org, data, members).await })
    })
    .await
}

async fn create_in(
    txn: &DatabaseTransaction,
    org: OrgId,
    data: RoleData,
    members: Vec<Uuid>,
) -> CoreResult<Role> {
    GroupScope::of_acting(txn)
        .await?
        .check(&data.display_name)?;
    check_unique(txn, org, &data, None).await?;
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
        txn,
        org,
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
            txn,
            org,
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
    org: OrgId,
    id: RoleId,
    expected_version: Option<i64>,
) -> CoreResult<()> {
    org_writes::write(db, org, move |txn, state| {
        Box::pin(async move { delete_in(txn, org, id, expected_version, state.default_role).await })
    })
    .await
}

async fn delete_in(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: RoleId,
    expected_version: Option<i64>,
    default_role: Option<Uuid>,
) -> CoreResult<()> {
    let current = load_role(txn, org, id)
        .await?
        .ok_or_else(|| CoreError::role_not_found(id))?;
    GroupScope::of_acting(txn)
        .await?
        .check(&current.display_name)?;
    if default_role == Some(id.0) {
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
        txn,
        org,
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

/// One role of `org`.
pub async fn get_role(db: &DatabaseConnection, org: OrgId, id: RoleId) -> CoreResult<Role> {
    match load_role(db, org, id).await? {
        Some(row) => Ok(to_domain(row)),
        None => Err(not_found(db, org, id).await),
    }
}

/// One page of roles.
#[derive(Debug, Clone, Default)]
pub struct RolePage {
    pub roles: Vec<Role>,
    pub next_page_token: String,
    pub total_size: Option<i64>,
}

async fn load_roles<C: ConnectionTrait>(
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
    changes::ensure_org(db, org).await?;
    let page = paging::list_ids(db, Resource::Role, org, query).await?;
    Ok(RolePage {
        roles: load_roles(db, org, &page.ids).await?,
        next_page_token: page.next_page_token,
        total_size: page.total_size,
    })
}

fn id_page_hash(kind: &[u8], owner: Uuid) -> String {
    paging::query_hash(&[kind, owner.as_bytes()])
}

fn after_from_token(token: &str, hash: &str) -> CoreResult<Option<Uuid>> {
    if token.is_empty() {
        return Ok(None);
    }
    let decoded = PageToken::decode(token, hash)?;
    Ok(Some(decoded.id))
}

fn next_token(last: Option<Uuid>, hash: String) -> String {
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
    changes::ensure_org(db, org).await?;
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
        let owner = super::one_of(member(role_member::Column::UserId), chunk);
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
        changes::ensure_org(db, org).await?;
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
    changes::ensure_org(db, org).await?;
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
