//! Writing users: create, update, delete inside the organization's write transaction
//! (`org_writes`), with the unique indexes deciding uniqueness and the change feed appended.

use super::*;
use crate::entity::{user, user_email, user_phone};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, UserId};
use crate::store::ByKey;
use crate::store::changes::{self, NewChange};
use crate::store::write_txn::{WriteContext, WriteTxn};
use crate::store::{access_tokens, org_writes, roles};
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ManagedBy, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// rows <-> domain

pub(super) fn extra_to_text(extra: &Option<Map<String, Value>>) -> CoreResult<Option<String>> {
    extra
        .as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::to_string(m).map_err(|e| CoreError::Internal(e.to_string())))
        .transpose()
}

pub(super) fn active_model(
    id: Uuid,
    org: OrgId,
    data: &UserData,
    now: i64,
) -> CoreResult<user::ActiveModel> {
    let n = &data.name;
    let e = &data.enterprise;
    Ok(user::ActiveModel {
        id: Set(id),
        org_id: Set(org.0),
        user_name: Set(data.user_name.clone()),
        user_name_lower: Set(data.user_name.to_lowercase()),
        external_id: Set(data.external_id.clone()),
        display_name: Set(data.display_name.clone()),
        name_formatted: Set(n.formatted.clone()),
        name_family_name: Set(n.family_name.clone()),
        name_given_name: Set(n.given_name.clone()),
        name_middle_name: Set(n.middle_name.clone()),
        name_honorific_prefix: Set(n.honorific_prefix.clone()),
        name_honorific_suffix: Set(n.honorific_suffix.clone()),
        nick_name: Set(data.nick_name.clone()),
        title: Set(data.title.clone()),
        user_type: Set(data.user_type.clone()),
        preferred_language: Set(data.preferred_language.clone()),
        locale: Set(data.locale.clone()),
        timezone: Set(data.timezone.clone()),
        active: Set(data.active),
        employee_number: Set(e.employee_number.clone()),
        cost_center: Set(e.cost_center.clone()),
        enterprise_organization: Set(e.organization.clone()),
        division: Set(e.division.clone()),
        department: Set(e.department.clone()),
        manager_id: Set(e.manager_id.clone()),
        manager_display_name: Set(e.manager_display_name.clone()),
        extra_attributes: Set(extra_to_text(&data.extra_attributes)?),
        managed_by: Set(stored_managed_by(data.managed_by)),
        updated_at: Set(now),
        ..Default::default()
    })
}

pub(super) fn stored_managed_by(managed_by: ManagedBy) -> i16 {
    match managed_by {
        ManagedBy::Scim => ManagedBy::Scim as i16,
        ManagedBy::Platform | ManagedBy::Unspecified => ManagedBy::Platform as i16,
    }
}

pub(super) fn contact_from(
    value: String,
    value_type: Option<String>,
    primary: bool,
    display: Option<String>,
) -> Contact {
    Contact {
        value,
        value_type,
        primary,
        display,
    }
}

/// Replaces a user's emails and phone numbers.
pub(super) async fn write_contacts(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: Uuid,
    data: &UserData,
) -> CoreResult<()> {
    user_email::Entity::delete_many()
        .filter(user_email::Column::UserId.eq(id))
        .exec(txn)
        .await?;
    user_phone::Entity::delete_many()
        .filter(user_phone::Column::UserId.eq(id))
        .exec(txn)
        .await?;
    insert_contacts(txn, org, id, data).await
}

/// One INSERT of `$contacts` into `$table` (emails and phone numbers have the same columns),
/// none when there are no contacts.
macro_rules! insert_contact_rows {
    ($table:ident, $txn:expr, $org:expr, $id:expr, $contacts:expr) => {
        if !$contacts.is_empty() {
            $table::Entity::insert_many($contacts.iter().enumerate().map(|(i, c)| {
                $table::ActiveModel {
                    org_id: Set($org.0),
                    user_id: Set($id),
                    position: Set(i as i32),
                    value: Set(c.value.clone()),
                    value_lower: Set(c.value.to_lowercase()),
                    value_type: Set(c.value_type.clone()),
                    is_primary: Set(c.primary),
                    display: Set(c.display.clone()),
                }
            }))
            .exec_without_returning($txn)
            .await?;
        }
    };
}

/// Stores the emails and phone numbers of a user that has none yet (a new one): no statement
/// when there are none.
pub(super) async fn insert_contacts(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: Uuid,
    data: &UserData,
) -> CoreResult<()> {
    insert_contact_rows!(user_email, txn, org, id, data.emails);
    insert_contact_rows!(user_phone, txn, org, id, data.phone_numbers);
    Ok(())
}

/// The error for a write a unique index refused.
pub(super) fn map_unique(err: DbErr) -> CoreError {
    crate::store::unique_violation(err, "identity_user", user_name_taken)
}

pub(super) fn user_name_taken() -> CoreError {
    CoreError::AlreadyExists {
        reason: ErrorReason::UserNameTaken,
        message: "user name is already taken in the organization".into(),
    }
}

/// A platform-managed user to adopt: the one with the user name, else one with any of the emails.
pub(super) async fn find_adoptable(
    txn: &DatabaseTransaction,
    org: OrgId,
    data: &UserData,
) -> CoreResult<Option<Uuid>> {
    let emails: Vec<String> = data.emails.iter().map(|e| e.value.to_lowercase()).collect();
    platform_member(txn, org, Some(&data.user_name), &emails).await
}

/// The platform member a new SCIM user is linked to: one whose user name or email is an
/// address of the new user in a verified domain (`domain::verified_domains`). Nothing when the
/// user has no such address, so an address elsewhere never links.
pub(super) async fn find_linkable(
    write: &WriteTxn<'_>,
    data: &UserData,
) -> CoreResult<Option<Uuid>> {
    let addresses = std::iter::once(data.user_name.as_str())
        .chain(data.emails.iter().map(|email| email.value.as_str()));
    let linkable = crate::domain::verified_domains::linkable(addresses, write.verified_domains);
    if linkable.is_empty() {
        return Ok(None);
    }
    let user_name = linkable
        .iter()
        .find(|address| address.eq_ignore_ascii_case(&data.user_name));
    platform_member(
        write.txn,
        write.org,
        user_name.map(String::as_str),
        &linkable,
    )
    .await
}

/// A platform-managed user of `org` named `user_name`, else one with any of `emails`
/// (lowercase); the lowest id when several match.
async fn platform_member(
    txn: &DatabaseTransaction,
    org: OrgId,
    user_name: Option<&str>,
    emails: &[String],
) -> CoreResult<Option<Uuid>> {
    let platform = ManagedBy::Platform as i16;
    if let Some(user_name) = user_name {
        let by_name = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::OrgId.eq(org.0))
            .filter(user::Column::UserNameLower.eq(user_name.to_lowercase()))
            .filter(user::Column::ManagedBy.eq(platform))
            .into_tuple::<Uuid>()
            .by_key(txn)
            .await?;
        if by_name.is_some() {
            return Ok(by_name);
        }
    }
    if emails.is_empty() {
        return Ok(None);
    }
    let by_email = user_email::Entity::find()
        .select_only()
        .column(user_email::Column::UserId)
        .filter(user_email::Column::OrgId.eq(org.0))
        .filter(user_email::Column::ValueLower.is_in(emails.iter().cloned()))
        .filter(
            user_email::Column::UserId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(user::Column::OrgId.eq(org.0))
                    .and_where(user::Column::ManagedBy.eq(platform))
                    .to_owned(),
            ),
        )
        .order_by_asc(user_email::Column::UserId)
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    Ok(by_email)
}

// ---------------------------------------------------------------------------------------------
// writes

/// Creates a user, or adopts an existing platform-managed one: when `adopt_existing` is set, or
/// for a SCIM user with an address in a verified domain that a platform member has. Returns the
/// user and whether it was adopted.
pub async fn create_user(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    mut data: UserData,
    password: PasswordChange,
    adopt_existing: bool,
) -> CoreResult<(User, bool)> {
    if data.managed_by == ManagedBy::Unspecified {
        data.managed_by = ManagedBy::Platform;
    }
    ensure_valid(&data)?;
    org_writes::write(db, context, move |write| {
        Box::pin(async move { create_in(write, data, password, adopt_existing).await })
    })
    .await
}

pub(super) async fn create_in(
    write: &WriteTxn<'_>,
    mut data: UserData,
    password: PasswordChange,
    adopt_existing: bool,
) -> CoreResult<(User, bool)> {
    let (txn, org) = (write.txn, write.org);
    let now = crate::time::now_micros();

    // an explicit adoption (platform callers), or a SCIM user linked by a verified address
    let existing = if adopt_existing {
        find_adoptable(txn, org, &data).await?
    } else if data.managed_by == ManagedBy::Scim && !write.verified_domains.is_empty() {
        find_linkable(write, &data).await?
    } else {
        None
    };
    if let Some(existing) = existing {
        data.managed_by = ManagedBy::Scim;
        let existing = UserId(existing);
        let was_active = user::Entity::find_by_id(existing.0)
            .select_only()
            .column(user::Column::Active)
            .into_tuple::<bool>()
            .by_key(txn)
            .await?
            .ok_or_else(|| CoreError::user_not_found(existing))?;
        let user = write_update(
            write, existing, was_active, None, None, &data, &password, now,
        )
        .await?;
        add_to_default_role(write, &user).await?;
        return Ok((user, true));
    }

    let id = UserId::generate();
    let mut row = active_model(id.0, org, &data, now)?;
    row.version = Set(1);
    row.created_at = Set(now);
    row.password_hash = Set(match &password {
        PasswordChange::SetHash(hash) => Some(hash.clone()),
        PasswordChange::Keep | PasswordChange::Clear => None,
    });
    user::Entity::insert(row)
        .exec_without_returning(txn)
        .await
        .map_err(map_unique)?;
    insert_contacts(txn, org, id.0, &data).await?;
    changes::append_change(
        write,
        NewChange {
            resource_type: ResourceType::User,
            resource_id: id.0,
            kind: ChangeKind::Created,
            resource_version: 1,
            member_user_ids: &[],
        },
    )
    .await?;
    // what the INSERT above stored, without reading it back
    let user = User {
        id,
        org,
        has_password: matches!(password, PasswordChange::SetHash(_)),
        version: 1,
        created_at: now,
        updated_at: now,
        data,
        roles: None,
    };
    add_to_default_role(write, &user).await?;
    Ok((user, false))
}

/// A SCIM-managed user joins the organization's default role (`default_role`, read when the
/// transaction began), if one is set.
pub(super) async fn add_to_default_role(write: &WriteTxn<'_>, user: &User) -> CoreResult<()> {
    if user.data.managed_by != ManagedBy::Scim {
        return Ok(());
    }
    if let Some(role_id) = write.default_role {
        roles::add_member_in_txn(write, role_id, user.id.0).await?;
    }
    Ok(())
}

/// Refuses a SCIM write that moves the user's account email out of the organization's verified
/// domains (`domain::verified_domains::check_account_email_change`); reads the stored account
/// email unless the caller already read the user.
async fn check_account_email(
    write: &WriteTxn<'_>,
    id: UserId,
    current: Option<&User>,
    data: &UserData,
) -> CoreResult<()> {
    use crate::domain::verified_domains::{account_email, check_account_email_change};
    let new = account_email(data.emails.iter().map(|e| (e.value.as_str(), e.primary)));
    if new.is_none() {
        return Ok(());
    }
    let stored = match current {
        Some(current) => account_email(
            current
                .data
                .emails
                .iter()
                .map(|e| (e.value.as_str(), e.primary)),
        )
        .map(str::to_owned),
        None => {
            let emails: Vec<(String, bool)> = user_email::Entity::find()
                .select_only()
                .column(user_email::Column::Value)
                .column(user_email::Column::IsPrimary)
                .filter(user_email::Column::OrgId.eq(write.org.0))
                .filter(user_email::Column::UserId.eq(id.0))
                .order_by_asc(user_email::Column::Position)
                .into_tuple()
                .all(write.txn)
                .await?;
            account_email(
                emails
                    .iter()
                    .map(|(value, primary)| (value.as_str(), *primary)),
            )
            .map(str::to_owned)
        }
    };
    check_account_email_change(stored.as_deref(), new, write.verified_domains)
        .map_err(|message| CoreError::invalid("emails", message))
}

/// Writes `data` over user `id` (which must exist in `org`), bumping its version; the version
/// check is part of the UPDATE so it holds even without the organization lock. `was_active` is
/// the stored `active` the caller read in this transaction: it decides the change's kind and
/// whether the user's access tokens are revoked. `current`, when the caller read the whole
/// user in this transaction, spares the statements whose outcome it already decides: the
/// rewriting unchanged contacts, reading the user back.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_update(
    write: &WriteTxn<'_>,
    id: UserId,
    was_active: bool,
    current: Option<&User>,
    expected_version: Option<i64>,
    data: &UserData,
    password: &PasswordChange,
    now: i64,
) -> CoreResult<User> {
    let (txn, org) = (write.txn, write.org);
    ensure_valid(data)?;
    if data.managed_by == ManagedBy::Scim && !write.verified_domains.is_empty() {
        check_account_email(write, id, current, data).await?;
    }
    let mut row = active_model(id.0, org, data, now)?;
    // identity columns are never rewritten
    row.id = sea_orm::ActiveValue::NotSet;
    row.org_id = sea_orm::ActiveValue::NotSet;
    match password {
        PasswordChange::Keep => {}
        PasswordChange::Clear => row.password_hash = Set(None),
        PasswordChange::SetHash(hash) => row.password_hash = Set(Some(hash.clone())),
    }
    let mut update = user::Entity::update_many()
        .set(row)
        .col_expr(
            user::Column::Version,
            Expr::col(user::Column::Version).add(1),
        )
        .filter(user::Column::Id.eq(id.0))
        .filter(user::Column::OrgId.eq(org.0));
    if let Some(expected) = expected_version {
        update = update.filter(user::Column::Version.eq(expected));
    }
    let result = update.exec(txn).await.map_err(map_unique)?;
    if result.rows_affected == 0 {
        return Err(version_or_missing(txn, org, id, expected_version).await);
    }
    let contacts_changed = current.is_none_or(|current| {
        current.data.emails != data.emails || current.data.phone_numbers != data.phone_numbers
    });
    if contacts_changed {
        write_contacts(txn, org, id.0, data).await?;
    }
    let user = match current {
        // what the UPDATE above stored, without reading it back
        Some(current) => User {
            id,
            org,
            data: data.clone(),
            has_password: match password {
                PasswordChange::Keep => current.has_password,
                PasswordChange::Clear => false,
                PasswordChange::SetHash(_) => true,
            },
            version: current.version + 1,
            created_at: current.created_at,
            updated_at: now,
            roles: None,
        },
        None => load_one(txn, org, id, Detail::Basic)
            .await?
            .ok_or_else(|| CoreError::user_not_found(id))?,
    };
    let kind = match (was_active, data.active) {
        (true, false) => {
            // in this transaction, so no introspection after the commit sees the tokens active
            access_tokens::revoke_user_tokens(txn, org, id, now).await?;
            ChangeKind::Deactivated
        }
        (false, true) => ChangeKind::Reactivated,
        _ => ChangeKind::Updated,
    };
    changes::append_change(
        write,
        NewChange {
            resource_type: ResourceType::User,
            resource_id: id.0,
            kind,
            resource_version: user.version,
            member_user_ids: &[],
        },
    )
    .await?;
    Ok(user)
}

/// Why a guarded write touched no row: the user is gone, or its version moved.
pub(super) async fn version_or_missing(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: UserId,
    expected: Option<i64>,
) -> CoreError {
    let stored = user::Entity::find_by_id(id.0)
        .filter(user::Column::OrgId.eq(org.0))
        .select_only()
        .column(user::Column::Version)
        .into_tuple::<i64>()
        .by_key(txn)
        .await;
    match (stored, expected) {
        (Ok(Some(actual)), Some(expected)) => CoreError::VersionMismatch { expected, actual },
        (Ok(_), _) => CoreError::user_not_found(id),
        (Err(e), _) => e.into(),
    }
}

/// Reads user `id` inside one write transaction, lets `change` edit its data, validates and
/// stores the result (Update with a field mask, Replace and SetActive all go through here).
pub async fn modify_user<F>(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()> + Send + 'static,
{
    modify(db, context, id, expected_version, password, change, false).await
}

/// As [`modify_user`], but a change that leaves the user as it is writes nothing: no new
/// version, no change in the feed (an update applied twice is answered alike).
pub async fn modify_user_if_changed<F>(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()> + Send + 'static,
{
    modify(db, context, id, expected_version, password, change, true).await
}

pub(super) async fn modify<F>(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
    unchanged_is_noop: bool,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()> + Send + 'static,
{
    org_writes::write(db, context, move |write| {
        Box::pin(async move {
            modify_in(
                write,
                id,
                expected_version,
                password,
                change,
                unchanged_is_noop,
            )
            .await
        })
    })
    .await
}

pub(super) async fn modify_in<F>(
    write: &WriteTxn<'_>,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
    unchanged_is_noop: bool,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()>,
{
    let (txn, org) = (write.txn, write.org);
    let current = load_one(txn, org, id, Detail::Basic)
        .await?
        .ok_or_else(|| CoreError::user_not_found(id))?;
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(CoreError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    let mut data = current.data.clone();
    change(&mut data)?;
    if data.managed_by == ManagedBy::Unspecified {
        data.managed_by = current.data.managed_by;
    }
    if unchanged_is_noop && data == current.data && matches!(password, PasswordChange::Keep) {
        // nothing to write: the mutation leaves no trace in the batch
        return Ok(current);
    }
    let now = crate::time::now_micros();
    let was_active = current.data.active;
    write_update(
        write,
        id,
        was_active,
        Some(&current),
        expected_version,
        &data,
        &password,
        now,
    )
    .await
}

/// Deletes a user, its emails, phone numbers and memberships (each role's count and version
/// follow, with a change per role). `allowed` sees who manages the user and may refuse.
pub async fn delete_user(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    id: UserId,
    expected_version: Option<i64>,
    allowed: impl FnOnce(ManagedBy) -> CoreResult<()> + Send + 'static,
) -> CoreResult<()> {
    org_writes::write(db, context, move |write| {
        Box::pin(async move { delete_in(write, id, expected_version, allowed).await })
    })
    .await
}

pub(super) async fn delete_in(
    write: &WriteTxn<'_>,
    id: UserId,
    expected_version: Option<i64>,
    allowed: impl FnOnce(ManagedBy) -> CoreResult<()>,
) -> CoreResult<()> {
    let (txn, org) = (write.txn, write.org);
    let (version, managed_by) = user::Entity::find_by_id(id.0)
        .filter(user::Column::OrgId.eq(org.0))
        .select_only()
        .column(user::Column::Version)
        .column(user::Column::ManagedBy)
        .into_tuple::<(i64, i16)>()
        .by_key(txn)
        .await?
        .ok_or_else(|| CoreError::user_not_found(id))?;
    allowed(managed_by_from_db(managed_by))?;
    if let Some(expected) = expected_version
        && expected != version
    {
        return Err(CoreError::VersionMismatch {
            expected,
            actual: version,
        });
    }
    roles::remove_user_everywhere(write, id.0).await?;
    let mut delete = user::Entity::delete_many()
        .filter(user::Column::Id.eq(id.0))
        .filter(user::Column::OrgId.eq(org.0));
    if let Some(expected) = expected_version {
        delete = delete.filter(user::Column::Version.eq(expected));
    }
    if delete.exec(txn).await?.rows_affected == 0 {
        return Err(version_or_missing(txn, org, id, expected_version).await);
    }
    access_tokens::revoke_user_tokens(txn, org, id, crate::time::now_micros()).await?;
    changes::append_change(
        write,
        NewChange {
            resource_type: ResourceType::User,
            resource_id: id.0,
            kind: ChangeKind::Deleted,
            resource_version: 0,
            member_user_ids: &[],
        },
    )
    .await?;
    Ok(())
}
